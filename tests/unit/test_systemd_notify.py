"""sd_notify over real AF_UNIX datagram sockets: the exact datagrams, the no-op, the watchdog."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from gitopsd.adapters import systemd

NOTIFY_BUFFER_MAX = 4096  # systemd ignores a notification longer than its buffer


@pytest.fixture
def receiver(tmp_path) -> Iterator[tuple[str, socket.socket]]:
    """A bound datagram socket standing in for systemd, and its NOTIFY_SOCKET value."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(0.0)  # non-blocking: recv() never waits
        yield str(path), sock


@pytest.fixture
def abstract_receiver() -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket in the abstract namespace, and its ``@name`` NOTIFY_SOCKET value."""
    name = f"gitopsd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(0.0)  # non-blocking: recv() never waits
        yield "@" + name, sock


def notifier_for(value: str, **more: str) -> systemd.Notifier:
    """A notifier built from an environment with ``NOTIFY_SOCKET=value``."""
    return systemd.Notifier.from_environ({"NOTIFY_SOCKET": value, **more})


def received(sock: socket.socket) -> list[str]:
    """Every datagram waiting on ``sock`` (delivery over AF_UNIX is synchronous)."""
    out = []
    while True:
        try:
            out.append(sock.recv(65536).decode())
        except BlockingIOError:
            return out


def test_ready_sends_ready_and_status_in_one_datagram(receiver):
    """READY=1 and STATUS= arrive together, as one datagram."""
    value, sock = receiver
    notifier = notifier_for(value)
    assert notifier.enabled
    assert notifier.ready(status="watching main")
    assert received(sock) == ["READY=1\nSTATUS=watching main"]


def test_ready_without_status_sends_only_ready(receiver):
    """No STATUS= line when there is no status."""
    value, sock = receiver
    assert notifier_for(value).ready()
    assert received(sock) == ["READY=1"]


def test_abstract_socket_receives_notifications(abstract_receiver):
    """A NOTIFY_SOCKET starting with '@' names a socket in the abstract namespace."""
    value, sock = abstract_receiver
    notifier = notifier_for(value)
    assert notifier.watchdog()
    assert notifier.ready(status="up")
    assert received(sock) == ["WATCHDOG=1", "READY=1\nSTATUS=up"]


def test_reloading_sends_the_monotonic_timestamp_given(receiver):
    """RELOADING=1 carries MONOTONIC_USEC= as passed by the caller."""
    value, sock = receiver
    assert notifier_for(value).reloading(123456789)
    assert received(sock) == ["RELOADING=1\nMONOTONIC_USEC=123456789"]


def test_reloading_reads_clock_monotonic_when_no_timestamp_is_given(receiver):
    """Without an argument MONOTONIC_USEC= is CLOCK_MONOTONIC now, in microseconds."""
    value, sock = receiver
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier_for(value).reloading(status="re-reading")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    [datagram] = received(sock)
    first, usec, status = datagram.split("\n")
    assert first == "RELOADING=1"
    assert status == "STATUS=re-reading"
    assert usec.startswith("MONOTONIC_USEC=")
    assert before <= int(usec.removeprefix("MONOTONIC_USEC=")) <= after


def test_stopping_sends_stopping_and_status(receiver):
    """STOPPING=1 with the reason as STATUS=."""
    value, sock = receiver
    assert notifier_for(value).stopping(status="stopping: finishing the cycle in flight")
    assert received(sock) == ["STOPPING=1\nSTATUS=stopping: finishing the cycle in flight"]


def test_watchdog_sends_the_keep_alive_ping(receiver):
    """WATCHDOG=1 alone."""
    value, sock = receiver
    assert notifier_for(value).watchdog()
    assert received(sock) == ["WATCHDOG=1"]


def test_status_is_one_line(receiver):
    """Newlines, carriage returns and NUL bytes become single spaces."""
    value, sock = receiver
    assert notifier_for(value).status("cycle failed:\r\n  line 2\n\x00line 3\n")
    assert received(sock) == ["STATUS=cycle failed: line 2 line 3"]


def test_long_status_is_cut_below_the_notify_buffer(receiver):
    """A huge status is cut on a character boundary, so systemd does not drop the datagram."""
    value, sock = receiver
    assert notifier_for(value).ready(status="é" * 10_000)
    [datagram] = received(sock)
    assert len(datagram.encode()) < NOTIFY_BUFFER_MAX
    status = datagram.removeprefix("READY=1\nSTATUS=")
    assert len(status.encode()) <= systemd.STATUS_MAX_BYTES
    assert status.endswith("…")
    assert set(status[:-1]) == {"é"}


def test_every_call_is_a_no_op_without_notify_socket(receiver):
    """Without NOTIFY_SOCKET nothing is sent and every call says so."""
    _, sock = receiver
    notifier = systemd.Notifier.from_environ({})
    assert not notifier.enabled
    assert not notifier.ready(status="x")
    assert not notifier.reloading(1)
    assert not notifier.stopping(status="x")
    assert not notifier.status("x")
    assert not notifier.watchdog()
    notifier.close()
    assert received(sock) == []


@pytest.mark.parametrize("value", ["", "@", "relative/notify", "vsock:2:1234"])
def test_unsupported_notify_socket_disables_notifying(value):
    """Only an absolute path or an '@' abstract name is an AF_UNIX socket to notify."""
    notifier = notifier_for(value)
    assert not notifier.enabled
    assert not notifier.ready()


def test_from_environ_reads_the_process_environment_by_default(receiver, monkeypatch):
    """With no mapping given, NOTIFY_SOCKET comes from os.environ."""
    value, sock = receiver
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert systemd.Notifier.from_environ().ready()
    assert received(sock) == ["READY=1"]


def test_send_to_a_missing_socket_returns_false(tmp_path):
    """A socket that does not exist is a failed send, not an exception."""
    notifier = notifier_for(str(tmp_path / "gone"))
    assert notifier.enabled
    assert not notifier.ready(status="x")
    assert not notifier.watchdog()


def test_send_after_the_receiver_went_away_returns_false(tmp_path):
    """When systemd's socket disappears mid-life, sends fail quietly and later ones too."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        notifier = notifier_for(str(path))
        assert notifier.watchdog()
    path.unlink()
    assert not notifier.watchdog()
    assert not notifier.stopping()


