"""Ordinary failures at the command line's edges: one line that says what to do, never a traceback.

Each case runs the real ``gitopsd`` process: an unreachable or missing Git branch, a port in use,
a state directory that cannot be used or is held by another process, a reader that closes the
pipe, manifests without a single deployment, and an Atlas that refuses connections.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import manifests as m
from support.world import PROJECT_ID, PROJECT_NAME, World

from gitopsd.adapters import state_dir

EXAMPLE = Path(__file__).resolve().parents[2] / "manifests-example"


def gitopsd(*args: str, stdout: int | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, as a user runs it; its output, never raising on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "gitopsd", *args],
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
    )


def one_line(run: subprocess.CompletedProcess[str]) -> str:
    """Standard error, which must be a single line and no traceback."""
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


@pytest.fixture
def listening() -> Iterator[int]:
    """A port that another process (this test) is listening on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def test_plan_with_an_unreachable_https_remote_says_what_to_check(world: World):
    """An https remote that refuses connections: exit 1, one line naming the URL and [git] url."""
    config = world.config(git='url = "https://127.0.0.1:1/acme/backups.git"')
    run = gitopsd("plan", "--config", str(config))
    assert run.returncode == 1
    line = one_line(run)
    assert line.startswith("gitopsd: Git: cannot read main of https://127.0.0.1:1/acme/backups.git")
    assert line.endswith("check [git] url, its credentials, and that this host can reach it")


def test_apply_with_an_unreachable_ssh_remote_says_what_to_check(world: World):
    """An ssh remote that refuses connections: exit 1, one line naming [git] url."""
    config = world.config(git='url = "ssh://git@127.0.0.1:1/acme/backups.git"')
    run = gitopsd("apply", "--config", str(config))
    assert run.returncode == 1
    line = one_line(run)
    assert "ssh://***@127.0.0.1:1/acme/backups.git" in line  # the user part is never shown
    assert "check [git] url" in line


def test_plan_of_a_branch_that_does_not_exist_names_it(world: World, tmp_path: Path):
    """A remote without the configured branch: exit 1, one line naming the branch and the key."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    config = world.config(git=f'url = "file://{remote}"\nbranch = "release"')
    run = gitopsd("plan", "--config", str(config))
    assert run.returncode == 1
    assert one_line(run) == (
        f"gitopsd: Git: branch release does not exist at file://{remote};"
        " check [git] branch: it names a branch of that repository"
    )


def test_the_daemon_exits_78_when_its_port_is_in_use(world: World, listening: int):
    """`run` with [server] listen taken: exit 78 (no restart loop) with one listen_failed line."""
    world.write("d.yaml", m.docs(m.policy(), m.schedule(), m.project(), m.deployment()))
    config = world.config(extra=f'[server]\nlisten = "127.0.0.1:{listening}"')
    run = gitopsd("run", "--config", str(config))
    assert run.returncode == 78
    assert "Traceback" not in run.stderr + run.stdout
    failed = [line for line in (run.stdout + run.stderr).splitlines() if "listen_failed" in line]
    assert len(failed) == 1
    assert f"[server] listen: cannot listen on 127.0.0.1:{listening}" in failed[0]
    assert "another process is listening there" in failed[0]


def test_the_emulator_exits_2_when_its_port_is_in_use(listening: int):
    """`gitopsd emulator --listen` on a taken port: exit 2, as for any bad --listen."""
    run = gitopsd("emulator", "--listen", f"127.0.0.1:{listening}")
    assert run.returncode == 2
    assert one_line(run) == (
        f"gitopsd emulator: cannot listen on 127.0.0.1:{listening}: another process is"
        " listening there; choose another port (0 picks a free one)"
    )


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("/proc/gitopsd-state", "cannot be created (No such file or directory)"),
        ("{tmp}/a-file", "is a file, not a directory"),
        ("{tmp}/a-file/state", "cannot be created: a part of that path is a file"),
        ("{tmp}/a-loop", "is a symbolic link that leads to no directory"),
    ],
)
def test_an_unusable_state_dir_is_one_line_naming_the_key(world: World, tmp_path, where, says):
    """A [state] dir that cannot be made is named with what is wrong: exit 1, nothing else."""
    (tmp_path / "a-file").write_text("not a directory\n")
    (tmp_path / "a-loop").symlink_to("a-loop")
    path = where.format(tmp=tmp_path)
    world.write("d.yaml", m.docs(m.policy(), m.schedule(), m.project(), m.deployment()))
    config = world.config()
    text = config.read_text().replace(f'dir = "{world.root / "state"}"', f'dir = "{path}"')
    config.write_text(text)
    run = gitopsd("apply", "--config", str(config))
    assert run.returncode == 1
    line = one_line(run)
    assert line.startswith(f"gitopsd: [state] dir {path} {says}")
    assert line.endswith("set [state] dir to a directory this user can create and write")
    assert world.writes() == []


def test_a_state_dir_under_home_is_refused_not_created(world: World, tmp_path: Path):
    """`~/gitopsd` is not expanded: a configuration error, and no directory named '~' appears."""
    config = world.config()
    config.write_text(config.read_text().replace(f'"{world.root / "state"}"', '"~/gitopsd"'))
    run = subprocess.run(
        [sys.executable, "-m", "gitopsd", "apply", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 1
    assert "'~' is not expanded; write the full path" in one_line(run)
    assert not (tmp_path / "~").exists()
    assert not (config.parent / "~").exists()


def test_apply_refuses_a_state_dir_another_gitopsd_holds(world: World):
    """While another process holds the state directory's lock, apply changes nothing: exit 1."""
    world.write("d.yaml", m.docs(m.policy(), m.schedule(), m.project(), m.deployment()))
    config = world.config()
    lock = state_dir.prepare(world.root / "state") / state_dir.LOCK_FILE
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"  # noqa: ISC004 - one program, one line a statement
            f"handle = open({str(lock)!r}, 'a+')\n"
            "fcntl.flock(handle, fcntl.LOCK_EX)\n"
            "handle.write(f'{os.getpid()}\\n'); handle.flush()\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        run = gitopsd("apply", "--config", str(config))
    finally:
        holder.communicate("", timeout=10)
    assert run.returncode == 1
    assert one_line(run) == (
        f"gitopsd: another gitopsd (pid {holder.pid}) is using the state directory"
        f" {world.root / 'state'}: stop it, or give this one its own [state] dir"
        " (GITOPSD_STATE_DIR)"
    )
    assert world.writes() == []


