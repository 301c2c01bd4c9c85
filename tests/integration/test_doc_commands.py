"""Every command README.md and docs/*.md show runs, and prints what the page shows.

How a page marks its commands and samples is told in ``tests/support/doc_commands.py``: in
short, ```` ```console ```` blocks hold ``$ command`` lines each followed by the output it
prints, ```` ```sh ```` blocks hold commands only, and an ``<!-- docs-test: ... -->`` comment
right before a block gives exit codes (``exit=3``), ``exact`` comparison, a ``background``
server, or a fresh emulated Atlas (``atlas=example``).

Each page runs as a reader would run it, top to bottom, in a shell of its own per command,
in a temporary directory holding copies of what the pages name. A command that cannot run
here is listed in ``SKIPPED`` below, with the reason; every other one runs, and its exit code,
its output (in shape, or exactly) and the absence of a traceback are checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO
from ruamel.yaml import YAML
from support import doc_commands
from support.doc_commands import Command, Session

from gitopsd import demo

ROOT_AND_SYSTEMD = "needs root and a gitopsd service under systemd"
BENCHMARK = (
    "a benchmark: minutes of both cores; it prints figures and asserts nothing"
    " (tests/integration/test_scale_bench.py runs the scale bench's --quick form)"
)
RUNS_THE_SUITE = "runs the test suite, which would run this test again"

SKIPPED: dict[str, dict[str, str]] = {
    "README.md": {
        "make demo": (
            "sets up .venv from the lock first, an install whenever the lock changed; its two"
            " commands run in docs/demo-by-hand.md (validate) and in test_reconcile.py"
            " (test_demo_runs_the_whole_loop_through_git)"
        ),
        "make test": RUNS_THE_SUITE,
        "gitopsd graph manifests-example/ --format dot | dot -Tsvg > graph.svg": (
            "needs Graphviz's dot, which the test machines do not have"
        ),
    },
    "docs/benchmarks.md": {
        "make bench": BENCHMARK,
        "make test": RUNS_THE_SUITE,
        ".venv/bin/python bench/manifests_bench.py --clusters 10000": BENCHMARK,
        ".venv/bin/python bench/manifests_bench.py --out bench/out": BENCHMARK,
        ".venv/bin/python bench/atlas_bench.py": BENCHMARK,
        ".venv/bin/python bench/atlas_bench.py --clusters 1000 --concurrency 8 32 --runs 5": (
            BENCHMARK
        ),
        ".venv/bin/python bench/reconcile_bench.py": BENCHMARK,
        ".venv/bin/python bench/reconcile_bench.py --concurrency 1 8 32": BENCHMARK,
        ".venv/bin/python bench/reconcile_bench.py --clusters 10000 --projects 100 --runs 1": (
            BENCHMARK
        ),
        ".venv/bin/python bench/scale_bench.py": BENCHMARK,
        ".venv/bin/python bench/scale_bench.py --full-runs 3": BENCHMARK,
        ".venv/bin/python bench/scale_bench.py --quick": BENCHMARK,
        ".venv/bin/python bench/scale_bench.py --noop-runs 1 --concurrency 32 --poll-s 2": (
            BENCHMARK
        ),
    },
    "docs/development.md": {
        "make demo": "sets up .venv from the lock first (see README.md's entry)",
        "make test": (
            RUNS_THE_SUITE + "; its stale-lock answer is checked by test_dependency_lock.py"
            " (test_make_test_stops_at_a_stale_lock_before_installing_anything)"
        ),
        "make lock-upgrade": "moves every pin to the package index's newest release",
        "make lint": "run by make test beside the suite, not by it",
        "make typecheck": "run by make test beside the suite, not by it",
        ".venv/bin/pytest tests/unit": RUNS_THE_SUITE,
        ".venv/bin/pytest tests/integration/test_cli.py": RUNS_THE_SUITE,
        ".venv/bin/pytest tests/unit/test_plan.py::test_in_sync_cluster_has_no_actions": (
            RUNS_THE_SUITE
        ),
        ".venv/bin/pytest -k adopt": RUNS_THE_SUITE,
        ".venv/bin/pytest -p no:randomly -x": RUNS_THE_SUITE,
        ".venv/bin/pytest --randomly-seed=1234": RUNS_THE_SUITE,
    },
    "docs/http.md": {
        "(umask 077; openssl rand -hex 32 > /etc/credstore/gitopsd.webhook_secret)": (
            ROOT_AND_SYSTEMD
        ),
        "systemctl restart gitopsd": ROOT_AND_SYSTEMD,
        """body='{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000001"}'""": (
            "part of a webhook sent to a running daemon with the secret of a systemd service"
            " (test_http_server.py and test_webhook_abuse.py send such webhooks)"
        ),
        """sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$(cat /etc/credstore/gitopsd.webhook_secret)" -r | cut -d' ' -f1)""": (  # noqa: E501 - the command as the page shows it
            ROOT_AND_SYSTEMD
        ),
        "curl -i http://127.0.0.1:9187/hooks/git \\": (
            "needs a daemon listening on 127.0.0.1:9187 with the secret of a systemd service"
        ),
    },
    "docs/operations.md": {
        "systemctl enable --now gitopsd": ROOT_AND_SYSTEMD,
        "systemctl start gitopsd": ROOT_AND_SYSTEMD,
        "systemctl stop gitopsd": ROOT_AND_SYSTEMD,
        "systemctl restart gitopsd": ROOT_AND_SYSTEMD,
        "systemctl status gitopsd": ROOT_AND_SYSTEMD,
        "systemctl kill -s USR1 gitopsd": ROOT_AND_SYSTEMD,
        "systemctl reload gitopsd": ROOT_AND_SYSTEMD,
        "journalctl -u gitopsd -b": ROOT_AND_SYSTEMD,
        """journalctl -u gitopsd -o cat | jq -c 'select(.event == "cycle_finished") | {timestamp, duration_s, summary}'""": (  # noqa: E501 - the command as the page shows it
            ROOT_AND_SYSTEMD
        ),
        "systemctl cat gitopsd": ROOT_AND_SYSTEMD,
        "systemd-analyze verify /etc/systemd/system/gitopsd.service": (
            ROOT_AND_SYSTEMD + " (test_systemd_unit.py verifies the unit file itself)"
        ),
        "systemd-analyze security gitopsd.service": (
            ROOT_AND_SYSTEMD + " (test_systemd_unit.py runs the offline form on the unit file)"
        ),
    },
    "docs/reliability.md": {
        "make soak": BENCHMARK,
        ".venv/bin/python bench/soak.py --clusters 500 --projects 10 --rounds 20 --seed 1": (
            BENCHMARK
        ),
        ".venv/bin/pytest tests/integration/test_soak.py": RUNS_THE_SUITE,
        ".venv/bin/pytest -p no:randomly tests/integration/test_daemon_attacks.py": (
            RUNS_THE_SUITE
        ),
    },
}
"""Commands a page shows that cannot run here, by page and command (its first line, without a
trailing ``# comment``), each with the reason. Anything not listed here is run."""

