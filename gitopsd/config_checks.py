"""Rules for single configuration values: numbers, paths, URLs, branch names, addresses, secrets.

A check takes a value already of its key's type and returns None when it is fine, "" for the
generic "expected …, got …" message, or the problem in words. Checks read no files and never
put a secret in a message: a URL that carries a password is refused without being shown.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import math
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gitopsd import credentials
from gitopsd.core import schema

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_HOSTNAME = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_GIT_SCHEMES = ("https", "ssh", "file")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_BRANCH_CHARACTERS = frozenset(" ~^:?*[\\")
_SECRET_WORDS = ("secret", "token", "password", "passphrase", "private_key", "api_key")
_INLINE_CREDENTIALS = frozenset({"client_id", "public_key", "ssh_key"})
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
_PAIRS = (
    ("client_id_file", "client_secret_file"),
    ("public_key_file", "private_key_file"),
)


Check = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class Key:
    """What one key takes: a type, the words for it, a check, and whether it is a path.

    ``hidden``: its problems never show the value (a ``*_file`` key may hold a secret pasted
    where its path belongs); they say what kind of value it is instead.
    """

    kind: type
    expected: str
    check: Check
    path: bool = False
    hidden: bool = False

    def read(self, value: object, *, from_env: bool) -> tuple[object, str]:
        """``value`` as ``kind`` and "", or None and the problem; env strings are converted."""
        if from_env and isinstance(value, str):
            value = _from_env(self.kind, value)
        typed = _typed(self.kind, value)
        if typed is None:
            hint = ""
            near = None
            if issubclass(self.kind, enum.StrEnum) and isinstance(value, str):
                near = schema.closest(value, tuple(str(m) for m in self.kind))
            if near is not None:
                hint = f"; did you mean {near!r}?"
            elif self.kind is str and not isinstance(value, str):
                hint = ' (write it in "quotes")'
            elif isinstance(value, str) and self.kind in (int, float, bool):
                bare = value in ("true", "false") or self.kind is not bool
                unquoted = bare and not isinstance(_from_env(self.kind, value), str)
                hint = " (write it without quotes)" if unquoted else ""
            shown = _kind_of(value) if self.hidden else show(value)
            return None, f"expected {self.expected}, got {shown}{hint}"
        problem = self.check(typed)
        if problem is None:
            return typed, ""
        shown = _kind_of(typed) if self.hidden else show(typed)
        return None, problem or f"expected {self.expected}, got {shown}"


def _kind_of(value: object) -> str:
    """What a value is, in words, without its content."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a value of another type"


def _typed(kind: type, value: object) -> object | None:
    if isinstance(value, bool) and kind is not bool:
        return None
    if kind is float and isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if kind is tuple and isinstance(value, list | tuple):
        return tuple(value) if all(isinstance(item, str) for item in value) else None
    if issubclass(kind, enum.StrEnum):
        return kind(value) if isinstance(value, str) and value in tuple(kind) else None
    return value if isinstance(value, kind) else None


