"""``python -m gitopsd`` runs the command line."""

from gitopsd import cli

raise SystemExit(cli.main())