BY_HAND = "docs/demo-by-hand.md"


def pages() -> list[str]:
    """README.md and every docs/*.md, as paths in the repository."""
    return ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]


def shown(page: str) -> tuple[Command, ...]:
    """The commands ``page`` shows."""
    return doc_commands.commands(REPO / page, page)


def runnable(page: str) -> list[Command]:
    """The commands of ``page`` that are not in ``SKIPPED``."""
    skipped = SKIPPED.get(page, {})
    return [c for c in shown(page) if c.key not in skipped]


def check(session: Session, command: Command) -> tuple[list[str], bool]:
    """Run one command as its page says: what went wrong, and whether the page can go on.

    A sample that does not fit lets the page go on (so one run lists every stale sample); a
    wrong exit code or a traceback stops it, since later commands build on this one.
    """
    if command.atlas:
        assert command.atlas == "example", f"{command.where}: unknown atlas={command.atlas}"
        session.example_atlas()
    result = session.start(command) if command.background else session.run(command)
    text = "\n".join(result.lines)
    wrong: list[str] = []
    if doc_commands.TRACEBACK in text:
        wrong.append(f"it printed a traceback:\n{text}")
    if result.code != command.exit_code:
        wrong.append(f"it exited {result.code}, the page says {command.exit_code}:\n{text}")
    fatal = bool(wrong)
    if command.sample is not None:
        why = doc_commands.mismatch(command.sample, result.lines, exact=command.exact)
        if why is not None:
            wrong.append(why)
    return [f"{command.where}: $ {command.text}\n{w}" for w in wrong], fatal