def _from_env(kind: type, text: str) -> object:
    stripped = text.strip()
    if kind is int and re.fullmatch(r"[+-]?[0-9]+", stripped):
        return int(stripped)
    if kind is float and re.fullmatch(
        r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", stripped
    ):
        return float(stripped)
    if kind is bool and stripped.lower() in _TRUE | _FALSE:
        return stripped.lower() in _TRUE
    if kind is tuple:
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def show(value: object) -> str:
    """A value as TOML would write it, shortened; never call it on a secret."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(show(item) for item in value) + "]"
    elif isinstance(value, dict):
        text = "a table"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fine(_value: object) -> str | None:
    """Any value of the right type will do."""
    return None


def positive(value: float) -> str | None:
    """Greater than zero."""
    return None if value > 0 else ""


def between(low: int, high: int | None = None) -> Callable[[int], str | None]:
    """From ``low`` to ``high`` (no upper bound when None), inclusive."""

    def check(value: int) -> str | None:
        return None if low <= value and (high is None or value <= high) else ""

    return check


def not_empty(value: str) -> str | None:
    """Not blank."""
    return None if value.strip() else ""


def file_path(value: str) -> str | None:
    """A path, or "" for none; ``~`` is refused because nothing would expand it."""
    if value.startswith("~"):
        return (
            "starts with '~', which is not expanded; write the full path, or one relative to"
            " the configuration file's directory"
        )
    return None


def directory(value: str) -> str | None:
    """A directory path: not blank, and no ``~`` (nothing would expand it)."""
    if value.startswith("~"):
        return (
            f"{show(value)}: '~' is not expanded; write the full path, or one relative to the"
            " configuration file's directory"
        )
    return not_empty(value)


def inside(within: str) -> Callable[[str], str | None]:
    """A relative path that stays inside ``within`` (no leading '/', no escaping '..')."""

    def check(value: str) -> str | None:
        if not value.strip():
            return ""
        if posixpath.isabs(value):
            return f"{show(value)} is absolute; write it relative to {within}"
        if posixpath.normpath(value).split("/")[0] == "..":
            return f"{show(value)} leaves {within} through '..'; write a path inside it"
        return None

    return check


def all_inside(within: str) -> Callable[[tuple[str, ...]], str | None]:
    """Every item of a list is a relative path inside ``within``."""
    one = inside(within)
    return lambda values: next((p for p in map(one, values) if p is not None), None)


def is_remote(url: str) -> bool:
    """``scheme://...`` or git's scp-like ``[user@]host:path`` (a ':' before any '/')."""
    return bool(_SCHEME.match(url)) or ":" in url.split("/", 1)[0]


def git_url(value: str) -> str | None:
    """A URL git can fetch from and push to, without a password in it."""
    if not value.strip():
        return ""
    if not _SCHEME.match(value):
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return "is not a valid URL (the value is not shown in case it holds a token)"
    if parts.password is not None:
        return "holds a password or token (not shown); remove it and set [git] token_file"
    if parts.scheme not in _GIT_SCHEMES:
        return (
            f"unsupported scheme {parts.scheme}://; use https://, ssh://, file://,"
            " user@host:path or a local directory"
        )
    if parts.scheme != "file" and not host:
        return f"{show(value)} names no host"
    return None


