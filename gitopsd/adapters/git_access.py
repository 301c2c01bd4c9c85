"""How git meets credentials: the environment every git command runs with, and scrubbing.

Owns the rules that keep secrets out of URLs, argument lists and ``.git/config``: an HTTPS
token travels as an ``Authorization`` header set through ``GIT_CONFIG_*`` environment
variables (scoped to the remote's origin, and only over HTTPS or loopback HTTP); an SSH key
and known_hosts file travel in ``GIT_SSH_COMMAND`` with strict host key checking. Git never
prompts, and the system and user git configurations are not read (a credential helper or an
``insteadOf`` there cannot change what gitopsd fetches). ``scrub`` removes URL credentials
and every form of the token from text before it is raised or reported.
It must not import ``git`` (``adapters.gitrepo`` runs the commands) and must not log.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gitopsd import config, credentials

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without URL credentials (``user:pass@`` → ``***@``) or any of ``secrets``."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Access:
    """How git reaches the remote: its URL and credentials (the token prints as ``***``)."""

    url: str
    token: credentials.Secret | None = None
    ssh_key_file: str = ""
    known_hosts_file: str = ""

    @classmethod
    def of(cls, settings: config.GitSettings, environ: Mapping[str, str] | None) -> Access:
        """Read the credentials ``settings`` point at (ConfigError when a file is unreadable)."""
        token = credentials.read_secret("git_token", file=settings.token_file, environ=environ)
        key = credentials.secret_path("git_ssh_key", file=settings.ssh_key_file, environ=environ)
        return cls(
            url=fetch_url(settings.url),
            token=token,
            ssh_key_file=key,
            known_hosts_file=settings.known_hosts_file,
        )

    @property
    def shown(self) -> str:
        """The URL as logs and reports may show it."""
        return scrub(self.url)

    def scrub(self, text: str) -> str:
        """``text`` safe to raise or report: no URL credentials, no form of the token."""
        if self.token is None:
            return scrub(text)
        return scrub(text, (self.token.reveal(), self._basic()))

    def environment(self) -> dict[str, str]:
        """Environment for every git command: no prompts, no outside config, credentials.

        Complete: this process's environment without the secrets it may hold
        (``credentials.for_children``), in the C locale (git's messages are read), and then
        the variables below; the token reaches git only as the header of its own origin.
        """
        pairs = [("credential.helper", ""), ("core.askPass", "")]
        origin = self._token_origin()
        if origin:
            pairs.append((f"http.{origin}.extraHeader", f"Authorization: Basic {self._basic()}"))
        env = credentials.for_children(os.environ) | {
            "LANGUAGE": "C",
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GCM_INTERACTIVE": "never",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_SSH_COMMAND": self._ssh_command(),
            "GIT_SSH_VARIANT": "ssh",
            "GIT_CONFIG_COUNT": str(len(pairs)),
        }
        for i, (key, value) in enumerate(pairs):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        return env

    def _basic(self) -> str:
        assert self.token is not None
        pair = f"x-access-token:{self.token.reveal()}"
        return base64.b64encode(pair.encode()).decode()

    def _token_origin(self) -> str:
        """``scheme://host[:port]/`` the token is sent to: HTTPS, or plain HTTP on loopback."""
        if self.token is None:
            return ""
        parts = urlsplit(self.url)
        plain_loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK
        if parts.scheme != "https" and not plain_loopback:
            return ""
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}/"

    def _ssh_command(self) -> str:
        words = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
        words += ["-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15"]
        if self.ssh_key_file:
            words += ["-i", self.ssh_key_file, "-o", "IdentitiesOnly=yes"]
        if self.known_hosts_file:
            # ssh splits this option's value on blanks unless it is quoted.
            words += ["-o", f'UserKnownHostsFile="{self.known_hosts_file}"']
            words += ["-o", "GlobalKnownHostsFile=/dev/null"]
        return shlex.join(words)


def fetch_url(url: str) -> str:
    """``url`` as git is given it: a local path made absolute, any URL as written."""
    if "://" in url or ":" in url.split("/", 1)[0]:
        return url
    return str(Path(url).resolve())