@pytest.mark.timeout(240)
@pytest.mark.parametrize("page", [p for p in pages() if runnable(p)])
def test_every_command_a_page_shows_runs_as_shown(page: str, tmp_path: Path):
    """Each command runs, exits as the page says, and prints what its sample shows."""
    wrong: list[str] = []
    with Session(tmp_path, REPO) as session:
        for command in runnable(page):
            found, fatal = check(session, command)
            wrong += found
            if fatal:
                break
        ended = session.close()
    for code, rest in ended:
        if code != 0 or doc_commands.TRACEBACK in rest:
            wrong.append(f"{page}: a server the page started ended with {code}:\n{rest}")
    assert not wrong, "\n\n".join(wrong)


def test_every_skipped_command_is_still_shown():
    """SKIPPED names only commands the pages show, so the list cannot outlive its reasons."""
    stale = [
        f"{page}: {key}"
        for page, keys in SKIPPED.items()
        for key in keys
        if key not in {c.key for c in shown(page)}
    ]
    assert not stale, "no longer shown; remove from SKIPPED:\n" + "\n".join(stale)


def test_the_demo_by_hand_page_runs_every_command_it_shows():
    """docs/demo-by-hand.md skips nothing, and it starts the emulator, plans and applies."""
    assert BY_HAND not in SKIPPED
    commands = [c.text.split()[0:2] for c in runnable(BY_HAND)]
    for wanted in (["gitopsd", "emulator"], ["gitopsd", "plan"], ["gitopsd", "apply"]):
        assert wanted in commands, wanted


def test_the_example_emulator_state_is_the_atlas_the_demo_starts_from():
    """config/emulator-state.example.yaml holds exactly the Atlas of `gitopsd demo`."""
    path = REPO / "config" / "emulator-state.example.yaml"
    assert YAML(typ="safe").load(path.read_text(encoding="utf-8")) == demo.atlas_world()


def test_a_different_count_does_not_fit_a_sample():
    """Shape allows other wording but not other numbers: a wrong count in a sample fails."""
    sample = ["Plan at dir:5a2520fae110: 7 clusters: 4 in sync, 1 pending"]
    assert doc_commands.mismatch(
        sample, ["Plan at dir:0c0ffee: 7 clusters: 5 in sync, 0 pending"], exact=False
    )


def test_other_wording_fits_a_sample_of_the_same_shape():
    """The same indentation, first word and numbers fit, whatever words sit between."""
    sample = ["~ a/b  [pending]  2 fields", "    planned: patch-cluster"]
    real = ["~ a/b  [waiting]  2 changes", "    planned: cluster patch"]
    assert doc_commands.mismatch(sample, real, exact=False) is None


def test_an_extra_line_does_not_fit_a_sample():
    """Line structure is strict: one more line than the sample shows fails."""
    assert doc_commands.mismatch(["a 1"], ["a 1", "b"], exact=False)


def test_an_elided_sample_fits_any_lines_in_its_gap():
    """A `...` line stands for any number of lines; the lines around it must still fit."""
    sample = ["head 1", "...", "tail 9"]
    assert doc_commands.mismatch(sample, ["head 1", "x", "y", "tail 9"], exact=False) is None
    assert doc_commands.mismatch(sample, ["head 1", "x", "tail 8"], exact=False)
