"""gitopsd: keep MongoDB Atlas cloud backups exactly as the manifests in Git say."""

__version__ = "0.1.0"
