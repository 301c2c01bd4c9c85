"""The configuration file: TOML plus ``GITOPSD_<SECTION>_<KEY>`` overrides → frozen Settings.

Owns reading ``gitopsd.toml``, checking every key once at start-up and reporting *all* problems
in one ConfigError, one line each: file:line, ``[section] key``, what is wrong, what to do.
Relative paths are resolved against the file's directory. Settings hold where secrets live,
never a secret: an inline secret is refused without echoing it. It must not read credential
files (``CredentialFiles.load`` hands that to ``credentials.load``) and must not log.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitopsd import config_checks, config_text, credentials
from gitopsd.adapters import manifest_files
from gitopsd.core import backoff, schema
from gitopsd.core.model import Mode
from gitopsd.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialFiles:
    """Where one set of Atlas credentials is read from; empty means "not from a file"."""

    client_id_file: str = ""
    client_secret_file: str = ""
    public_key_file: str = ""
    private_key_file: str = ""

    def load(
        self, environ: Mapping[str, str] | None = None, *, table: str = "atlas"
    ) -> credentials.AtlasCredentials:
        """Read the credentials (files, then $CREDENTIALS_DIRECTORY, then the environment).

        ``table`` is where these keys are written (``atlas.profiles.NAME``), for messages.
        """
        return credentials.load(**dataclasses.asdict(self), environ=environ, table=table)


@dataclass(frozen=True, slots=True, kw_only=True)
class GitSettings:
    """``[git]``: the repository watched for manifests."""

    url: str
    branch: str = "main"
    path: str = "."
    poll_interval_s: float = 60.0
    token_file: str = ""
    ssh_key_file: str = ""
    known_hosts_file: str = ""
    depth: int = 1
    verify_signatures: bool = False
    allowed_signers_file: str = ""
    openpgp_keys_file: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AtlasSettings:
    """``[atlas]``: the Admin API, its credentials and the client's limits."""

    base_url: str = "https://cloud.mongodb.com"
    credentials: CredentialFiles = CredentialFiles()
    profiles: tuple[tuple[str, CredentialFiles], ...] = ()
    concurrency: int = 8
    timeout_s: float = 30.0
    max_attempts: int = 5
    deadline_s: float = 120.0
    ca_file: str = ""

    def profile(self, name: str) -> CredentialFiles | None:
        """The credentials of ``[atlas.profiles.NAME]``, None when there is no such profile."""
        return next((files for key, files in self.profiles if key == name), None)

    def retry_policy(self) -> backoff.RetryPolicy:
        """The retry budget of every Atlas request."""
        return backoff.RetryPolicy(max_attempts=self.max_attempts, deadline_s=self.deadline_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestSettings:
    """``[manifests]``: how manifest files are found and bounded."""

    max_file_bytes: int = manifest_files.DEFAULT_MAX_FILE_BYTES
    exclude: tuple[str, ...] = ()
    allow_empty: bool = False  # a source with no AtlasDeployment is expected, not an error

    def load_options(self, root: str | Path | None = None) -> manifest_files.LoadOptions:
        """Options for ``manifest_files``; ``root`` (the manifests directory) prefixes excludes.

        ``manifest_files.discover`` compares excluded paths with the paths it walks, so pass the
        directory it is given; without ``root`` the excludes stay relative.
        """
        exclude = self.exclude if root is None else tuple(str(Path(root, e)) for e in self.exclude)
        return manifest_files.LoadOptions(max_file_bytes=self.max_file_bytes, exclude=exclude)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileSettings:
    """``[reconcile]``: what a cycle may change, and how often drift is checked."""

    mode: Mode = Mode.ENFORCE
    allow_destructive: bool = False
    default_namespace: str = "default"
    drift_interval_s: float = 900.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSettings:
    """``[report]``: where drift reports are committed (never the watched branch)."""

    branch: str = "gitopsd/drift"
    dir: str = "drift-report"
    author_name: str = "gitopsd"
    author_email: str = "gitopsd@localhost"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """``[server]``: the local HTTP endpoint (health, metrics)."""

    listen: str = "127.0.0.1:9187"
    webhook_secret_file: str = ""

    def address(self) -> tuple[str, int]:
        """``listen`` as (host, port), without the brackets of an IPv6 address."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True, kw_only=True)
class StateSettings:
    """``[state]``: the daemon's own working directory (clones, caches)."""

    dir: str = "/var/lib/gitopsd"
    history: int = 1000


class ForgeKind(enum.StrEnum):
    """The forge APIs gitopsd can open pull requests with; NONE turns the feature off."""

    NONE = ""
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"


FORGE_API_URLS = {
    ForgeKind.GITHUB: "https://api.github.com",
    ForgeKind.GITLAB: "https://gitlab.com/api/v4",
    ForgeKind.GITEA: "https://gitea.com/api/v1",
}
"""``[forge] api_url`` when it is left empty."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgeSettings:
    """``[forge]``: the pull request opened from the report branch (optional)."""

    kind: ForgeKind = ForgeKind.NONE
    api_url: str = ""
    repo: str = ""
    token_file: str = ""

    @property
    def enabled(self) -> bool:
        """Whether gitopsd manages a pull request."""
        return self.kind is not ForgeKind.NONE

    @property
    def url(self) -> str:
        """``api_url``, or the public service's API when it is empty."""
        return self.api_url or FORGE_API_URLS.get(self.kind, "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the daemon is configured with, checked once at start-up."""

    path: Path
    git: GitSettings
    atlas: AtlasSettings
    manifests: ManifestSettings
    reconcile: ReconcileSettings
    report: ReportSettings
    server: ServerSettings
    state: StateSettings
    forge: ForgeSettings = ForgeSettings()


def restart_only_changes(old: Settings, new: Settings) -> tuple[str, ...]:
    """What ``new`` changes that a reload cannot take on, in words; () when a reload can.

    The state directory is locked for the life of the process (another gitopsd could take
    the old one), and the listener and its webhook secret are set up once. A ``*_file``
    key's value is not shown: it may be a secret pasted there.
    """
    changes = []
    if os.path.realpath(old.state.dir) != os.path.realpath(new.state.dir):
        changes.append(f"[state] dir changed from {old.state.dir} to {new.state.dir}")
    if old.server.listen != new.server.listen:
        changes.append(f"[server] listen changed from {old.server.listen} to {new.server.listen}")
    if old.server.webhook_secret_file != new.server.webhook_secret_file:
        changes.append("[server] webhook_secret_file changed")
    return tuple(changes)


_SECONDS = config_checks.Key(float, "a number of seconds greater than 0", config_checks.positive)
_FILE = config_checks.Key(
    str, 'a file path, or "" for none', config_checks.file_path, path=True, hidden=True
)
_CREDENTIAL_KEYS = tuple(f"{name}_file" for name in credentials.ENV)
_SECTIONS: dict[str, dict[str, config_checks.Key]] = {
    "git": {
        "url": config_checks.Key(
            str, "a repository URL or a local directory", config_checks.git_url
        ),
        "branch": config_checks.Key(str, "a branch name", config_checks.branch),
        "path": config_checks.Key(
            str, "a relative directory", config_checks.inside("the repository")
        ),
        "poll_interval_s": _SECONDS,
        "token_file": _FILE,
        "ssh_key_file": _FILE,
        "known_hosts_file": _FILE,
        "depth": config_checks.Key(
            int, "a whole number of commits, 0 for the whole history", config_checks.between(0)
        ),
        "verify_signatures": config_checks.Key(bool, "true or false", config_checks.fine),
        "allowed_signers_file": _FILE,
        "openpgp_keys_file": _FILE,
    },
    "atlas": {
        "base_url": config_checks.Key(str, "an http(s):// URL", config_checks.base_url),
        **dict.fromkeys(_CREDENTIAL_KEYS, _FILE),
        "concurrency": config_checks.Key(
            int, "a whole number from 1 to 64", config_checks.between(1, 64)
        ),
        "timeout_s": _SECONDS,
        "max_attempts": config_checks.Key(
            int, "a whole number of at least 1", config_checks.between(1)
        ),
        "deadline_s": _SECONDS,
        "ca_file": config_checks.Key(
            str, 'a PEM file path, or "" for the default CAs', config_checks.file_path, path=True
        ),
    },
    "manifests": {
        "max_file_bytes": config_checks.Key(
            int, "a whole number of bytes, at least 1", config_checks.between(1)
        ),
        "exclude": config_checks.Key(
            tuple, "a list of relative paths", config_checks.all_inside("the manifests directory")
        ),
        "allow_empty": config_checks.Key(bool, "true or false", config_checks.fine),
    },
    "reconcile": {
        "mode": config_checks.Key(Mode, '"enforce" or "observe"', config_checks.fine),
        "allow_destructive": config_checks.Key(bool, "true or false", config_checks.fine),
        "default_namespace": config_checks.Key(str, "a DNS-1123 label", config_checks.label),
        "drift_interval_s": _SECONDS,
    },
    "report": {
        "branch": config_checks.Key(str, "a branch name", config_checks.branch),
        "dir": config_checks.Key(
            str, "a relative directory", config_checks.inside("the report branch")
        ),
        "author_name": config_checks.Key(str, "a name", config_checks.not_empty),
        "author_email": config_checks.Key(str, "an e-mail address", config_checks.email),
    },
    "server": {
        "listen": config_checks.Key(str, 'HOST:PORT, e.g. "127.0.0.1:9187"', config_checks.listen),
        "webhook_secret_file": _FILE,
    },
    "state": {
        "dir": config_checks.Key(str, "a directory", config_checks.directory, path=True),
        "history": config_checks.Key(
            int, "a whole number of cycles, at least 1", config_checks.between(1)
        ),
    },
    "forge": {
        "kind": config_checks.Key(
            ForgeKind, '"github", "gitlab", "gitea" or "" for none', config_checks.fine
        ),
        "api_url": config_checks.Key(
            str, 'an http(s):// URL, or "" for the service\'s own', config_checks.api_url
        ),
        "repo": config_checks.Key(
            str, '"owner/name" (GitLab: the project path)', config_checks.fine
        ),
        "token_file": _FILE,
    },
}
_PROFILES = "profiles"
_BRANCHES = (("git", "branch"), ("report", "branch"))


def load(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check the configuration file at ``path``; raise ConfigError naming every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the configuration file is not UTF-8 text") from None
    return parse(text, path=Path(path), environ=environ)


def parse(text: str, *, path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Check ``text`` with the environment's overrides applied.

    ``path`` is where the text came from: messages name it as given, and relative paths in the
    text are resolved against its directory.
    """
    env = os.environ if environ is None else environ
    lines = config_text.locate(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, reason = config_text.syntax_error(exc, lines, _expected)
        place = path if line is None else f"{path}:{line}"
        raise ConfigError(f"{place}: invalid TOML: {reason}") from None
    report = config_text.Report(file=str(path), lines=lines)
    raw = _gather(data, report)
    raw.update(_overrides(env))
    base = path.resolve().parent
    values = {section: _check_section(section, raw, base, report) for section in _SECTIONS}
    profiles = _profiles(data.get("atlas"), base, report)
    _check_together(values, raw, report)
    report.raise_any()
    atlas = values["atlas"]
    files = {key: atlas.pop(key) for key in _CREDENTIAL_KEYS if key in atlas}
    return Settings(
        path=path.resolve(),
        git=dataclasses.replace(GitSettings(url=""), **values["git"]),
        atlas=dataclasses.replace(
            AtlasSettings(credentials=CredentialFiles(**files), profiles=profiles), **atlas
        ),
        manifests=dataclasses.replace(ManifestSettings(), **values["manifests"]),
        reconcile=dataclasses.replace(ReconcileSettings(), **values["reconcile"]),
        report=dataclasses.replace(ReportSettings(), **values["report"]),
        server=dataclasses.replace(ServerSettings(), **values["server"]),
        state=dataclasses.replace(StateSettings(), **values["state"]),
        forge=dataclasses.replace(ForgeSettings(), **values["forge"]),
    )


def _expected(path: config_text.KeyPath) -> config_text.Expected | None:
    """What the key at ``path`` takes, for the words of a syntax error."""
    if len(path) == 4 and path[:2] == ("atlas", _PROFILES) and path[3] in _CREDENTIAL_KEYS:
        return config_text.Expected(_FILE.kind, _FILE.expected)
    spec = _SECTIONS.get(path[0], {}).get(path[1]) if len(path) == 2 else None
    return None if spec is None else config_text.Expected(spec.kind, spec.expected)


_Raw = dict[tuple[str, str], tuple[object, str]]
"""(section, key) → (value, the environment variable it came from or "")."""


def _gather(data: dict[str, Any], report: config_text.Report) -> _Raw:
    raw: _Raw = {}
    for section, table in data.items():
        if section not in _SECTIONS:
            if isinstance(table, dict):
                hint = schema.did_you_mean(section, tuple(_SECTIONS))
                report.add((section,), f"[{section}]", f"unknown section; {hint}")
            else:
                report.add((section,), section, _outside_problem(section))
        elif not isinstance(table, dict):
            report.add(
                (section,), f"[{section}]", f"expected a table: write [{section}] above its keys"
            )
        else:
            for key, value in table.items():
                if section == "atlas" and key == _PROFILES:
                    continue
                if key in _SECTIONS[section]:
                    raw[section, key] = (value, "")
                else:
                    problem = _unknown_key_problem(section, key, tuple(_SECTIONS[section]))
                    report.add((section, key), f"[{section}] {key}", problem)
    return raw


def _outside_problem(key: str) -> str:
    if config_checks.is_secret(key):
        return config_checks.secret_problem(key, ())
    owners = [section for section, keys in _SECTIONS.items() if key in keys]
    if owners:
        return f"a key outside any section; move it under [{owners[0]}]"
    return "a key outside any section; sections are " + ", ".join(_SECTIONS)


def _unknown_key_problem(section: str, key: str, known: tuple[str, ...]) -> str:
    if config_checks.is_secret(key):
        return config_checks.secret_problem(key, known, environment=section == "atlas")
    candidates = (*known, _PROFILES) if section == "atlas" else known
    owners = [other for other, keys in _SECTIONS.items() if key in keys]
    if schema.closest(key, candidates) is None and owners and section in _SECTIONS:
        return f"unknown key in [{section}]; it belongs in [{owners[0]}]"
    return "unknown key; " + schema.did_you_mean(key, candidates)


def _overrides(env: Mapping[str, str]) -> _Raw:
    reserved = set(credentials.ENV.values())
    found: _Raw = {}
    for section, keys in _SECTIONS.items():
        for key in keys:
            var = f"GITOPSD_{section}_{key}".upper()
            if var in env and var not in reserved:
                found[section, key] = (env[var], var)
    return found


def _check_section(
    section: str, raw: _Raw, base: Path, report: config_text.Report
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, spec in _SECTIONS[section].items():
        if (section, key) not in raw:
            continue
        value, var = raw[section, key]
        label = f"[{section}] {key}"
        typed, problem = spec.read(value, from_env=bool(var))
        if problem:
            report.add((section, key), label, problem, var)
        elif spec.path or key == "url":
            values[key] = config_checks.resolve(str(typed), base, url=key == "url")
        else:
            values[key] = typed
    if section == "git" and "url" not in values and ("git", "url") not in raw:
        example = '"https://github.com/acme/atlas-backups.git"'
        problem = f"required: the repository to watch, e.g. url = {example} (or GITOPSD_GIT_URL)"
        report.add(("git",), "[git] url", problem)
    return values


def _check_together(
    values: dict[str, dict[str, Any]], raw: _Raw, report: config_text.Report
) -> None:
    _check_branches(values, raw, report)
    git, forge = values["git"], values["forge"]
    if git.get("verify_signatures") and not (
        git.get("allowed_signers_file") or git.get("openpgp_keys_file")
    ):
        problem = (
            "is true but no key is trusted: set [git] allowed_signers_file (SSH signatures)"
            " or [git] openpgp_keys_file (OpenPGP public keys), or both"
        )
        report.add(("git", "verify_signatures"), "[git] verify_signatures", problem)
    if forge.get("kind") and not forge.get("repo") and ("forge", "repo") not in raw:
        problem = (
            'required with [forge] kind: the repository, e.g. repo = "acme/atlas-backups"'
            " (GitLab: the project path or id)"
        )
        report.add(("forge", "kind"), "[forge] repo", problem)


def _check_branches(
    values: dict[str, dict[str, Any]], raw: _Raw, report: config_text.Report
) -> None:
    if any(key in raw and key[1] not in values[key[0]] for key in _BRANCHES):
        return  # an invalid branch name is reported on its own
    watched = values["git"].get("branch", GitSettings(url="").branch)
    reports = values["report"].get("branch", ReportSettings().branch)
    if watched != reports:
        return
    owner = ("report", "branch") if ("report", "branch") in raw else ("git", "branch")
    _, var = raw[owner]
    other = "[git] branch" if owner[0] == "report" else "[report] branch"
    problem = (
        f"must differ from {other} ({config_checks.show(watched)}):"
        " gitopsd commits drift reports to [report] branch and never pushes to the watched branch"
    )
    report.add(owner, f"[{owner[0]}] branch", problem, var)


def _profiles(
    atlas: object, base: Path, report: config_text.Report
) -> tuple[tuple[str, CredentialFiles], ...]:
    if not isinstance(atlas, dict) or _PROFILES not in atlas:
        return ()
    tables = atlas[_PROFILES]
    if not isinstance(tables, dict):
        problem = "expected tables, one per profile: [atlas.profiles.NAME]"
        report.add(("atlas", _PROFILES), "[atlas] profiles", problem)
        return ()
    found: list[tuple[str, CredentialFiles]] = []
    for name, table in sorted(tables.items()):
        where, label = ("atlas", _PROFILES, name), f"[atlas.profiles.{name}]"
        wrong = config_checks.profile_name(name)
        if wrong is None and not isinstance(table, dict):
            wrong = f"expected a table of {', '.join(_CREDENTIAL_KEYS)}"
        if wrong is not None:
            report.add(where, label, wrong)
            continue
        files: dict[str, str] = {}
        for key, value in table.items():
            if key not in _CREDENTIAL_KEYS:
                unknown = _unknown_key_problem("atlas.profiles", key, _CREDENTIAL_KEYS)
                report.add((*where, key), f"{label} {key}", unknown)
                continue
            typed, problem = _FILE.read(value, from_env=False)
            if problem:
                report.add((*where, key), f"{label} {key}", problem)
            else:
                files[key] = config_checks.resolve(str(typed), base, url=False)
        incomplete = config_checks.incomplete_profile(files)
        if incomplete is not None and len(files) == len(table):  # else a key's problem says it
            report.add(where, label, incomplete)
        found.append((name, CredentialFiles(**files)))
    return tuple(found)
