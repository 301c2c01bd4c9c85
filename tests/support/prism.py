"""Stoplight Prism serving ``atlas-backup-mock.yaml`` (or any other contract), as pytest fixtures.

``prism_url`` (session scope) starts ``prism mock <spec> --host 127.0.0.1 --port <free> --errors``
once and yields its base URL, e.g. ``http://127.0.0.1:41234``; append ``/api/atlas/v2/...``.
With ``--errors`` an invalid request gets an error response instead of the example: the
operation's documented 400 (``sl-violations`` header lists what is wrong) or, when it documents
none, Prism's own 422; 401 without credentials, 406 for an Accept media type the operation lacks.
Responses are the spec's static examples (no ``--dynamic``), so they are deterministic.

Credentials: send ``Authorization: Bearer <anything>`` (the ServiceAccounts OAuth2 scheme).
HTTP digest cannot pass: the spec's 401 carries no ``WWW-Authenticate`` challenge, and Prism only
accepts digest parameters that are quoted lowercase letters and digits (no ``uri="/api/..."``).

``prism_for`` (session scope) is a factory for other contracts: ``prism_for(spec_path)`` starts
Prism on that file (once per session and file, same flags) and returns its base URL; it skips
(fails in CI) when Prism or the file is missing. Prism routes Swagger 2.0 paths without their
``basePath``.

Prism is ``$GITOPSD_PRISM``, else ``.cache/prism/node_modules/.bin/prism`` (``make`` installs it
there with npm), else ``prism`` on ``PATH``. Without it the tests skip; in CI (``CI=true``) they
fail. Register the fixtures with ``pytest_plugins = ["support.prism"]``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.openapi import mock_spec_path, skip_or_fail

REPO = Path(__file__).resolve().parents[2]
PRISM_ENV = "GITOPSD_PRISM"
LOCAL_PRISM = REPO / ".cache" / "prism" / "node_modules" / ".bin" / "prism"
INSTALL_HINT = "make prism (npm ci from scripts/prism/package-lock.json)"
HOST = "127.0.0.1"
READY_LINE = "Prism is listening on"
START_TIMEOUT = 30.0  # seconds; Prism 5.14 on Node 20 is usually ready in about 2
STOP_TIMEOUT = 5.0
POLL_INTERVAL = 0.05
PORT_ATTEMPTS = 3


class PrismError(RuntimeError):
    """Prism did not start, or exited while starting."""


def prism_binary() -> Path | None:
    """The Prism executable to use, or None when none is installed."""
    override = os.environ.get(PRISM_ENV)
    if override:
        return Path(override)
    if LOCAL_PRISM.is_file():
        return LOCAL_PRISM
    found = shutil.which("prism")
    return Path(found) if found else None


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate Prism and anything it forked (its own process group); kill if it lingers."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            continue
        return


def _wait_until_listening(process: subprocess.Popen[bytes], log: Path, port: int) -> None:
    """Return once Prism logs that it listens and accepts a connection; raise on exit or timeout."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrismError(f"Prism exited with {process.returncode}:\n{_tail(log)}")
        if READY_LINE in log.read_text(encoding="utf-8", errors="replace"):
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
                return
        time.sleep(POLL_INTERVAL)
    raise PrismError(f"Prism not listening after {START_TIMEOUT:.0f}s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def run_prism(binary: Path, spec: Path, log: Path) -> Iterator[str]:
    """Run ``prism mock`` on a free loopback port; yield its base URL; stop it afterwards.

    Prism's output goes to ``log``. A port taken between choosing and binding is retried.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        command = [str(binary), "mock", str(spec), "--host", HOST, "--port", str(port), "--errors"]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as a whole
            )
        try:
            _wait_until_listening(process, log, port)
        except PrismError:
            _stop(process)
            if "EADDRINUSE" in log.read_text(errors="replace") and attempt < PORT_ATTEMPTS:
                continue
            raise
        try:
            yield f"http://{HOST}:{port}"
        finally:
            _stop(process)
        return


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of Prism mocking atlas-backup-mock.yaml; skip (fail in CI) without Prism."""
    spec = mock_spec_path()
    binary = prism_binary()
    if binary is None or not binary.is_file():
        skip_or_fail(f"Stoplight Prism not found ({binary or LOCAL_PRISM}); run: {INSTALL_HINT}")
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with run_prism(binary, spec, log) as url:
        yield url


@pytest.fixture(scope="session")
def prism_for(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], str]]:
    """A factory: Prism mocking the given contract file, started on first use; its base URL."""
    started: dict[Path, str] = {}
    with contextlib.ExitStack() as running:

        def serve(spec: Path) -> str:
            spec = spec.resolve()
            if spec not in started:
                if not spec.is_file():
                    skip_or_fail(f"API contract not found: {spec}")
                binary = prism_binary()
                if binary is None or not binary.is_file():
                    where = binary or LOCAL_PRISM
                    skip_or_fail(f"Stoplight Prism not found ({where}); run: {INSTALL_HINT}")
                log = tmp_path_factory.mktemp("prism") / "prism.log"
                started[spec] = running.enter_context(run_prism(binary, spec, log))
            return started[spec]

        yield serve
