"""The exception tree of gitopsd.

    GitopsdError
    ├── ConfigError          bad settings or credentials; ``gitopsd run`` exits 78
    └── ManifestPathError    a manifest path given on the command line does not exist (exit 2)

Problems *inside* manifests are not exceptions: they are ``core.problems.Problem`` values,
collected all at once, because one bad file must never stop the others from being read.
"""


class GitopsdError(Exception):
    """Base of every error gitopsd raises on purpose."""


class ConfigError(GitopsdError):
    """The configuration or the credentials are unusable."""


class ManifestPathError(GitopsdError):
    """A path named on the command line is neither a file nor a directory."""
