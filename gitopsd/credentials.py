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


def shown_path(path: str) -> str:
    """``path`` as a message may show it, in case it is a secret pasted where a path belongs.

    A path that names something is shown whole. Otherwise only its longest leading part that
    is an existing directory is shown, then ``…`` and how many characters are left out: a
    value that names nothing may be the secret itself.
    """
    if os.path.lexists(path):
        return path
    shown = next((str(p) for p in Path(path).parents if str(p) != "." and _is_dir(p)), "")
    prefix = shown.rstrip("/") + "/" if shown else ""
    hidden = len(path) - len(prefix)
    return f"{prefix}… ({hidden} characters not shown: this names no file, and may be a secret)"


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a name too long, say
        return False


def _read(path: Path, what: str, key: str) -> str:
    """The stripped text of ``path``, the file ``key`` names; ConfigError without its value."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = getattr(exc, "strerror", None) or "not a usable path"
        raise ConfigError(
            f"{key}: cannot read {shown_path(str(path))}: {reason}; set it to the path of a"
            f" file that holds the {what}"
        ) from None
    if not text:
        raise ConfigError(f"{key}: the file {path} is empty; write the {what} in it")
    return text


def readable(path: str, *, what: str, key: str) -> str:
    """``path`` when it is a file this process can read; else ConfigError without its value."""
    try:
        with Path(path).open("rb"):
            pass
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or "not a usable path"
        raise ConfigError(
            f"{key}: cannot read {shown_path(path)}: {reason}; set it to the path of a file"
            f" that holds the {what}"
        ) from None
    return path


def read_value(
    key: str, *, file: str = "", environ: Mapping[str, str], table: str = "atlas"
) -> str | None:
    """One credential (``client_id``, ``private_key``, ...) from its file, directory or env.

    ``table`` is where its ``*_file`` key is written (``atlas.profiles.NAME`` for a profile),
    for messages.
    """
    value = _find_value(key, file=file, environ=environ, table=table)
    if value and key in _SECRET_KEYS:
        register(value)
    return value


def _find_value(key: str, *, file: str, environ: Mapping[str, str], table: str) -> str | None:
    what = "Atlas " + key.replace("_", " ")
    if file:
        return _read(Path(file), what, f"[{table}] {key}_file")
    directory = environ.get(CREDENTIALS_DIRECTORY)
    if directory:
        candidate = Path(directory) / CREDENTIAL_NAMES[key]
        if candidate.is_file():
            return _read(candidate, what, f"${CREDENTIALS_DIRECTORY}/{CREDENTIAL_NAMES[key]}")
    return environ.get(ENV[key]) or None


SECRETS = {
    "git_token": "GITOPSD_GIT_TOKEN",
    "forge_token": "GITOPSD_FORGE_TOKEN",
    "webhook_secret": "GITOPSD_WEBHOOK_SECRET",
}
"""Other secrets: name under ``$CREDENTIALS_DIRECTORY`` → environment variable."""
FILE_KEYS = {
    "git_token": "[git] token_file",
    "git_ssh_key": "[git] ssh_key_file",
    "forge_token": "[forge] token_file",
    "webhook_secret": "[server] webhook_secret_file",
}
"""The configuration key that names each secret's file, for messages."""


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
        return _read(Path(file), what, FILE_KEYS[name])
    directory = environ.get(CREDENTIALS_DIRECTORY)
    if directory and (Path(directory) / name).is_file():
        return _read(Path(directory) / name, what, f"${CREDENTIALS_DIRECTORY}/{name}")
    return environ.get(SECRETS[name], "").strip()


def secret_path(name: str, *, file: str = "", environ: Mapping[str, str] | None = None) -> str:
    """The file holding a secret that must stay a file (an SSH key): ``file`` or the directory's.

    ConfigError when ``file`` is named but cannot be read (its value is not shown).
    """
    env = os.environ if environ is None else environ
    if file:
        return readable(file, what=name.replace("_", " "), key=FILE_KEYS[name])
    directory = env.get(CREDENTIALS_DIRECTORY)
    if directory and (Path(directory) / name).is_file():
        return str(Path(directory) / name)
    return ""


CHILD_WITHHELD_PREFIX = "GITOPSD_"


def for_children(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` as a child process (git, ssh, gpg, a remote's hooks) may inherit it.

    Every ``GITOPSD_*`` variable (credential values among them) and ``$CREDENTIALS_DIRECTORY``
    are left out: a child needs none of them, and a ``file://`` remote's own hooks run with
    what git passes on.
    """
    return {
        name: value
        for name, value in environ.items()
        if not name.startswith(CHILD_WITHHELD_PREFIX) and name != CREDENTIALS_DIRECTORY
    }


def load(
    *,
    client_id_file: str = "",
    client_secret_file: str = "",
    public_key_file: str = "",
    private_key_file: str = "",
    environ: Mapping[str, str] | None = None,
    table: str = "atlas",
) -> AtlasCredentials:
    """The configured credentials; a service account wins when both kinds are complete.

    Raises ConfigError when neither kind is complete, naming what is missing (never a value).
    ``table`` is where the ``*_file`` keys are written, for messages.
    """
    env = os.environ if environ is None else environ
    client_id = read_value("client_id", file=client_id_file, environ=env, table=table)
    client_secret = read_value("client_secret", file=client_secret_file, environ=env, table=table)
    if client_id and client_secret:
        return ServiceAccount(client_id=client_id, client_secret=Secret(client_secret))
    public_key = read_value("public_key", file=public_key_file, environ=env, table=table)
    private_key = read_value("private_key", file=private_key_file, environ=env, table=table)
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
