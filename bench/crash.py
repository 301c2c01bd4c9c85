"""Crash safety: kill -9 the daemon at seeded points of its cycles, restart it, check it recovers.

This is the long form of ``tests/integration/test_crash.py`` and runs its ``CrashRun`` (see
that module's docstring for the machinery). ``--kills`` kills (50 by default) are spread
evenly over the phases of a cycle, in an order and with points, changes, delays and torn
state chosen by ``random.Random(--seed)``:

* **idle**: between cycles; **startup**: the restart after the previous kill, during its
  first fetch (``git init`` of a clone made again, upload-pack negotiating, objects being
  unpacked into the clone);
* **fetch** of a new revision (negotiating, unpacking objects, updating refs) and
  **checkout** of it (``git checkout`` in unpack_trees with the index locked, ``git clean``);
* **observe**: an Atlas GET held before Atlas sees it; **apply**: a cluster or schedule
  PATCH applied by Atlas whose answer, or whose read-back, the daemon never gets;
* **push-before**: the report commit being written (``git commit-tree`` starting, its
  temporary index under ``.git``), or the remote holding the pack without having moved the
  branch (it then completes the push or dies, a seeded choice); **push-after**: the remote
  moved the branch and the daemon never heard;
* **sqlite**: a state database write transaction under way (the 1st, 2nd or 3rd of the
  cycle: settled clusters, published report, cycle history).

Before each kill the run may push a user commit (orders-db's snapshot hour) and change Atlas
out of band (orders-db's minute or PIT, enforced back; billing-db's restore window, observe
mode, reported), so that new reports are due. Half the kills happen at the point itself; the
other half thaw the daemon and kill it after a seeded 0-20 ms more (``--jitter-ms``; not where
the remote is frozen: the daemon only waits for it there). After a
quarter of the kills a stale lock file (``index.lock``, ``HEAD.lock`` or a ref lock) is left in
the clone (``--torn``).

After each kill the daemon restarts on the same config and state directory; the run checks
every recovery (start, clone, ``PRAGMA integrity_check``, Atlas = Git, report branch) and, at
the end, that no report was committed twice in a row and none was lost. It prints:

* kills by phase and point, the git commands running at each kill, what the kills left
  behind (lock files, hot SQLite journals, temporary report trees), the push outcomes;
* recovery times: the restarted process's start to READY=1, and to its first report;
* clones made again, and ``recloned`` notes in reports;
* reports per fingerprint on the report branch, duplicates and lost reports;
* every failed check (the exit status is 1 if there was one).

Run: ``make crash``, or ``.venv/bin/python bench/crash.py --kills 50 --seed 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent

if TYPE_CHECKING:
    from test_crash import CrashRun, Kill


class SeededPause:
    """Half the kills at the point itself, half 0 to ``max_ms`` later (seeded)."""

    def __init__(self, rng: random.Random, max_ms: float) -> None:
        self.rng = rng
        self.max_ms = max_ms

    def delay_s(self) -> float:
        """The next delay in seconds (0 for a kill at the point)."""
        if self.max_ms <= 0 or self.rng.random() < 0.5:  # half and half
            return 0.0
        return self.rng.uniform(0.0, self.max_ms) / 1000

    def wait(self, delay_s: float) -> None:
        """Let the thawed daemon run on."""
        threading.Event().wait(delay_s)


def main(argv: list[str] | None = None) -> int:
    """Run the kills; print the figures; 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jitter-ms", type=float, default=20.0)
    parser.add_argument("--torn", type=float, default=0.25, help="share of kills torn after")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]
    import test_crash

    rng = random.Random(args.seed)  # noqa: S311 - reproducible choices, not secrets
    aims = test_crash.plan(rng, args.kills)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="gitopsd-crash-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        stage = test_crash.Stage(Path(tmp), stack)
        run = test_crash.CrashRun(
            stage,
            rng,
            strict=False,
            torn_rate=args.torn,
            pause=SeededPause(rng, args.jitter_ms),
        )
        stack.callback(run.close)
        run.run(aims)
        command = (
            f"bench/crash.py --kills {args.kills} --seed {args.seed}"
            f" --jitter-ms {args.jitter_ms:g} --torn {args.torn:g}"
        )
        for line in figures(run, command=command, elapsed_s=time.monotonic() - started):
            print(line)
    return 1 if run.failures else 0


