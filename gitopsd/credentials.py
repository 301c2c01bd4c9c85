"""Atlas credentials: where secrets come from, and a wrapper that never prints them.

Owns reading the service account (client id + secret) or API key (public + private key) from,
in order, an explicit ``*_file`` path, ``$CREDENTIALS_DIRECTORY/<name>`` (systemd
``LoadCredential=``) or the environment (``GITOPSD_ATLAS_CLIENT_ID`` ...). Secrets are never
inline in the config. It must not log, and no repr or message may show a secret's value.
"""

from __future__ import annotations

import os
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


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret string: ``str()`` and ``repr()`` show ``***``; ``reveal()`` gives the value."""

    _value: str = field(repr=False)

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
    """
    env = os.environ if environ is None else environ
    what = name.replace("_", " ")
    if file:
        return Secret(_read(Path(file), what))
    directory = env.get(CREDENTIALS_DIRECTORY)
    if directory and (Path(directory) / name).is_file():
        return Secret(_read(Path(directory) / name, what))
    value = env.get(SECRETS[name], "").strip()
    return Secret(value) if value else None


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
