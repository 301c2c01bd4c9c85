"""The state directory (``[state] dir``): made usable or refused in one line, held by one process.

Owns creating the directory, checking that this user can write in it, and the lock file that
keeps two gitopsd processes (a daemon and an ``apply``, or two daemons) from sharing it: they
would race on the clone, the state database and the report branch. The lock is an ``flock``
on ``gitopsd.lock``, released by the kernel when the process ends, whatever way it ends.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from gitopsd.errors import ConfigError, StateLockedError

LOCK_FILE = "gitopsd.lock"
_WHAT_TO_DO = "set [state] dir to a directory this user can create and write"


def prepare(directory: Path) -> Path:
    """Create ``directory`` (and its parents) if needed; ConfigError when it cannot be used."""
    shown = f"[state] dir {directory}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        if directory.is_symlink():
            raise ConfigError(
                f"{shown} is a symbolic link that leads to no directory: {_WHAT_TO_DO}"
            ) from None
        raise ConfigError(f"{shown} is a file, not a directory: {_WHAT_TO_DO}") from None
    except NotADirectoryError:
        raise ConfigError(
            f"{shown} cannot be created: a part of that path is a file: {_WHAT_TO_DO}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{shown} cannot be created ({_reason(exc)}): {_WHAT_TO_DO}") from None
    return directory


def _reason(exc: OSError) -> str:
    if exc.errno in {errno.EACCES, errno.EPERM}:
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return exc.strerror or type(exc).__name__


@contextlib.contextmanager
def lock(directory: Path) -> Iterator[None]:
    """Hold ``<directory>/gitopsd.lock`` (which holds this process's pid) while the block runs.

    Raises ConfigError when the directory cannot be made or written, StateLockedError when
    another process holds it.
    """
    prepare(directory)
    path = directory / LOCK_FILE
    try:
        handle = path.open("a+", encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory: remove it; it is gitopsd's lock file") from None
    except OSError as exc:
        raise ConfigError(
            f"[state] dir {directory} cannot be written ({_reason(exc)}): {_WHAT_TO_DO}"
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise StateLockedError(
                f"another gitopsd (pid {holder}) is using the state directory {directory}: stop it,"
                " or give this one its own [state] dir (GITOPSD_STATE_DIR)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