def figures(run: CrashRun, *, command: str, elapsed_s: float) -> list[str]:
    """The Markdown lines of the run's figures."""
    kills, recoveries = run.kills, run.recoveries
    lines = [
        (
            f"`{command}`: {len(kills)} kills, {len(recoveries)} restarts checked,"
            f" {elapsed_s:.0f} s in all."
        ),
        "",
        "| phase | kills | points | git running at the kill | left behind | delayed |",
        "|---|---:|---|---|---|---:|",
    ]
    for phase in sorted({k.phase for k in kills}):
        mine = [k for k in kills if k.phase == phase]
        points = Counter(k.point for k in mine)
        running = Counter(v for k in mine for v in k.running)
        left = Counter(item for k in mine for item in k.left)
        lines.append(
            f"| {phase} | {len(mine)} | {_counts(points)} | {_counts(running) or '-'}"
            f" | {_counts(left) or '-'} | {sum(1 for k in mine if k.delay_ms)} |"
        )
    branch = run.reflog()
    keys = [
        (run.trailer(c, "Drift-Fingerprint"), run.trailer(c, "Source-Revision")) for c in branch
    ]
    per_report = Counter(Counter(keys).values())
    ready = _spread([r.ready_s for r in recoveries])
    reported = _spread([r.reported_s for r in recoveries])
    notes = sum(1 for r in recoveries if r.recloned_note)
    committed = sum(r.commits for r in recoveries)
    due = sum(1 for r in recoveries if r.needed)
    hot = sum(1 for k in kills if k.hot_journal)
    sound = len(recoveries) - _failed(run, "integrity")
    lines += [
        "",
        *(f"- {phase} kills: {_pushes(kills, phase)}" for phase in ("push-before", "push-after")),
        f"- kill points never reached: {sum(1 for k in kills if k.missed)}",
        f"- stale lock files left on purpose after a kill: {_counts(_torn(kills)) or 'none'}",
        f"- restart to READY=1 (min / median / p95 / max): {ready}",
        f"- restart to its first report published (min / median / p95 / max): {reported}",
        (
            f"- restarts that made the clone again: {_reclones(run)}; again on the next cycle:"
            f" {_failed(run, 'next cycle')}; reports with a `recloned` note: {notes}"
        ),
        f"- restarts whose first cycle committed a report: {committed}, where one was due: {due}",
        (
            f"- report branch updates: {len(branch)}, of {len(set(keys))} distinct reports"
            f" (fingerprint and revision): {_counts(per_report, unit=' commit(s):')}"
        ),
        (
            f"- the same report twice in a row: {len(run.duplicates())}; finished cycles whose"
            f" report never reached the branch: {len(run.lost())}"
        ),
        (
            f"- hot SQLite journals left by a kill: {hot}; `PRAGMA integrity_check` ok after"
            f" {sound} of {len(recoveries)} restarts"
        ),
        f"- failed checks: {len(run.failures)}",
        *(f"  - {failure}" for failure in run.failures),
    ]
    return lines


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return f"{ordered[0]:.2f} / {median:.2f} / {p95:.2f} / {ordered[-1]:.2f} s"


def _counts(counter: Counter[str] | Counter[int], unit: str = "") -> str:
    return ", ".join(f"{key}{unit} {n}" for key, n in sorted(counter.items(), key=str))


def _pushes(kills: list[Kill], phase: str) -> str:
    outcomes = Counter(
        ("delayed, " if k.delay_ms else "") + (k.push or "report not landed")
        for k in kills
        if k.phase == phase
    )
    return _counts(outcomes) or "none"


def _torn(kills: list[Kill]) -> Counter[str]:
    return Counter(k.torn for k in kills if k.torn and k.phase != "startup")


def _reclones(run: CrashRun) -> str:
    by_kill = {k.number: k for k in run.kills}
    causes: Counter[str] = Counter()
    for recovery in run.recoveries:
        if recovery.recloned:
            last = by_kill[recovery.kills[-1]]
            if any(x.endswith(".lock") for x in last.left):
                causes["a lock the killed git left"] += 1
            elif last.torn and last.phase != "startup":
                causes["a lock left on purpose"] += 1
            else:
                causes["an interrupted clone"] += 1
    return f"{sum(causes.values())} of {len(run.recoveries)} ({_counts(causes) or 'none'})"


def _failed(run: CrashRun, word: str) -> int:
    return sum(1 for r in run.recoveries if any(word in f for f in r.failures))


if __name__ == "__main__":
    sys.exit(main())
