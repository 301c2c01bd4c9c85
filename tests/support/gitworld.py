"""Real Git for the Git adapter's tests: a bare "remote", a user's clone, signers, readers.

``GitWorld`` holds a bare repository standing in for the hosted one, a ``User`` who commits
and pushes to it with plain ``git`` (as a person would), the daemon's state directory, and
helpers that read the remote directly. Nothing of gitopsd is replaced: tests run the real
``GitSource`` against these repositories, on disk or over HTTP(S)/SSH on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gitopsd import config
from gitopsd.adapters import gitrepo

POLICY = """\
apiVersion: atlas.mongodb.com/v1
kind: AtlasBackupPolicy
metadata:
  name: daily
spec:
  items:
    - frequencyType: daily
      frequencyInterval: 1
      retentionUnit: days
      retentionValue: 7
"""


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for the tests' own git: no outside config, no inherited GIT_* pointers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return env | {
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Ada User",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada User",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
        **extra,
    }


def run_git(*args: str, cwd: Path, home: Path, env: dict[str, str] | None = None) -> str:
    """Run the tests' own ``git`` and return its output (stripped); fails loudly."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=clean_env(home, **(env or {})),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


class Remote:
    """A bare repository: the hosted one, as its server holds it."""

    def __init__(self, path: Path, home: Path) -> None:
        self.path = path
        self.home = home
        run_git(
            "init", "--quiet", "--bare", "--initial-branch=main", str(path), cwd=home, home=home
        )

    @property
    def url(self) -> str:
        """A ``file://`` URL of it."""
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        """Run git inside the bare repository."""
        return run_git(*args, cwd=self.path, home=self.home)

    def head(self, branch: str = "main") -> str | None:
        """The branch's tip, None when it does not exist."""
        out = self.git("for-each-ref", "--format=%(objectname)", f"refs/heads/{branch}")
        return out or None

    def show(self, rev: str, path: str) -> str:
        """A file's text at ``rev``."""
        return self.git("show", f"{rev}:{path}")

    def files(self, rev: str) -> set[str]:
        """Every file path at ``rev``."""
        return set(self.git("ls-tree", "-r", "--name-only", rev).splitlines())

    def changed(self, old: str, new: str) -> set[str]:
        """Paths that differ between two revisions."""
        return set(self.git("diff", "--name-only", old, new).splitlines())

    def parents(self, rev: str) -> list[str]:
        """The parents of a commit."""
        return self.git("rev-list", "--parents", "-n1", rev).split()[1:]

    def history(self, rev: str) -> list[str]:
        """Every commit reachable from ``rev``, newest first."""
        return self.git("rev-list", rev).splitlines()

    def hook(self, name: str, script: str) -> None:
        """Install a server-side hook (a shell script) in the bare repository."""
        path = self.path / "hooks" / name
        path.write_text("#!/bin/sh\n" + script, encoding="utf-8")
        path.chmod(0o755)

    def field(self, rev: str, fmt: str) -> str:
        """One ``git log --format`` field of a commit (``%an``, ``%B``, ...)."""
        return self.git("log", "-1", f"--format={fmt}", rev)


class User:
    """A person's clone of the remote: writes files, commits (signed if asked) and pushes."""

    def __init__(self, path: Path, remote: Remote, home: Path) -> None:
        self.path = path
        self.home = home
        run_git("clone", "--quiet", str(remote.path), str(path), cwd=home, home=home)
        self.git("checkout", "--quiet", "-B", "main")

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run git in the clone."""
        return run_git(*args, cwd=self.path, home=self.home, env=env)

    def write(self, name: str, text: str) -> None:
        """Write a file of the clone."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def commit(self, message: str = "change", *, signer: Signer | None = None) -> str:
        """Commit everything; signed when a signer is given. The new sha."""
        self.git("add", "--all")
        options = signer.options if signer else ()
        env = signer.env if signer else None
        self.git(*options, "commit", "--quiet", "--allow-empty", "-m", message, env=env)
        return self.git("rev-parse", "HEAD")

    def change(self, name: str = "manifests/policy.yaml", note: str = "x", **kw: object) -> str:
        """Append a comment line to a file and commit it."""
        target = self.path / name
        text = target.read_text(encoding="utf-8") if target.exists() else ""
        self.write(name, f"{text}# {note}\n")
        return self.commit(f"change {note}", **kw)  # type: ignore[arg-type]

    def push(self, branch: str = "main", *, force: bool = False, rev: str = "HEAD") -> None:
        """Push ``rev`` to the remote's ``branch``."""
        self.git("push", "--quiet", *(["--force"] if force else []), "origin", f"{rev}:{branch}")


