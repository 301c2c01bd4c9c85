"""The locked dependency set: ``requirements.lock``, made from pyproject.toml, put into a venv.

The Makefile runs this with the machine's Python (standard library only, Python 3.11+):

    check                  exit 1 with one line when pyproject.toml's dependency inputs changed
                           and requirements.lock was not regenerated
    install VENV           make VENV exactly the lock: the pinned pip, then every pinned
                           distribution with hashes required (wheels only), then gitopsd itself
                           without dependencies; the installers' output goes to .cache/install.log
    compile [--upgrade]    regenerate requirements.lock with the lock's own uv (``make lock``);
                           with --upgrade every pin moves to the newest release
                           (``make lock-upgrade``)
    pins [--runtime]       print the lock's pins, one ``name==version`` a line

The lock holds ``[project] dependencies``, every optional extra and the ``tools`` dependency
group (pip, the build backend, uv), resolved for CPython 3.11 on Linux x86_64.
``requirements-runtime.lock`` holds its runtime part alone (same versions, same hashes), for
production installs. Each header records a digest of those inputs; ``check`` compares it with
pyproject.toml's, so a comment or a tool's setting in pyproject.toml never asks for a new lock.
docs/development.md tells the workflow. Exit codes: 0 done, 1 failed (one line says why).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK_NAME = "requirements.lock"
TOOLS_GROUP = "tools"
# Raise this when the resolver flags below change what a lock means: every older lock is stale.
LOCK_FORMAT = 1
PYTHON_VERSION = "3.11"
PYTHON_PLATFORM = "x86_64-unknown-linux-gnu"
DIGEST_PREFIX = "# inputs-sha256: "
HEADER = f"""\
# The locked dependency set of gitopsd: every distribution that `make demo` and `make test`
# install, at an exact version with its hashes (CPython {PYTHON_VERSION}, Linux x86_64, wheels
# only). Made by `make lock` from pyproject.toml: [project] dependencies, every extra, and the
# "{TOOLS_GROUP}" dependency group (pip, the build backend, uv). Do not edit it by hand:
# docs/development.md says how to add or upgrade a dependency.
"""
RUNTIME_LOCK_NAME = "requirements-runtime.lock"
RUNTIME_HEADER = f"""\
# What gitopsd needs to run, and nothing else, at the versions {LOCK_NAME} pins and tests,
# with their hashes (CPython {PYTHON_VERSION}, Linux x86_64, wheels only): for production installs,
# docs/operations.md. Made by `make lock` with {LOCK_NAME}. Do not edit it by hand.
"""
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


class LockError(Exception):
    """A failure this script explains in one line."""


def _say(message: str) -> None:
    print(f"gitopsd: {message}", flush=True)


# -- the inputs ---------------------------------------------------------------------------------


def _pyproject(root: Path) -> dict[str, object]:
    import tomllib  # noqa: PLC0415 - imported late, so Python 3.10 reaches the version check

    path = root / "pyproject.toml"
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise LockError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"{path} is not valid TOML: {exc}") from exc


def _table(data: dict[str, object], key: str) -> dict[str, object]:
    value = data.get(key, {})
    return value if isinstance(value, dict) else {}


def inputs(root: Path) -> dict[str, object]:
    """Everything in pyproject.toml that decides what the lock holds."""
    data = _pyproject(root)
    project = _table(data, "project")
    groups = _table(data, "dependency-groups")
    build = _table(data, "build-system").get("requires", [])
    tools = groups.get(TOOLS_GROUP, [])
    if not isinstance(build, list) or not isinstance(tools, list):
        raise LockError(
            f"pyproject.toml: [build-system] requires and [dependency-groups] {TOOLS_GROUP} "
            "must be lists of requirements"
        )
    missing = [req for req in build if req not in tools]
    if missing:
        raise LockError(
            f"pyproject.toml: [build-system] requires {missing[0]!r} but [dependency-groups] "
            f"{TOOLS_GROUP} does not: add it there too, so the lock pins the build backend"
        )
    return {
        "format": LOCK_FORMAT,
        "python": PYTHON_VERSION,
        "platform": PYTHON_PLATFORM,
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "dependency-groups": groups,
        "build-system": build,
    }


def digest(root: Path) -> str:
    """The digest of :func:`inputs`; comments and key order in pyproject.toml do not count."""
    canonical = json.dumps(inputs(root), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# -- the lock -----------------------------------------------------------------------------------


def _lock_text(root: Path, name: str = LOCK_NAME) -> str:
    path = root / name
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise LockError(
            f"{name} is missing: restore it (git checkout -- {name}) or run `make lock`"
        ) from exc
    except OSError as exc:
        raise LockError(f"cannot read {path}: {exc.strerror}") from exc


def recorded_digest(text: str) -> str | None:
    """The inputs digest the lock was made from, or None when its header has none."""
    for line in text.splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line.removeprefix(DIGEST_PREFIX).strip()
    return None


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """``{normalized name: version}`` for every pin in a lock."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def block(text: str, name: str) -> str:
    """One pin with its hashes, as a requirements file of its own."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = PIN.match(line)
        if match and normalize(match.group(1)) == normalize(name):
            taken = [line]
            while taken[-1].rstrip().endswith("\\") and index + len(taken) < len(lines):
                taken.append(lines[index + len(taken)])
            taken[-1] = taken[-1].rstrip().removesuffix("\\")
            return "\n".join(taken) + "\n"
    raise LockError(
        f"{LOCK_NAME} pins no {name}: add it to the {TOOLS_GROUP} group, then `make lock`"
    )


def check(root: Path) -> None:
    """Raise when a lock was made from other inputs than pyproject.toml's."""
    expected = digest(root)
    for name in (LOCK_NAME, RUNTIME_LOCK_NAME):
        if recorded_digest(_lock_text(root, name)) != expected:
            raise LockError(
                f"{name} is out of date: the dependencies in pyproject.toml changed since it "
                "was made. Run `make lock`, then commit pyproject.toml and the locks together "
                "(docs/development.md)"
            )


