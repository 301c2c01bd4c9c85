"""Commit signatures: the private OpenPGP keyring, and why a commit is not trusted, in words.

Owns ``<state dir>/gnupg``: a keyring holding only the keys of ``[git] openpgp_keys_file``,
rebuilt when that file changes, so the user's own keyring is never consulted. Every key in it
was put there by the operator, so gpg is told to trust them all (``trust-model always``) and
never to start an agent. It also turns git's ``%G?`` signature status into a sentence for the
report. Git runs the verification (``adapters.gitrepo``, the only ``git`` importer); SSH
signatures are checked by git against ``allowed_signers_file`` with ``ssh-keygen``.
It must not log, and must not read or write any keyring but its own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from gitopsd import credentials
from gitopsd.errors import ConfigError

TRUSTED = "G"
"""The ``%G?`` status of a good signature by a trusted key; anything else is refused."""
SSH_ARMOR = "-----BEGIN SSH SIGNATURE-----"
_GPG_CONF = "trust-model always\nno-autostart\n"
_STAMP = "keys.sha256"


def gnupg_home(state_dir: Path, keys_file: str) -> Path:
    """The private keyring of ``keys_file``'s keys (empty when there is none); ConfigError."""
    home = state_dir / "gnupg"
    try:
        stamp = hashlib.sha256(Path(keys_file).read_bytes()).hexdigest() if keys_file else "-"
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = getattr(exc, "strerror", None) or "not a usable path"
        raise ConfigError(
            f"[git] openpgp_keys_file: cannot read {credentials.shown_path(keys_file)}: {reason}"
        ) from None
    if _read(home / _STAMP) == stamp:
        return home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(mode=0o700, parents=True)
    (home / "gpg.conf").write_text(_GPG_CONF, encoding="utf-8")
    if keys_file:
        _import(home, keys_file)
    (home / _STAMP).write_text(stamp, encoding="utf-8")
    return home


def reason(status: str, *, key: str, raw_commit: str, allowed_signers: bool) -> str:
    """Why a commit with ``%G?`` ``status`` (and ``%GK`` ``key``) is not trusted."""
    ssh_signed = SSH_ARMOR in raw_commit
    if status == "N" and ssh_signed and not allowed_signers:
        return "it has an SSH signature, and [git] allowed_signers_file is not set"
    if status == "N":
        return "it is not signed"
    which = f"key {key}" if key else "its key"
    trusted = "allowed_signers_file" if ssh_signed else "openpgp_keys_file"
    reasons = {
        "B": "its signature is bad (the commit changed after it was signed)",
        "U": f"{which} is not in [git] {trusted}",
        "E": f"the signature cannot be checked: {which} is not in [git] {trusted}",
        "X": "its signature has expired",
        "Y": f"{which} has expired",
        "R": f"{which} has been revoked",
    }
    return reasons.get(status, f"git gives signature status {status!r}")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _import(home: Path, keys_file: str) -> None:
    gpg = shutil.which("gpg")
    if gpg is None:
        raise ConfigError("[git] openpgp_keys_file is set, but gpg is not installed")
    # A fixed program and arguments; the only input is the operator's own key file.
    done = subprocess.run(  # noqa: S603
        [gpg, "--batch", "--quiet", "--homedir", str(home), "--import", keys_file],
        env=credentials.for_children(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        said = "; ".join(line for line in done.stderr.splitlines()[-2:] if line.strip())
        raise ConfigError(f"[git] openpgp_keys_file: gpg could not import {keys_file}: {said}")
