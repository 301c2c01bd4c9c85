"""The exception tree of gitopsd.

    GitopsdError
    ├── ConfigError                  bad settings or credentials; ``gitopsd run`` exits 78
    ├── ManifestPathError            a manifest path on the command line does not exist (exit 2)
    ├── StateLockedError             another gitopsd holds the state directory
    ├── NoDeploymentsError           the manifests hold no AtlasDeployment: a wrong url or path?
    ├── ListenError                  an address to listen on cannot be bound (in use, refused)
    ├── StateError                   the state database cannot be used (a full disk, I/O errors)
    ├── AtlasError                   .status, .error_code, .detail, .reason from Atlas's ApiError
    │   ├── AtlasTransientError      429, 5xx, timeouts, dropped connections: retried
    │   ├── AtlasPermanentError      other 4xx: that cluster fails, the cycle goes on
    │   │   └── AtlasConfigError     401, 403, 410 VERSION_GONE: fix the setup (also a ConfigError)
    │   └── AtlasUnknownOutcomeError a write Atlas may or may not have applied: read it back
    └── GitError                     git could not fetch, verify or publish; the message is scrubbed
        ├── GitConflictError         the report branch kept moving under the push: next cycle
        └── GitDiskFullError         the state directory's file system is full: retried later

Problems *inside* manifests are not exceptions: they are ``core.problems.Problem`` values,
collected all at once, because one bad file must never stop the others from being read.
Retry or give up is decided by type, never by message text.
"""

from __future__ import annotations


class GitopsdError(Exception):
    """Base of every error gitopsd raises on purpose."""


class ConfigError(GitopsdError):
    """The configuration or the credentials are unusable."""


class ManifestPathError(GitopsdError):
    """A path named on the command line is neither a file nor a directory."""


class StateLockedError(GitopsdError):
    """Another gitopsd process holds the state directory's lock."""


class NoDeploymentsError(GitopsdError):
    """The source holds no AtlasDeployment, and ``[manifests] allow_empty`` does not expect that."""


class ListenError(GitopsdError):
    """An address to listen on cannot be bound: in use, not an address of this host, refused."""


class StateError(GitopsdError):
    """The state database cannot be used now.

    Its disk is full, it cannot be written, or it was found corrupt in the middle of a call
    (it is then moved aside and made afresh at its next use).
    """


class AtlasError(GitopsdError):
    """Atlas answered with an error, or could not be reached.

    ``status`` is the HTTP status (0 when no response arrived); ``error_code``, ``detail`` and
    ``reason`` are Atlas's ApiError fields, verbatim, for reports.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        error_code: str = "",
        detail: str = "",
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.detail = detail
        self.reason = reason


class AtlasTransientError(AtlasError):
    """Worth retrying: rate limited, a server error, a timeout or a dropped connection."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        may_have_acted: bool = True,
        **kw: str | int,
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s
        # False when Atlas cannot have acted on the request: it was never sent whole (no
        # connection, the send failed, no token to send it with) or Atlas answered 429.
        self.may_have_acted = may_have_acted


class AtlasPermanentError(AtlasError):
    """Atlas refused the request as it stands; retrying the same request cannot help."""


class AtlasConfigError(AtlasPermanentError, ConfigError):
    """The credentials, the access list or the API version need fixing by an operator."""


class AtlasUnknownOutcomeError(AtlasError):
    """A write Atlas may or may not have applied.

    An attempt reached Atlas and no clear answer came back (a timeout or a dropped connection
    after the request was sent, a 5xx, an answer cut off or unreadable), and no later attempt
    settled it.

    Retrying is safe (a PATCH sets values), but only reading Atlas back tells what happened.
    The status, code and detail are the last attempt's.
    """


class GitError(GitopsdError):
    """Git could not fetch, verify or publish. The message is safe to show: no credentials.

    ``hint`` says what to check, for a person at a terminal ("" when nothing specific helps).
    """

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class GitConflictError(GitError):
    """The report branch moved under every push attempt; the next cycle tries again."""


class GitDiskFullError(GitError):
    """The file system of the state directory is full: the clone cannot be fetched into.

    ``deferred`` is True when no attempt was made this time, because the source waits before
    it tries again (``retry_in_s``).
    """

    def __init__(
        self, message: str, *, hint: str = "", deferred: bool = False, retry_in_s: float = 0.0
    ) -> None:
        super().__init__(message, hint=hint)
        self.deferred = deferred
        self.retry_in_s = retry_in_s
