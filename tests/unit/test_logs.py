"""Logs: JSON lines or console, bound context, and secrets redacted from every line."""

from __future__ import annotations

import base64
import contextvars
import io
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import structlog

from gitopsd import credentials
from gitopsd.adapters import logs
from gitopsd.errors import ConfigError


class FakeTty(io.StringIO):
    """A terminal as far as ``isatty`` can tell."""

    def isatty(self) -> bool:
        """Always a terminal."""
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Leave the root logger, the quiet libraries and structlog as the test found them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET}
    config = structlog.get_config()
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    for name, was in quiet.items():
        logging.getLogger(name).setLevel(was)
    structlog.reset_defaults()
    structlog.configure(**config)


@pytest.fixture
def secret() -> str:
    """A fresh secret value, registered to be kept."""
    value = "sk-" + secrets.token_urlsafe(24)
    credentials.register(value)
    return value


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    """Every line written, parsed."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_event_level_timestamp_and_bound_keys():
    """Off a TTY each line is a JSON object with the fact, its level, a UTC time and context."""
    out = io.StringIO()
    logs.configure(stream=out)
    with logs.bind(cycle_id="c-1", project_id="p-1"), logs.bind(cluster="Cluster0"):
        logs.get(__name__).info("schedule_patched", attempt=1)
    [line] = json_lines(out)
    assert line["event"] == "schedule_patched"
    assert line["level"] == "info"
    assert str(line["timestamp"]).endswith("Z")
    assert (line["cycle_id"], line["project_id"], line["cluster"]) == ("c-1", "p-1", "Cluster0")
    assert (line["attempt"], line["logger"]) == (1, __name__)


def test_json_keys_are_sorted():
    """Lines are stable: keys in sorted order."""
    out = io.StringIO()
    logs.configure(stream=out)
    logs.get(__name__).info("cycle_finished", zeta=1, alpha=2)
    keys = list(json_lines(out)[0])
    assert keys == sorted(keys)


def test_console_on_a_tty_is_readable_not_json():
    """On a terminal the line is for people: the event and key=value pairs, in color."""
    out = FakeTty()
    logs.configure(stream=out)
    with logs.bind(cycle_id="c-1"):
        logs.get(__name__).info("cycle_finished")
    text = out.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert "cycle_finished" in text
    assert "cycle_id" in text
    assert "\x1b[" in text


def test_forced_console_off_a_tty_has_no_colors():
    """json=False on a pipe gives the console format without escape codes."""
    out = io.StringIO()
    logs.configure(json=False, stream=out)
    logs.get(__name__).info("cycle_finished", cycle_id="c-1")
    assert "cycle_finished" in out.getvalue()
    assert "\x1b[" not in out.getvalue()


def test_forced_json_on_a_tty_is_json():
    """json=True wins over the terminal."""
    out = FakeTty()
    logs.configure(json=True, stream=out)
    logs.get(__name__).info("cycle_finished")
    assert json_lines(out)[0]["event"] == "cycle_finished"


def test_stdlib_logging_lines_share_the_format_and_context():
    """A stdlib logger's record (atlas, apscheduler) is a JSON line with its extras and context."""
    out = io.StringIO()
    logs.configure(stream=out)
    with logs.bind(cycle_id="c-1"):
        logging.getLogger("gitopsd.adapters.atlas").info(
            "atlas_retry", extra={"attempt": 2, "delay_s": 1.5, "path": "/api"}
        )
    [line] = json_lines(out)
    assert line["event"] == "atlas_retry"
    assert (line["attempt"], line["delay_s"], line["path"]) == (2, 1.5, "/api")
    assert (line["level"], line["logger"], line["cycle_id"]) == (
        "info",
        "gitopsd.adapters.atlas",
        "c-1",
    )


def test_exception_is_a_string_field():
    """A traceback is one ``exception`` string in the JSON line."""
    out = io.StringIO()
    logs.configure(stream=out)
    try:
        raise ValueError("boom")  # noqa: TRY301
    except ValueError:
        logs.get(__name__).exception("cycle_failed")
    [line] = json_lines(out)
    assert line["level"] == "error"
    assert isinstance(line["exception"], str)
    assert "ValueError: boom" in line["exception"]


def _raise_and_log(value: str) -> None:
    try:
        raise RuntimeError(f"token {value} refused")  # noqa: TRY301
    except RuntimeError:
        logs.get(__name__).exception("push_failed")


def _raise_and_log_stdlib(value: str) -> None:
    try:
        raise RuntimeError(f"token {value} refused")  # noqa: TRY301
    except RuntimeError:
        logging.getLogger("apscheduler.executors.default").exception("job_failed")


