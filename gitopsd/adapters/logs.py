"""structlog setup: JSON lines to stdout for journald, a readable console on a TTY.

Owns the one logging configuration of the process (``configure``, called once from ``cli``;
calling it again replaces it), the context every line carries (``bind``: ``cycle_id``,
``project_id``, ``cluster``), and redaction: every string that reaches output, including
exception text, URLs and lines from stdlib ``logging`` (``atlas``, ``forge``, apscheduler),
has each secret registered in ``credentials`` replaced by ``***`` (with its URL-encoded,
JSON-escaped and base64 forms), and URL userinfo scrubbed. It must not decide what to log;
callers do, with snake_case facts as events (``schedule_patched``) and stable keys.

Context lives in ``contextvars``: a new thread starts with an empty context, so code that
hands work to a thread or a pool carries it over explicitly, e.g.
``pool.submit(contextvars.copy_context().run, fn, *args)``.
"""

from __future__ import annotations

import base64
import contextlib
import json as jsonlib
import logging
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from re import Pattern
from typing import TextIO
from urllib.parse import quote, quote_plus

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from gitopsd import credentials
from gitopsd.adapters import git_access
from gitopsd.errors import ConfigError

REDACTED = "***"
QUIET = ("httpx", "httpcore", "apscheduler")
"""Libraries that log every request or job run at INFO: only their warnings are kept
unless the level is ``debug``."""


def configure(
    *, json: bool | None = None, level: str = "info", stream: TextIO | None = None
) -> None:
    """Send structlog and stdlib ``logging`` through one pipeline to ``stream`` (stdout).

    ``json=None`` picks JSON lines when ``stream`` is not a TTY (journald, a pipe, a file)
    and the console renderer otherwise; colors only on a TTY. A second call replaces the
    first: one handler, never two. ConfigError for an unknown ``level``.
    """
    level_no = logging.getLevelNamesMapping().get(level.upper())
    if level_no is None:
        raise ConfigError(f"unknown log level {level!r}: use debug, info, warning or error")
    out = sys.stdout if stream is None else stream
    tty = _isatty(out)
    as_json = not tty if json is None else json
    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if as_json
        else structlog.dev.ConsoleRenderer(
            colors=tty, exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(ignore_frame_names=[__name__]),
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_event,
            _Redacted(renderer),
        ],
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    handler = _Handler(out)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level_no)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level_no, logging.WARNING))


def get(name: str | None = None) -> structlog.typing.FilteringBoundLogger:
    """A logger; ``name`` (the module's ``__name__``) is the ``logger`` key of its lines."""
    logger: structlog.typing.FilteringBoundLogger = (
        structlog.get_logger() if name is None else structlog.get_logger(name)
    )
    return logger


def bind(**values: object) -> contextlib.AbstractContextManager[None]:
    """Add ``values`` to every line logged in this context until the block ends (nestable).

    The context is the current thread's (``contextvars``): a thread started inside the block
    sees it only when run through ``contextvars.copy_context().run``.
    """
    return _bound(values)


@contextlib.contextmanager
def _bound(values: dict[str, object]) -> Iterator[None]:
    with structlog.contextvars.bound_contextvars(**values):
        yield


def redact(text: str) -> str:
    """``text`` with every registered secret (and its encoded forms) and URL userinfo as ***."""
    text = git_access.scrub(text)
    pattern = _pattern()
    return text if pattern is None else pattern.sub(REDACTED, text)


def redact_event(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Redact every value of ``event_dict``, nested ones too; other objects become strings.

    The last processor before rendering, after exceptions are formatted into ``exception``.
    """
    return {key: _redact_value(value) for key, value in event_dict.items()}


def _redact_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redact_value(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(item) for item in value]
    return redact(str(value))


@dataclass(frozen=True, slots=True)
class _Redacted:
    """The renderer, with its output redacted once more (for anything it formats itself)."""

    renderer: Processor

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> str:
        rendered = self.renderer(logger, name, event_dict)
        return redact(rendered if isinstance(rendered, str) else str(rendered))


class _Handler(logging.StreamHandler[TextIO]):
    """The handler ``configure`` installs on the root logger (and removes on the next call)."""


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


@dataclass(frozen=True, slots=True)
class _Compiled:
    secrets: tuple[str, ...]
    pattern: Pattern[str] | None


_cache: list[_Compiled] = [_Compiled(secrets=(), pattern=None)]


def _pattern() -> Pattern[str] | None:
    """One regex for all forms of all registered secrets, rebuilt when the registry changes."""
    secrets = credentials.known()
    cached = _cache[0]
    if cached.secrets is secrets:
        return cached.pattern
    forms = {form for secret in secrets for form in _forms(secret)}
    longest_first = sorted(forms, key=lambda form: (-len(form), form))
    pattern = re.compile("|".join(map(re.escape, longest_first))) if forms else None
    _cache[0] = _Compiled(secrets=secrets, pattern=pattern)
    return pattern


def _forms(secret: str) -> set[str]:
    """``secret`` as text, URL-encoded, JSON-escaped and inside base64 at any alignment.

    Base64 of ``prefix + secret`` (``Basic user:secret``) contains the secret's own characters
    only between its first and last partial 6-bit groups: those middles are what is matched.
    """
    forms = {secret, quote(secret, safe=""), quote_plus(secret), jsonlib.dumps(secret)[1:-1]}
    raw = secret.encode()
    for shift in range(3):
        padded = b"\0" * shift + raw
        start, end = -(-8 * shift // 6), 8 * len(padded) // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.add(encode(padded).decode("ascii")[start:end])
    return {form for form in forms if len(form) >= credentials.MIN_REDACTED_LEN}
