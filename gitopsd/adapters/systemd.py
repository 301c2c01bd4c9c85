"""sd_notify: tell systemd where the daemon is (READY, RELOADING, STOPPING, STATUS, WATCHDOG).

Owns the notification protocol of ``sd_notify(3)`` with the standard library only: one AF_UNIX
datagram per call, newline-separated ``KEY=VALUE`` lines, sent to ``$NOTIFY_SOCKET`` (a path, or
an abstract socket written with a leading ``@``). Without ``NOTIFY_SOCKET`` (not started by
systemd, or ``Type=`` is not ``notify``) every call is a no-op. It also reads the watchdog
contract (``WATCHDOG_USEC``, ``WATCHDOG_PID``) that ``WatchdogSec=`` sets.

A notification is advice to the service manager, never a reason to stop: every send returns
``True`` when the datagram left and ``False`` when there is no socket or sending failed (an
``OSError``, a timeout); nothing is raised and nothing is logged, so the caller decides.
It must not decide *when* to notify (``daemon`` does) and must not log.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Mapping

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"

STATUS_MAX_BYTES = 1024
"""STATUS= is cut to this size: systemd drops a whole datagram longer than its 4096-byte buffer."""
SEND_TIMEOUT_S = 5.0
"""A wedged service manager (full receive queue) must not hold a daemon thread for long."""

_BREAK = re.compile(r"[\s\x00-\x1f\x7f]*[\x00-\x1f\x7f][\s\x00-\x1f\x7f]*")
"""A run of blanks holding a control character (a line break, a tab, NUL): one space."""


def one_line(text: str, max_bytes: int = STATUS_MAX_BYTES) -> str:
    """``text`` as a STATUS= value: each line break (or other control run) as one space, bounded.

    systemd splits a datagram on newlines and refuses one holding a NUL byte, so neither may
    reach it; a value longer than ``max_bytes`` (UTF-8) is cut on a character boundary and ends
    with an ellipsis.
    """
    line = _BREAK.sub(" ", text).strip()
    encoded = line.encode()
    if len(encoded) <= max_bytes:
        return line
    ellipsis = "…"
    cut = encoded[: max_bytes - len(ellipsis.encode())].decode(errors="ignore")
    return cut.rstrip() + ellipsis


def socket_address(value: str) -> str | None:
    """The ``sendto`` address of a ``NOTIFY_SOCKET`` value; None when it names no AF_UNIX socket.

    ``/run/systemd/notify`` is a path; ``@name`` is the abstract socket NUL + ``name``. Anything
    else (empty, relative, ``vsock:`` of newer systemd) is not supported and disables notifying.
    """
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    return None


class Notifier:
    """The daemon's line to systemd; ``enabled`` is False (and every call a no-op) without one.

    Args:
        address: the socket to send to: a path, or NUL + name for an abstract socket;
            ``None`` disables notifying.
        watchdog_usec: ``WATCHDOG_USEC`` (the ``WatchdogSec=`` timeout), None when unset.
        watchdog_pid: ``WATCHDOG_PID`` (the process the watchdog is for), None when unset.

    Safe to use from several threads: a notification is one ``sendto`` on its own socket.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        watchdog_usec: int | None = None,
        watchdog_pid: int | None = None,
    ) -> None:
        self.address = address
        self.enabled = address is not None
        self.watchdog_usec = watchdog_usec
        self.watchdog_pid = watchdog_pid

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """A notifier for ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` of ``environ``.

        ``environ`` defaults to ``os.environ``. As with ``sd_watchdog_enabled(3)``, a
        WATCHDOG_USEC that is not a whole number means no watchdog, and a WATCHDOG_PID that is
        not a process id means the watchdog is not this process's.
        """
        env = os.environ if environ is None else environ
        pid_text = env.get(WATCHDOG_PID, "")
        return cls(
            socket_address(env.get(NOTIFY_SOCKET, "")),
            watchdog_usec=_whole(env.get(WATCHDOG_USEC, "")),
            watchdog_pid=(_whole(pid_text) or -1) if pid_text else None,
        )

    # -- the messages --------------------------------------------------------------------------

    def ready(self, status: str = "") -> bool:
        """READY=1: start-up (or a reload) is complete; with STATUS= when ``status`` is given."""
        return self.send("READY=1", *_status(status))

    def reloading(self, monotonic_usec: int | None = None, status: str = "") -> bool:
        """RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC in µs, read now when not given).

        systemd 253's ``Type=notify-reload`` requires MONOTONIC_USEC=; 252 ignores it. Send
        ``ready()`` when the reload is over, whether it succeeded or not.
        """
        usec = _monotonic_usec() if monotonic_usec is None else monotonic_usec
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", *_status(status))

    def stopping(self, status: str = "") -> bool:
        """STOPPING=1: the daemon is shutting down (after SIGTERM)."""
        return self.send("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        """STATUS=: one line for ``systemctl status`` (newlines become spaces, long text is cut)."""
        return self.send(f"STATUS={one_line(text)}")

    def watchdog(self) -> bool:
        """WATCHDOG=1: the keep-alive ping; send it only while the daemon makes progress."""
        return self.send("WATCHDOG=1")

    def watchdog_interval_s(self) -> float | None:
        """Seconds between pings: half of WATCHDOG_USEC, or None when there is no watchdog.

        None as well when WATCHDOG_PID names another process (the variables were inherited).
        """
        if not self.watchdog_usec or self.watchdog_usec <= 0:
            return None
        if self.watchdog_pid is not None and self.watchdog_pid != os.getpid():
            return None
        return self.watchdog_usec / 2 / 1_000_000

    # -- the socket ----------------------------------------------------------------------------

    def send(self, *assignments: str) -> bool:
        """One datagram of ``KEY=VALUE`` lines; False when disabled, closed or sending failed.

        Like ``sd_notify(3)``, each call opens its own socket: a handful of datagrams a minute
        cost nothing, and no descriptor outlives the call or is shared between threads.
        """
        if not self.enabled or self.address is None:
            return False
        data = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.settimeout(SEND_TIMEOUT_S)
                sock.sendto(data, self.address)
        except OSError:
            return False
        return True

    def close(self) -> None:
        """Stop notifying: later calls send nothing and ``enabled`` turns False. Idempotent."""
        self.enabled = False


def _status(text: str) -> tuple[str, ...]:
    return (f"STATUS={one_line(text)}",) if text else ()


def _whole(value: str) -> int | None:
    """A whole number written in ASCII digits only, as systemd writes it; else None."""
    return int(value) if value.isascii() and value.isdigit() else None


def _monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