def _log_bound(value: str) -> None:
    with logs.bind(token=value):
        logs.get(__name__).info("token_bound")


EMITTERS: dict[str, Callable[[str], None]] = {
    "event field": lambda value: logs.get(__name__).info("token_used", token=value),
    "event itself": lambda value: logs.get(__name__).info(f"token {value}"),
    "nested dict": lambda value: logs.get(__name__).info("sent", body={"a": [{"b": value}]}),
    "dict key": lambda value: logs.get(__name__).info("sent", body={value: 1}),
    "object": lambda value: logs.get(__name__).info("failed", error=ValueError(value)),
    "exception": _raise_and_log,
    "stdlib exception": _raise_and_log_stdlib,
    "stdlib args": lambda value: logging.getLogger("x").warning("bad %s", value),
    "stdlib extra": lambda value: logging.getLogger("x").info("retry", extra={"path": value}),
    "url-encoded": lambda value: logs.get(__name__).info("get", url="/a?t=" + quote(value)),
    "bound": _log_bound,
    "basic auth": lambda value: logs.get(__name__).info(
        "sent", header="Basic " + base64.b64encode(f"x-access-token:{value}".encode()).decode()
    ),
}


@pytest.mark.parametrize("json_mode", [True, False], ids=["json", "console"])
@pytest.mark.parametrize("emit", EMITTERS.values(), ids=EMITTERS.keys())
def test_registered_secret_never_reaches_output(secret, emit, json_mode):
    """However a registered secret is logged, the line shows *** instead."""
    out = io.StringIO()
    logs.configure(json=json_mode, stream=out)
    emit(secret)
    text = out.getvalue()
    assert text
    assert secret not in text
    assert quote(secret) not in text
    assert base64.b64encode(secret.encode()).decode()[:-4] not in text
    assert "***" in text


def test_redact_replaces_encoded_forms(secret):
    """Plain, URL-encoded and base64 (at any offset) forms of a secret all become ***."""
    for prefix in ("", "a:", "ab:", "abc:"):
        basic = base64.b64encode(f"{prefix}{secret}".encode()).decode()
        assert "***" in logs.redact(basic)
        assert len(logs.redact(basic)) < len(basic) - len(secret)
    assert logs.redact(f"/x?t={quote(secret, safe='')}&y=1") == "/x?t=***&y=1"
    assert logs.redact(f"a {secret} b {secret}") == "a *** b ***"


def test_redact_scrubs_url_userinfo():
    """Credentials written into a URL never show, registered or not."""
    assert logs.redact("fetch https://user:pw@example.com/r.git") == (
        "fetch https://***@example.com/r.git"
    )


def test_redact_leaves_text_without_secrets_alone(secret):
    """Lines without a secret are unchanged."""
    assert logs.redact("cycle finished in 3s") == "cycle finished in 3s"