@pytest.mark.parametrize(
    "args",
    [
        ("graph", str(EXAMPLE)),
        ("graph", str(EXAMPLE), "--format", "json"),
        ("validate", str(Path(__file__).resolve().parents[1] / "data" / "docs-example")),
    ],
)
def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(args):
    """Output into a closed pipe (`| head`): exit 141 as for SIGPIPE, and nothing on stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        run = gitopsd(*args, stdout=write_end)
    finally:
        os.close(write_end)
    assert run.returncode == 128 + signal.SIGPIPE
    assert run.stderr == ""


def test_plan_into_a_closed_pipe_ends_quietly(world: World):
    """`gitopsd plan | head` with the reader gone: exit 141, no traceback, nothing written."""
    world.write("d.yaml", m.docs(m.policy(), m.schedule(), m.project(), m.deployment()))
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        run = gitopsd("plan", "--config", str(world.config()), stdout=write_end)
    finally:
        os.close(write_end)
    assert run.returncode == 141
    assert "Traceback" not in run.stderr
    assert world.writes() == []


def test_manifests_without_a_deployment_are_an_error_and_no_report(world: World):
    """An empty source plans and reports nothing: exit 1 with a line saying what to check."""
    world.write("policies.yaml", m.policy())
    run = gitopsd("apply", "--config", str(world.config()))
    assert run.returncode == 1
    line = one_line(run)
    assert line.startswith(f"gitopsd: no AtlasDeployment in {world.repo} at dir:")
    assert "(1 file read), so nothing was planned or reported" in line
    assert line.endswith("set [manifests] allow_empty = true")
    assert not (world.root / "state" / "report").exists()
    assert run.stdout == ""


def test_manifests_without_a_deployment_are_fine_when_expected(world: World):
    """With [manifests] allow_empty = true, an empty source is in sync: exit 0."""
    world.write("policies.yaml", m.policy())
    run = gitopsd("plan", "--config", str(world.config(extra="[manifests]\nallow_empty = true")))
    assert (run.returncode, run.stderr) == (0, "")
    assert "0 clusters" in run.stdout


def test_an_atlas_that_refuses_connections_is_named_with_attempts_and_key(world: World):
    """Atlas unreachable: each cluster's error names host:port, the attempts and the key."""
    world.write("d.yaml", m.docs(m.policy(), m.schedule(), m.project(), m.deployment()))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    config = world.config()
    config.write_text(config.read_text().replace(world.emulator.url, f"http://127.0.0.1:{closed}"))
    run = gitopsd("plan", "--config", str(config))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stdout.splitlines() if line.strip().startswith("error:")]
    assert errors
    for line in errors:
        assert f"cannot connect to 127.0.0.1:{closed} (connection refused)" in line
        assert "(gave up after 4 attempts)" in line
        assert "check [atlas] base_url" in line