def base_url(value: str) -> str | None:
    """An https:// URL; plain http:// only on loopback, for the emulator."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return "is not a valid URL (the value is not shown in case it holds a secret)"
    if parts.username is not None or parts.password is not None:
        return "holds a user name or password (not shown); use the *_file keys for credentials"
    if parts.scheme not in ("http", "https") or not host:
        return ""
    if parts.query or parts.fragment:
        return f"{show(value)} has a query or fragment; write only scheme, host, port and path"
    if parts.scheme == "http" and host not in _LOOPBACK and not host.startswith("127."):
        return f"{show(value)}: plain http:// is only for loopback (the emulator); use https://"
    return None


def api_url(value: str) -> str | None:
    """An empty string (the service's own API), or a URL as ``base_url`` takes it."""
    return None if value == "" else base_url(value)


def email(value: str) -> str | None:
    """Something an e-mail address can be: one '@', no spaces or angle brackets."""
    if value.count("@") == 1 and not any(c in value for c in " <>\n") and value[0] != "@":
        return None
    return f"{show(value)} is not an e-mail address, e.g. gitopsd@example.com"


def branch(value: str) -> str | None:
    """A name ``git check-ref-format --branch`` accepts."""
    reason = _branch_reason(value)
    return None if reason is None else f"{show(value)} is not a valid branch name: {reason}"


def _branch_reason(value: str) -> str | None:
    bad = next((c for c in value if c in _BRANCH_CHARACTERS or ord(c) < 32 or ord(c) == 127), None)
    reasons = (
        (not value, "it is empty"),
        (bad is not None, f"it contains {bad!r}"),
        (value.startswith("-"), "it starts with '-'"),
        (value.startswith("/") or value.endswith("/"), "it starts or ends with '/'"),
        (".." in value or "//" in value, "it contains '..' or '//'"),
        ("@{" in value or value in ("@", "HEAD"), "git reserves '@', '@{' and 'HEAD'"),
        (value.endswith("."), "it ends with '.'"),
        (any(part.startswith(".") for part in value.split("/")), "a part starts with '.'"),
        (any(part.endswith(".lock") for part in value.split("/")), "a part ends with '.lock'"),
    )
    return next((reason for broken, reason in reasons if broken), None)


def label(value: str) -> str | None:
    """A DNS-1123 label, like a Kubernetes namespace."""
    if len(value) <= 63 and re.fullmatch(schema.DNS1123_LABEL, value):
        return None
    return (
        f"{show(value)} is not a DNS-1123 label: use at most 63 lowercase letters, digits"
        " and '-', starting and ending with a letter or digit"
    )


def listen(value: str) -> str | None:
    """``HOST:PORT``, an IPv6 host in brackets, a port from 0 to 65535."""
    host, colon, port = value.rpartition(":")
    if not colon or not host:
        return ""
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"{show(host)} is not an IPv6 address"
    elif ":" in host or "[" in host:
        return 'write an IPv6 address in brackets, e.g. "[::1]:9187"'
    elif not _HOSTNAME.fullmatch(host) or (re.fullmatch(r"[0-9.]+", host) and not _is_ipv4(host)):
        return f"{show(host)} is not a host name or an IP address"
    if not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
        return f"the port {show(port)} is not a whole number from 0 to 65535"
    return None


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def profile_name(name: str) -> str | None:
    """A DNS-1123 subdomain, as ``spec.connectionSecret.name`` must be."""
    if len(name) <= 253 and re.fullmatch(schema.DNS1123_SUBDOMAIN, name):
        return None
    return (
        f"the profile name {show(name)} is not a DNS-1123 name (it matches"
        " spec.connectionSecret.name): use lowercase letters, digits, '-' and '.'"
    )


def incomplete_profile(files: dict[str, str]) -> str | None:
    """A profile names both files of at least one credential kind, and no half of another."""
    complete = [pair for pair in _PAIRS if all(files.get(key) for key in pair)]
    halves = [key for pair in _PAIRS if any(files.get(k) for k in pair) for key in pair]
    missing = [key for key in halves if not files.get(key)]
    if complete and not missing:
        return None
    need = " and ".join(missing) if missing else "credential files"
    return (
        f"names no {need}: a profile needs client_id_file and client_secret_file (service"
        " account) or public_key_file and private_key_file (API key)"
    )


def resolve(value: str, base: Path, *, url: bool) -> str:
    """A relative path (or local repository) made absolute against ``base``; URLs unchanged."""
    if not value or (url and is_remote(value)) or Path(value).is_absolute():
        return value
    return os.path.normpath(base / value)


def is_secret(key: str) -> bool:
    """Whether ``key`` would hold a credential inline instead of naming its file."""
    name = key.lower()
    if name.endswith("_file"):
        return False
    return name in _INLINE_CREDENTIALS or any(word in name for word in _SECRET_WORDS)


def secret_problem(key: str, known: tuple[str, ...], *, environment: bool = False) -> str:
    """Why ``key`` may not be written inline, and where its value goes instead."""
    files = [k for k in known if k.endswith("_file") and is_secret(k.removesuffix("_file"))]
    if f"{key}_file" in known:
        ways = [f"set {key}_file to a file that holds it"]
    elif files:
        ways = [f"put it in a file named by {' or '.join(files)}"]
    else:
        ways = ["put it in a file and name that file with a *_file key"]
    if environment and key in credentials.ENV:
        ways.append(f"put it in $CREDENTIALS_DIRECTORY/{credentials.CREDENTIAL_NAMES[key]}")
        ways.append(f"set {credentials.ENV[key]}")
    how = ", ".join(ways[:-1]) + f" or {ways[-1]}" if len(ways) > 1 else ways[0]
    if key.lower() in _INLINE_CREDENTIALS - {"ssh_key"}:
        return f"Atlas credentials are read from files or the environment, not written here; {how}"
    return f"secrets are never written in the configuration file (the value is not shown); {how}"
