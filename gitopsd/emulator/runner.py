"""`gitopsd emulator`: run the emulator as a process until SIGTERM or SIGINT.

Owns reading the --state file (YAML or JSON, the /_emulator/state shape), parsing --listen,
printing the URL and the accepted credentials, and the signal-driven shutdown (exit 0).
It is the only emulator module that reads files or installs signal handlers.
"""

from __future__ import annotations

import errno
import json
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TextIO

from ruamel.yaml import YAML

from gitopsd.emulator import problems, server


class StateFileError(Exception):
    """The --state file cannot be read or is not a state document."""


def load_state(path: Path) -> dict[str, object]:
    """Read a state document from a YAML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StateFileError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        document = json.loads(text) if path.suffix == ".json" else YAML(typ="safe").load(text)
    except Exception as exc:  # ruamel raises many unrelated types on bad input
        raise StateFileError(f"{path} is not valid YAML/JSON: {exc}") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StateFileError(f"{path}: the state document must be a mapping")
    return document


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT (HOST defaults to 127.0.0.1; PORT 0 picks a free port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen {text!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def _bind_failure(exc: OSError) -> str:
    """Why a bind failed, and what to do."""
    if exc.errno == errno.EADDRINUSE:
        return "another process is listening there; choose another port (0 picks a free one)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "that is not an address of this host; use one it has, e.g. 127.0.0.1"
    if exc.errno in {errno.EACCES, errno.EPERM}:
        return "permission denied (ports below 1024 need privileges); choose a port above 1024"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve; use an IP address"
    return exc.strerror or type(exc).__name__


def run(
    *,
    listen: str,
    state_path: Path | None,
    updating_s: float,
    seed: int,
    out: TextIO = sys.stdout,
) -> int:
    """Serve until SIGTERM/SIGINT; return the exit code (0 on a signal, 2 on bad input)."""
    try:
        host, port = parse_listen(listen)
        state = load_state(state_path) if state_path is not None else None
        emulator = server.Emulator(state, host=host, port=port, updating_s=updating_s, seed=seed)
    except (ValueError, StateFileError, problems.ApiProblemError) as exc:
        sys.stderr.write(f"gitopsd emulator: {exc}\n")
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    try:
        emulator.start()
    except OSError as exc:
        sys.stderr.write(f"gitopsd emulator: cannot listen on {listen}: {_bind_failure(exc)}\n")
        return 2
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with emulator:
            creds = emulator.credentials
            print(f"Atlas emulator listening on {emulator.url}", file=out)
            print(f"  service account: {creds.client_id} / {creds.client_secret}", file=out)
            print(f"  API key (digest): {creds.public_key} / {creds.private_key}", file=out)
            print(f"  admin: {emulator.url}/_emulator/state", file=out, flush=True)
            while not stop.wait(3600):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