# -- running installers -------------------------------------------------------------------------


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.pop("PIP_REQUIRE_VIRTUALENV", None)
    env.pop("PYTHONPATH", None)
    return env


def _log_file(root: Path, name: str) -> Path:
    folder = root / ".cache"
    try:
        folder.mkdir(exist_ok=True)
        log = folder / name
        log.write_text("", encoding="utf-8")
    except OSError as exc:
        raise LockError(f"cannot write {folder / name}: {exc.strerror}") from exc
    return log


def _last_error(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line.strip() for line in lines if line.lstrip().lower().startswith("error")]
    return errors[-1][:300] if errors else ""


def _run(argv: list[str], *, log: Path, what: str, cwd: Path | None = None) -> None:
    """Run an installer with its output in ``log``; a failure is one line that names the log."""
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n$ {' '.join(argv)}\n")
        handle.flush()
        try:
            done = subprocess.run(
                argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_environment(),
                cwd=cwd,
                check=False,
            )
        except OSError as exc:
            raise LockError(f"{what} failed: cannot run {argv[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        reason = _last_error(log)
        raise LockError(
            f"{what} failed (exit {done.returncode}){': ' + reason if reason else ''}; "
            f"the full output is in {log}"
        )


def _pip(python: Path, *args: str) -> list[str]:
    return [str(python), "-m", "pip", "--no-input", *args]


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _new_venv(venv: Path, *, log: Path) -> Path:
    if venv.exists():
        shutil.rmtree(venv)
    _run([sys.executable, "-m", "venv", str(venv)], log=log, what=f"creating {venv}")
    return venv / "bin" / "python"


def _install_block(python: Path, text: str, name: str, *, log: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / f"{name}.txt"
        one.write_text(block(text, name), encoding="utf-8")
        argv = _pip(python, "install", "--require-hashes", "--no-deps", "--only-binary=:all:")
        _run([*argv, "-r", str(one)], log=log, what=f"installing the pinned {name}")


# -- install ------------------------------------------------------------------------------------


def install(root: Path, venv: Path) -> None:
    """Make ``venv`` hold exactly the lock, and gitopsd itself as an editable install."""
    check(root)
    text = _lock_text(root)
    lock_sha = hashlib.sha256(text.encode()).hexdigest()
    marker = venv / ".lock-sha256"
    python = venv / "bin" / "python"
    log = _log_file(root, "install.log")
    started = time.monotonic()
    current = python.exists() and marker.exists() and marker.read_text().strip() == lock_sha
    if not current:
        where = _shown(venv, root)
        _say(f"setting up {where} from {LOCK_NAME}: {len(pins(text))} pinned distributions")
        python = _new_venv(venv, log=log)
        _install_block(python, text, "pip", log=log)
        # Python 3.11's venv brings setuptools; nothing needs it and the lock does not pin it.
        _run(_pip(python, "uninstall", "--yes", "setuptools"), log=log, what="removing setuptools")
        everything = ("install", "--require-hashes", "--no-deps", "--only-binary=:all:", "-r")
        _run(
            _pip(python, *everything, str(root / LOCK_NAME)),
            log=log,
            what=f"installing {LOCK_NAME} into {where}",
        )
    itself = ("install", "--no-deps", "--no-build-isolation", "--no-index", "--editable")
    _run(_pip(python, *itself, str(root)), log=log, what="installing gitopsd itself")
    marker.write_text(lock_sha + "\n", encoding="utf-8")
    if not current:
        took = time.monotonic() - started
        _say(
            f"{_shown(venv, root)} is ready in {took:.0f} s (installer output: {_shown(log, root)})"
        )


# -- compile ------------------------------------------------------------------------------------


def _uv(root: Path, text: str, *, log: Path) -> Path:
    """The lock's own uv, in a venv of its own under .cache (made once per uv version)."""
    version = pins(text).get("uv")
    if version is None:
        raise LockError(f"{LOCK_NAME} pins no uv: add uv to the {TOOLS_GROUP} group")
    home = root / ".cache" / "uv"
    uv = home / "bin" / "uv"
    if uv.exists():
        shown = subprocess.run(
            [str(uv), "--version"], capture_output=True, text=True, check=False
        ).stdout.split()
        if shown[1:2] == [version]:
            return uv
    _say(f"installing uv {version} from {LOCK_NAME} into {_shown(home, root)}")
    _install_block(_new_venv(home, log=log), text, "uv", log=log)
    return uv


def _resolve(uv: Path, root: Path, args: list[str], *, keep: str, log: Path, what: str) -> str:
    """One ``uv pip compile`` for CPython 3.11 on Linux x86_64, with hashes and wheels only."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        out.write_text(keep, encoding="utf-8")  # uv keeps the pins it finds in its output file
        argv = [str(uv), "pip", "compile", "--no-config", "--no-header", "--quiet", *args]
        argv += ["--generate-hashes", "--only-binary", ":all:"]
        argv += ["--python-version", PYTHON_VERSION, "--python-platform", PYTHON_PLATFORM]
        _run([*argv, "--output-file", str(out)], log=log, what=what, cwd=root)
        return out.read_text(encoding="utf-8")


def _write(path: Path, text: str) -> None:
    staging = path.with_name(path.name + ".tmp")
    try:
        staging.write_text(text, encoding="utf-8")
        staging.replace(path)
    except OSError as exc:
        raise LockError(f"cannot write {path}: {exc.strerror}") from exc


def compile_lock(root: Path, *, upgrade: bool) -> None:
    """Write both locks anew from pyproject.toml, keeping the pins that still fit."""
    stamp = f"{DIGEST_PREFIX}{digest(root)}\n"
    text = _lock_text(root)
    log = _log_file(root, "lock.log")
    uv = _uv(root, text, log=log)
    everything = ["pyproject.toml", "--all-extras", "--group", TOOLS_GROUP]
    if upgrade:
        everything.append("--upgrade")
    body = _resolve(uv, root, everything, keep=text, log=log, what="resolving pyproject.toml")
    new = f"{HEADER}{stamp}{body}"
    _write(root / LOCK_NAME, new)
    runtime = ["pyproject.toml", "--constraint", LOCK_NAME]  # the runtime at the tested versions
    runtime_body = _resolve(uv, root, runtime, keep="", log=log, what="resolving the runtime")
    _write(root / RUNTIME_LOCK_NAME, f"{RUNTIME_HEADER}{stamp}{runtime_body}")
    before, after = pins(text), pins(new)
    moved = sorted(name for name in after if before.get(name) != after[name])
    gone = sorted(set(before) - set(after))
    _say(
        f"{LOCK_NAME}: {len(after)} pins, {len(moved)} new or moved, {len(gone)} removed; "
        f"{RUNTIME_LOCK_NAME}: {len(pins(runtime_body))} of them"
    )
    for name in moved:
        _say(f"  {name} {before.get(name, '(new)')} -> {after[name]}")
    for name in gone:
        _say(f"  {name} {before[name]} removed")


# -- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line and exit 1."""
    parser = argparse.ArgumentParser(prog="scripts/lock.py", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the project (default: this one)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="is the lock made from pyproject.toml's dependencies?")
    install_cmd = commands.add_parser("install", help="make a venv hold exactly the lock")
    install_cmd.add_argument("venv", type=Path)
    compile_cmd = commands.add_parser("compile", help="regenerate the lock")
    compile_cmd.add_argument("--upgrade", action="store_true", help="move every pin to the newest")
    pins_cmd = commands.add_parser("pins", help="print the lock's pins")
    pins_cmd.add_argument("--runtime", action="store_true", help=f"those of {RUNTIME_LOCK_NAME}")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    try:
        if args.command == "check":
            check(root)
        elif args.command == "install":
            venv: Path = args.venv if args.venv.is_absolute() else root / args.venv
            install(root, venv)
        elif args.command == "compile":
            compile_lock(root, upgrade=args.upgrade)
        else:
            text = _lock_text(root, RUNTIME_LOCK_NAME if args.runtime else LOCK_NAME)
            for name, version in sorted(pins(text).items()):
                print(f"{name}=={version}")
    except LockError as exc:
        _say(str(exc))
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    if sys.version_info < (3, 11):  # noqa: UP036 - this line must run on an older Python to say so
        found = sys.version.split()[0]
        sys.exit(f"gitopsd: Python 3.11+ is needed; {sys.executable} is {found} (set PYTHON=)")
    sys.exit(main())
