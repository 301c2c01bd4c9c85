"""Progress of a long command on a terminal: one status line on standard error, redrawn in place.

Owns drawing and erasing that line. ``TerminalProgress`` is a ``reconcile.Progress``: the cycle
says which phase it is in and ticks each cluster done, and the Atlas client reports every
answer, so the line can say how far the phase is, how long it has taken, and how many
requests are being retried. A thread redraws it twice a second, so an Atlas that never answers
still shows the seconds passing. Off a terminal nothing is drawn (``for_stream`` gives None).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from types import TracebackType
from typing import Self, TextIO

_REDRAW_S = 0.5
_ERASE = "\r\033[K"


class TerminalProgress:
    """The status line of one command; use it as a context manager around the work."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._drawing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._phase = ""
        self._total = 0
        self._done = 0
        self._phase_at = time.monotonic()
        self._retries = 0
        self._shown = False

    @classmethod
    def for_stream(cls, stream: TextIO) -> TerminalProgress | None:
        """A progress line on ``stream`` if it is a terminal that can redraw a line, else None."""
        try:
            interactive = stream.isatty()
        except (AttributeError, ValueError):
            return None
        if not interactive or os.environ.get("TERM") == "dumb":
            return None
        return cls(stream)

    # -- reconcile.Progress ----------------------------------------------------------------------

    def phase(self, name: str, total: int) -> None:
        """A new phase of ``total`` clusters (0: not counted in clusters)."""
        with self._lock:
            self._phase, self._total, self._done = name, total, 0
            self._phase_at = time.monotonic()
        self._draw()

    def tick(self) -> None:
        """One more cluster done in this phase."""
        with self._lock:
            self._done += 1

    def on_response(self, _method: str, status: int) -> None:
        """An Atlas answer (status 0: none came); failures that are retried are counted."""
        if status in {0, 429} or status >= 500:
            with self._lock:
                self._retries += 1

    # -- drawing ---------------------------------------------------------------------------------

    def line(self) -> str:
        """The status line as it stands."""
        with self._lock:
            phase, total, done = self._phase, self._total, self._done
            elapsed_s = time.monotonic() - self._phase_at
            retries = self._retries
        parts = [f"gitopsd: {phase or 'starting'}"]
        if total:
            parts.append(f"{done}/{total} cluster{'' if total == 1 else 's'}")
        parts.append(f"{elapsed_s:.0f} s")
        if retries:
            parts.append(f"{retries} Atlas request{'' if retries == 1 else 's'} retried")
        return " · ".join(parts)

    def _draw(self) -> None:
        text = self.line()
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns or 80
        except (OSError, ValueError):
            columns = 80  # a terminal that does not say its width
        with self._drawing:
            if self._stop.is_set():
                return
            try:
                self._stream.write(_ERASE + text[: max(columns - 1, 10)])
                self._stream.flush()
            except (OSError, ValueError):
                self._stop.set()  # the terminal went away: stop drawing; the work goes on
                return
            self._shown = True

    def _run(self) -> None:
        while not self._stop.wait(_REDRAW_S):
            self._draw()

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="gitopsd-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._drawing, contextlib.suppress(OSError, ValueError):
            if self._shown:
                self._stream.write(_ERASE)
                self._stream.flush()
