"""Atlas credentials: where secrets come from, and a wrapper that never prints them.

Owns reading the service account (client id + secret) or API key (public + private key) from,
in order, an explicit ``*_file`` path, ``$CREDENTIALS_DIRECTORY/<name>`` (systemd
``LoadCredential=``) or the environment (``GITOPSD_ATLAS_CLIENT_ID`` ...). Secrets are never
inline in the config. It must not log, and no repr or message may show a secret's value.

It also keeps the process-wide registry of secret values that logs redact (``register``,
``known``): every ``Secret`` registers itself, and the secrets loaded here (client secret,
private key, ``read_secret``) stay registered for the life of the process. Values shorter
than ``MIN_REDACTED_LEN`` are not registered: replacing every occurrence of a short string
would mangle log lines, and a secret that short is weak anyway. Client ids and public keys are
identifiers (Atlas shows them; ``repr`` of the auth shows the client id), not secrets.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitopsd.errors import ConfigError

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"
ENV = {
    "client_id": "GITOPSD_ATLAS_CLIENT_ID",
    "client_secret": "GITOPSD_ATLAS_CLIENT_SECRET",
    "public_key": "GITOPSD_ATLAS_PUBLIC_KEY",
    "private_key": "GITOPSD_ATLAS_PRIVATE_KEY",
}
"""The environment variable of each credential."""
CREDENTIAL_NAMES = {key: f"atlas_{key}" for key in ENV}
"""The file name of each credential under ``$CREDENTIALS_DIRECTORY``."""
_SECRET_KEYS = frozenset({"client_secret", "private_key"})
"""The credentials of ``ENV`` that are secrets; the other two are identifiers."""

MIN_REDACTED_LEN = 8
"""Shorter values are not registered for redaction (NIST's minimum for a memorized secret)."""
RECENT_MAX = 32
"""How many short-lived secrets (access tokens, one an hour) stay registered, newest kept."""


class _Registry:
    """Secret values to redact: loaded ones kept for good, short-lived ones in a bounded window.

    Writers take the lock; readers get an immutable tuple that is replaced, never mutated.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, None] = {}
        self._recent: dict[str, None] = {}
        self._known: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"<credentials registry of {len(self._known)} values>"

    def add(self, value: str, *, keep: bool) -> None:
        if len(value) < MIN_REDACTED_LEN:
            return
        with self._lock:
            if value in self._kept or (not keep and value in self._recent):
                return
            if keep:
                self._recent.pop(value, None)
                self._kept[value] = None
            else:
                self._recent[value] = None
                while len(self._recent) > RECENT_MAX:
                    del self._recent[next(iter(self._recent))]
            self._known = (*self._kept, *self._recent)

    def known(self) -> tuple[str, ...]:
        return self._known


_REGISTRY = _Registry()


def register(value: str, *, keep: bool = True) -> None:
    """Have logs redact ``value`` from now on (a no-op under ``MIN_REDACTED_LEN`` characters).

    ``keep=False`` is for short-lived secrets (access tokens): only the ``RECENT_MAX`` newest
    of those stay registered, so a daemon refreshing a token every hour does not grow without
    bound. Thread-safe.
    """
    _REGISTRY.add(value, keep=keep)


def known() -> tuple[str, ...]:
    """Every registered value, for the log redactor only; the same object until one is added."""
    return _REGISTRY.known()


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret string: ``str()`` and ``repr()`` show ``***``; ``reveal()`` gives the value.

    Creating one registers its value for log redaction as short-lived (see ``register``); the
    secrets this module loads are registered to be kept.
    """

    _value: str = field(repr=False)

    def __post_init__(self) -> None:
        register(self._value, keep=False)

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceAccount:
    """OAuth2 client credentials of an Atlas service account."""

    client_id: str
    client_secret: Secret


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """A programmatic API key, used with HTTP digest auth."""

    public_key: str
    private_key: Secret


AtlasCredentials = ServiceAccount | ApiKey


def _read(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if not text:
        raise ConfigError(f"the {what} file {path} is empty")
    return text


def read_value(key: str, *, file: str = "", environ: Mapping[str, str]) -> str | None:
    """One credential (``client_id``, ``private_key``, ...) from its file, directory or env."""
    value = _find_value(key, file=file, environ=environ)
    if value and key in _SECRET_KEYS:
        register(value)
    return value


def _find_value(key: str, *, file: str, environ: Mapping[str, str]) -> str | None:
    what = key.replace("_", " ")
    if file:
        return _read(Path(file), what)
    directory = environ.get(CREDENTIALS_DIRECTORY)
    if directory:
        candidate = Path(directory) / CREDENTIAL_NAMES[key]
        if candidate.is_file():
            return _read(candidate, what)
    return environ.get(ENV[key]) or None


SECRETS = {
    "git_token": "GITOPSD_GIT_TOKEN",
    "forge_token": "GITOPSD_FORGE_TOKEN",
    "webhook_secret": "GITOPSD_WEBHOOK_SECRET",
}
"""Other secrets: name under ``$CREDENTIALS_DIRECTORY`` → environment variable."""


def read_secret(
    name: str, *, file: str = "", environ: Mapping[str, str] | None = None
) -> Secret | None:
    """A secret of ``SECRETS`` from its file, ``$CREDENTIALS_DIRECTORY/<name>`` or the env.

    None when it is set nowhere; ConfigError when a named file cannot be read or is empty.
    The value is registered for log redaction for the life of the process.
    """
    env = os.environ if environ is None else environ
    value = _find_secret(name, file=file, environ=env)
    if not value:
        return None
    register(value)
    return Secret(value)


def _find_secret(name: str, *, file: str, environ: Mapping[str, str]) -> str:
    what = name.replace("_", " ")
    if file:
        return _read(Path(file), what)
    directory = environ.get(CREDENTIALS_DIRECTORY)
    if directory and (Path(directory) / name).is_file():
        return _read(Path(directory) / name, what)
    return environ.get(SECRETS[name], "").strip()


def secret_path(name: str, *, file: str = "", environ: Mapping[str, str] | None = None) -> str:
    """The file holding a secret that must stay a file (an SSH key): ``file`` or the directory's."""
    env = os.environ if environ is None else environ
    if file:
        return file
    directory = env.get(CREDENTIALS_DIRECTORY)
    if directory and (Path(directory) / name).is_file():
        return str(Path(directory) / name)
    return ""


def load(
    *,
    client_id_file: str = "",
    client_secret_file: str = "",
    public_key_file: str = "",
    private_key_file: str = "",
    environ: Mapping[str, str] | None = None,
) -> AtlasCredentials:
    """The configured credentials; a service account wins when both kinds are complete.

    Raises ConfigError when neither kind is complete, naming what is missing (never a value).
    """
    env = os.environ if environ is None else environ
    client_id = read_value("client_id", file=client_id_file, environ=env)
    client_secret = read_value("client_secret", file=client_secret_file, environ=env)
    if client_id and client_secret:
        return ServiceAccount(client_id=client_id, client_secret=Secret(client_secret))
    public_key = read_value("public_key", file=public_key_file, environ=env)
    private_key = read_value("private_key", file=private_key_file, environ=env)
    if public_key and private_key:
        return ApiKey(public_key=public_key, private_key=Secret(private_key))
    if client_id or client_secret:
        missing = "client_secret" if client_id else "client_id"
        raise ConfigError(f"the Atlas service account is incomplete: no {missing}")
    if public_key or private_key:
        missing = "private_key" if public_key else "public_key"
        raise ConfigError(f"the Atlas API key is incomplete: no {missing}")
    raise ConfigError(
        "no Atlas credentials: set client_id/client_secret (service account) or"
        " public_key/private_key (API key) through *_file, $CREDENTIALS_DIRECTORY or"
        " GITOPSD_ATLAS_* environment variables"
    )
