"""gitopsd's memory between cycles: a SQLite database in the state directory.

Owns ``<state dir>/state.sqlite3`` and its schema (versioned with ``PRAGMA user_version``).
Today it remembers the clusters whose backup gitopsd turned on, so that the default schedule
Atlas created then can be replaced on a later cycle without the destructive-change guard
mistaking it for protection someone asked for. Every write is its own transaction, so a crash
never leaves half a record. It must not hold a connection between calls: each call opens,
works and closes, which keeps a long-running daemon free of leaked handles.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from gitopsd.errors import ConfigError

FILE_NAME = "state.sqlite3"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS fresh_default_schedule (
    cluster TEXT PRIMARY KEY,
    revision TEXT NOT NULL
);
"""


class StateDB:
    """The state database under one directory; created on first write."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME

    def __repr__(self) -> str:
        return f"StateDB({str(self.directory)!r})"

    @contextlib.contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection | None]:
        if not create and not self.path.exists():
            yield None
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=10)
        except (OSError, sqlite3.Error) as exc:
            message = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(
                f"[state] dir: cannot use the state directory {self.directory}: {message};"
                " point [state] dir at a directory gitopsd may write"
            ) from None
        try:
            with connection:
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                if version < SCHEMA_VERSION:
                    connection.executescript(_SCHEMA)
                    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                yield connection
        finally:
            connection.close()

    def fresh_defaults(self) -> frozenset[str]:
        """Clusters (``ClusterKey`` text) whose schedule is still the default Atlas created."""
        with self._connect(create=False) as db:
            if db is None:
                return frozenset()
            rows = db.execute("SELECT cluster FROM fresh_default_schedule").fetchall()
        return frozenset(str(row[0]) for row in rows)

    def remember_fresh_default(self, cluster: str, revision: str) -> None:
        """Record that gitopsd turned backup on for ``cluster``, so Atlas gave it a default."""
        with self._connect(create=True) as db:
            assert db is not None
            db.execute(
                "INSERT OR REPLACE INTO fresh_default_schedule (cluster, revision) VALUES (?, ?)",
                (cluster, revision),
            )

    def forget_fresh_default(self, cluster: str) -> None:
        """The schedule of ``cluster`` was written (or backup went off): no default any more."""
        with self._connect(create=False) as db:
            if db is not None:
                db.execute("DELETE FROM fresh_default_schedule WHERE cluster = ?", (cluster,))
