"""Git over SSH on 127.0.0.1: an asyncssh server that runs git-upload-pack/git-receive-pack.

``GitSshServer`` accepts one client public key, presents a host key generated for the test,
and runs the git command the client asks for on a bare repository under its root, piping the
SSH channel to the subprocess. It runs its own event loop in a thread; start and stop wait on
events, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

import asyncssh

_COMMANDS = {"git-upload-pack": "upload-pack", "git-receive-pack": "receive-pack"}
_CHUNK = 65536


class GitSshServer:
    """Bare repositories under ``root`` over SSH, for the holder of ``client_key``."""

    def __init__(self, root: Path, *, client_key: Path) -> None:
        self.root = root.resolve()
        self.client_key = client_key
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._failure: BaseException | None = None

    def url(self, name: str) -> str:
        """The ssh:// URL of repository ``name`` under the root."""
        return f"ssh://git@127.0.0.1:{self.port}/{name}"

    def known_hosts(self, path: Path, *, key: asyncssh.SSHKey | None = None) -> Path:
        """Write a known_hosts file naming this server with its host key (or ``key``)."""
        public = (key or self.host_key).export_public_key().decode().split()[:2]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"[127.0.0.1]:{self.port} {' '.join(public)}\n", encoding="utf-8")
        return path

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(timeout=20) or self._failure is not None:
            raise RuntimeError(f"the SSH server did not start: {self._failure!r}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=20)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            acceptor = self._loop.run_until_complete(
                asyncssh.listen(
                    "127.0.0.1",
                    0,
                    server_host_keys=[self.host_key],
                    authorized_client_keys=str(self.client_key),
                    process_factory=self._handle,
                    encoding=None,
                    allow_scp=False,
                )
            )
        except BaseException as exc:  # reported to __enter__, which raises it
            self._failure = exc
            self._ready.set()
            raise
        self.port = acceptor.get_port()
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            acceptor.close()
            self._loop.run_until_complete(acceptor.wait_closed())
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        words = shlex.split(process.command or "")
        repo = (self.root / words[-1].lstrip("/")).resolve() if len(words) == 2 else None
        if repo is None or words[0] not in _COMMANDS or not repo.is_relative_to(self.root):
            process.stderr.write(b"this server only runs git-upload-pack/git-receive-pack\n")
            process.exit(1)
            return
        child = await asyncio.create_subprocess_exec(
            "git",
            _COMMANDS[words[0]],
            str(repo),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        assert child.stderr is not None
        feeding = asyncio.ensure_future(_feed(process.stdin, child.stdin))
        await asyncio.gather(
            _drain(child.stdout, process.stdout), _drain(child.stderr, process.stderr)
        )
        status = await child.wait()
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding
        process.exit(status)


async def _feed(source: asyncssh.SSHReader[bytes], sink: asyncio.StreamWriter) -> None:
    """Copy the client's input to git until either side closes."""
    with contextlib.suppress(ConnectionError):
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
        sink.close()


async def _drain(source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes]) -> None:
    """Copy git's output to the client until git closes it."""
    while data := await source.read(_CHUNK):
        sink.write(data)