def test_short_values_are_not_registered():
    """A value shorter than MIN_REDACTED_LEN would mangle lines: it is not registered."""
    short = secrets.token_hex(credentials.MIN_REDACTED_LEN // 2)[:-1]
    credentials.register(short)
    assert short not in credentials.known()
    assert logs.redact(f"x {short} y") == f"x {short} y"


def test_read_secret_from_a_file_is_registered(tmp_path: Path):
    """A secret read through read_secret is redacted from then on."""
    value = "tok-" + secrets.token_hex(16)
    path = tmp_path / "git_token"
    path.write_text(value + "\n", encoding="utf-8")
    secret = credentials.read_secret("git_token", file=str(path), environ={})
    assert secret is not None
    assert value in credentials.known()
    assert logs.redact(f"push with {value}") == "push with ***"


def test_loaded_atlas_secrets_are_registered_and_ids_are_not(tmp_path: Path):
    """credentials.load registers the private key and client secret, not the identifiers."""
    public, private = "pub" + secrets.token_hex(4), secrets.token_hex(18)
    client_id, client_secret = "mdb_sa_id_" + secrets.token_hex(6), secrets.token_hex(18)
    directory = tmp_path / "creds"
    directory.mkdir()
    for name, value in {"atlas_public_key": public, "atlas_private_key": private}.items():
        (directory / name).write_text(value, encoding="utf-8")
    credentials.load(environ={"CREDENTIALS_DIRECTORY": str(directory)})
    (tmp_path / "id").write_text(client_id, encoding="utf-8")
    (tmp_path / "secret").write_text(client_secret, encoding="utf-8")
    credentials.load(
        client_id_file=str(tmp_path / "id"), client_secret_file=str(tmp_path / "secret"), environ={}
    )
    known = credentials.known()
    assert private in known
    assert client_secret in known
    assert public not in known
    assert client_id not in known


def test_every_secret_object_is_registered():
    """A Secret made anywhere (an access token) is redacted, and never printed by the registry."""
    value = secrets.token_urlsafe(24)
    credentials.Secret(value)
    assert value in credentials.known()
    assert value not in repr(credentials._REGISTRY)


def test_short_lived_secrets_are_bounded():
    """Only the newest RECENT_MAX short-lived secrets stay; kept ones are never dropped."""
    kept = "kept-" + secrets.token_hex(8)
    credentials.register(kept)
    tokens = [secrets.token_urlsafe(16) for _ in range(credentials.RECENT_MAX + 1)]
    for token in tokens:
        credentials.register(token, keep=False)
    known = credentials.known()
    assert tokens[0] not in known
    assert all(token in known for token in tokens[1:])
    assert kept in known


def test_configure_twice_writes_each_line_once():
    """A second configure replaces the first: one handler, one line per event."""
    first, second = io.StringIO(), io.StringIO()
    logs.configure(stream=first)
    logs.configure(stream=second)
    logs.get(__name__).info("cycle_finished")
    logging.getLogger("x").info("stdlib_line")
    assert first.getvalue() == ""
    assert [line["event"] for line in json_lines(second)] == ["cycle_finished", "stdlib_line"]


def test_level_filters_lower_levels():
    """Below the configured level nothing is written, from structlog or stdlib."""
    out = io.StringIO()
    logs.configure(level="warning", stream=out)
    logs.get(__name__).info("quiet")
    logging.getLogger("x").info("quiet_too")
    logs.get(__name__).warning("loud")
    assert [line["event"] for line in json_lines(out)] == ["loud"]


def test_noisy_libraries_keep_only_warnings_at_info():
    """httpx's per-request INFO lines stay out unless the level is debug."""
    out = io.StringIO()
    logs.configure(stream=out)
    logging.getLogger("httpx").info("HTTP Request: GET /")
    logging.getLogger("httpx").warning("pool_full")
    assert [line["event"] for line in json_lines(out)] == ["pool_full"]


def test_unknown_level_is_a_config_error():
    """A level logging does not know is refused."""
    with pytest.raises(ConfigError, match="verbose"):
        logs.configure(level="verbose", stream=io.StringIO())


def test_logger_name_defaults_to_the_calling_module():
    """get() without a name names the caller's module, not the logs adapter."""
    out = io.StringIO()
    logs.configure(stream=out)
    logs.get().info("cycle_finished")
    assert json_lines(out)[0]["logger"] == __name__


def test_binding_ends_with_its_block():
    """Leaving a nested bind restores the outer context; leaving the outer clears it."""
    out = io.StringIO()
    logs.configure(stream=out)
    log = logs.get(__name__)
    with logs.bind(cycle_id="c-1", cluster="A"):
        with logs.bind(cluster="B"):
            log.info("inner")
        log.info("outer")
    log.info("after")
    inner, outer, after = json_lines(out)
    assert (inner["cycle_id"], inner["cluster"]) == ("c-1", "B")
    assert (outer["cycle_id"], outer["cluster"]) == ("c-1", "A")
    assert "cycle_id" not in after
    assert "cluster" not in after


def test_binding_reaches_a_thread_only_through_a_copied_context():
    """A new thread starts without the context unless run through copy_context()."""
    out = io.StringIO()
    logs.configure(stream=out)
    log = logs.get(__name__)
    with logs.bind(cycle_id="c-1"):
        plain = threading.Thread(target=log.info, args=("plain_thread",))
        copied = threading.Thread(
            target=contextvars.copy_context().run, args=(log.info, "copied_thread")
        )
        for thread in (plain, copied):
            thread.start()
            thread.join()
    lines = {line["event"]: line for line in json_lines(out)}
    assert "cycle_id" not in lines["plain_thread"]
    assert lines["copied_thread"]["cycle_id"] == "c-1"


def test_binding_in_one_thread_does_not_leak_to_another():
    """Context bound in a worker stays in that worker."""
    out = io.StringIO()
    logs.configure(stream=out)
    log = logs.get(__name__)
    bound, release = threading.Event(), threading.Event()

    def worker() -> None:
        with logs.bind(cluster="worker"):
            bound.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    bound.wait(10)
    log.info("main_thread")
    release.set()
    thread.join()
    assert "cluster" not in json_lines(out)[0]