def test_closed_notifier_sends_nothing(receiver):
    """After close() every call returns False; closing twice is fine."""
    value, sock = receiver
    notifier = notifier_for(value)
    assert notifier.ready()
    notifier.close()
    notifier.close()
    assert not notifier.enabled
    assert not notifier.watchdog()
    assert received(sock) == ["READY=1"]


@pytest.mark.parametrize(
    ("environ", "expected_s"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 60.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "<self>"}, 60.0),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "<self>"}, 1.5),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "<other>"}, None),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({}, None),
        ({"WATCHDOG_PID": "<self>"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "2m"}, None),
        ({"WATCHDOG_USEC": "120_000_000"}, None),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "0"}, None),
        ({"WATCHDOG_USEC": ""}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process(environ, expected_s):
    """Half of WATCHDOG_USEC, unless it is unset, invalid or meant for another process."""
    pids = {"<self>": str(os.getpid()), "<other>": str(os.getpid() + 1)}
    env = {key: pids.get(value, value) for key, value in environ.items()}
    assert systemd.Notifier.from_environ(env).watchdog_interval_s() == expected_s


def test_watchdog_interval_does_not_need_a_notify_socket():
    """The interval follows the watchdog variables alone, as sd_watchdog_enabled(3) does."""
    notifier = systemd.Notifier.from_environ({"WATCHDOG_USEC": "120000000"})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s() == 60.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ok", "ok"),
        ("two  spaces", "two  spaces"),
        ("  padded \n", "padded"),
        ("a\tb", "a b"),
        ("a\x7fb", "a b"),
        ("", ""),
    ],
)
def test_one_line_replaces_control_characters(text, expected):
    """Tabs, DEL and surrounding whitespace are cleaned up; plain spaces are kept."""
    assert systemd.one_line(text) == expected


def test_one_line_keeps_short_text_whole():
    """Text within the limit is never cut."""
    text = "x" * systemd.STATUS_MAX_BYTES
    assert systemd.one_line(text) == text