@dataclass(frozen=True, slots=True)
class Signer:
    """Options and environment that make ``git commit`` sign with one key."""

    options: tuple[str, ...]
    env: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SshKey:
    """An ed25519 key made by ssh-keygen, and an allowed-signers file trusting it."""

    private: Path
    public: Path
    allowed_signers: Path

    @property
    def signer(self) -> Signer:
        """Sign commits with this key (gpg.format=ssh)."""
        return Signer(
            options=("-c", "gpg.format=ssh", "-c", f"user.signingkey={self.private}", "-c",
                     "commit.gpgSign=true")
        )  # fmt: skip


def ssh_key(directory: Path, name: str = "signer") -> SshKey:
    """Generate an ed25519 key pair under ``directory`` and an allowed-signers file for it."""
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(private)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    public = private.with_suffix(".pub")
    allowed = directory / f"{name}.allowed_signers"
    allowed.write_text(f'ada@example.com namespaces="git" {public.read_text()}', encoding="utf-8")
    return SshKey(private=private, public=public, allowed_signers=allowed)


@dataclass(frozen=True, slots=True)
class GpgKey:
    """An OpenPGP key in its own GNUPGHOME, and its exported public key."""

    home: Path
    fingerprint: str
    public: Path

    @property
    def signer(self) -> Signer:
        """Sign commits with this key (OpenPGP)."""
        return Signer(
            options=("-c", f"user.signingkey={self.fingerprint}", "-c", "commit.gpgSign=true"),
            env={"GNUPGHOME": str(self.home)},
        )


@contextmanager
def gpg_key(export_to: Path, uid: str = "Ada Signer <ada@example.com>") -> Iterator[GpgKey]:
    """A fresh ed25519 signing key; its agent is stopped and its home removed afterwards."""
    # A short home: gpg-agent's socket path must fit in a sockaddr_un.
    home = Path(tempfile.mkdtemp(prefix="gpg-", dir="/tmp"))
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        gpg = ["gpg", "--batch", "--passphrase", ""]
        subprocess.run(
            [*gpg, "--quick-gen-key", uid, "ed25519", "sign", "never"],
            env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        listing = subprocess.run(
            ["gpg", "--batch", "--with-colons", "--list-keys", uid],
            env=env, check=True, capture_output=True, text=True, timeout=30,
        ).stdout  # fmt: skip
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        public = export_to / "openpgp.asc"
        export_to.mkdir(parents=True, exist_ok=True)
        public.write_bytes(
            subprocess.run(
                ["gpg", "--batch", "--armor", "--export", fingerprint],
                env=env, check=True, capture_output=True, timeout=30,
            ).stdout
        )  # fmt: skip
        yield GpgKey(home=home, fingerprint=fingerprint, public=public)
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "all"],
            env=env, check=False, capture_output=True, timeout=30,
        )  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


class GitWorld:
    """A remote with a first commit on main, a user's clone of it, and gitopsd's state dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.remote = Remote(root / "remote.git", self.home)
        self.user = User(root / "user", self.remote, self.home)
        self.user.write("manifests/policy.yaml", POLICY)
        self.user.write("README.md", "# backups\n")
        self.first = self.user.commit("first")
        self.user.push()
        self.state = root / "state"

    def settings(self, **changes: object) -> config.GitSettings:
        """``[git]`` for the remote: branch main, manifests under manifests/, depth 1."""
        values: dict[str, object] = {"url": self.remote.url, "path": "manifests", "depth": 1}
        return config.GitSettings(**(values | changes))  # type: ignore[arg-type]

    def source(
        self, settings: config.GitSettings | None = None, **changes: object
    ) -> gitrepo.GitSource:
        """A GitSource over the remote, with its state in ``state/``."""
        report = config.ReportSettings(author_name="gitopsd bot", author_email="bot@example.com")
        return gitrepo.GitSource(settings or self.settings(**changes), self.state, report=report)

    def clone_git(self, *args: str) -> str:
        """Run git inside gitopsd's clone (to look, or to break it)."""
        return run_git(*args, cwd=self.state / "repo", home=self.home)


def texts(values: Sequence[object]) -> str:
    """Everything a test might leak a secret through, as one string."""
    return "\n".join(repr(v) + "\n" + str(v) for v in values)