def _through_a_terminal(argv: list[str]) -> tuple[int, str, str]:
    """Run ``argv`` with standard error on a pseudo-terminal; its code, stdout and the terminal."""
    import pty
    import select

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "TERM": "xterm", "NO_COLOR": "1"},
    )
    os.close(follower)
    seen = b""
    while True:  # until the process closes the terminal (EIO), bounded by select's timeout
        ready, _, _ = select.select([leader], [], [], 60)
        assert ready, "no output and no exit within 60 s"
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=60), out, seen.decode(errors="replace")


def _fleet(world: World, count: int) -> None:
    """``count`` deployments in Git, and their clusters in Atlas with backup off."""
    schedules = m.docs(m.policy(), m.schedule(), m.project())
    deployments = [m.deployment(name=f"app-{n}", cluster=f"app-{n}-db") for n in range(count)]
    world.write("fleet.yaml", m.docs(schedules, *deployments))
    clusters = [
        {"projectId": PROJECT_ID, "name": f"app-{n}-db", "backupEnabled": False}
        for n in range(count)
    ]
    world.seed({"projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}], "clusters": clusters})


def test_a_terminal_shows_the_phase_and_the_clusters_done(world: World):
    """On a terminal, apply draws its phases with clusters done and retries, then erases them."""
    _fleet(world, 5)
    world.admin.put("/_emulator/faults", json={"script": ["500"]}).raise_for_status()
    argv = [sys.executable, "-m", "gitopsd", "apply", "--config", str(world.config())]
    code, out, terminal = _through_a_terminal(argv)
    assert code in {0, 3}, out + terminal
    assert "gitopsd: reading the manifests" in terminal
    assert "gitopsd: reading Atlas · 0/5 clusters" in terminal
    assert "gitopsd: writing to Atlas · 0/5 clusters" in terminal
    assert "1 Atlas request retried" in terminal
    assert terminal.endswith("\r\x1b[K")
    assert "Traceback" not in terminal
    assert "\x1b[K" not in out


def test_off_a_terminal_nothing_extra_is_printed(world: World):
    """With standard error a pipe, apply prints no progress line at all."""
    _fleet(world, 5)
    run = gitopsd("apply", "--config", str(world.config()))
    assert run.returncode in {0, 3}, run.stderr
    assert "reading Atlas" not in run.stderr
    assert "\x1b[K" not in run.stderr + run.stdout


def test_the_daemon_exits_78_when_its_state_dir_cannot_be_used(world: World, tmp_path: Path):
    """`run` with [state] dir a file: exit 78 with one config_invalid line, no traceback."""
    (tmp_path / "a-file").write_text("not a directory\n")
    config = world.config()
    config.write_text(
        config.read_text().replace(f'"{world.root / "state"}"', f'"{tmp_path / "a-file"}"')
    )
    run = gitopsd("run", "--config", str(config))
    assert run.returncode == 78
    output = run.stdout + run.stderr
    assert "Traceback" not in output
    invalid = [line for line in output.splitlines() if "config_invalid" in line]
    assert len(invalid) == 1
    assert f"[state] dir {tmp_path / 'a-file'} is a file, not a directory" in invalid[0]


def test_a_manifests_path_that_is_a_symlink_loop_is_one_line(world: World):
    """[git] path naming a link that loops: exit 1, one line naming the key, no traceback."""
    (world.repo / "manifests").symlink_to("manifests")
    config = world.config(git=f'url = "{world.repo}"\npath = "manifests"')
    run = gitopsd("plan", "--config", str(config))
    assert run.returncode == 1
    assert one_line(run).startswith("gitopsd: [git] path: manifests is not a directory inside")
