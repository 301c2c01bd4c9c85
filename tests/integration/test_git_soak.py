"""Soak: hundreds of checkout cycles leave no file descriptors or memory behind.

GitPython's README warns that it leaks in long-running processes; the adapter opens a Repo per
operation and runs only plain git commands. This runs 500 cycles against a local bare remote,
with a new commit (and a new report published) every 10 cycles, and compares open descriptors,
resident memory and threads after a warm-up with those at the end.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from support.gitworld import GitWorld

from gitopsd import source

CYCLES = 500
WARM_UP = 50
COMMIT_EVERY = 10
RSS_GROWTH_LIMIT_KB = 5 * 1024


def open_fds() -> int:
    """Open file descriptors of this process."""
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


def rss_kb() -> int:
    """Resident memory of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def report(base: str, cycle: int) -> source.ReportCommit:
    """A small report of one cycle."""
    fingerprint = f"sha256:{cycle:064x}"
    return source.ReportCommit(
        base=base,
        files=(("drift-report/REPORT.md", f"cycle {cycle}\n".encode()),),
        message=f"drift report {cycle}\n\nDrift-Fingerprint: {fingerprint}\n",
        fingerprint=fingerprint,
    )


def settled_threads() -> int:
    """Live threads, once GitPython's cancelled per-command watchdog timers have exited.

    Garbage is collected first, so that what earlier tests left behind is not counted.
    """
    gc.collect()
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.join(timeout=5)
    return threading.active_count()


def test_checkout_cycles_leak_neither_descriptors_nor_memory(tmp_path: Path):
    """500 cycles: same descriptor count and under 5 MB more memory than after warm-up."""
    world = GitWorld(tmp_path)
    git_source = world.source()
    expected = world.first
    baseline: tuple[int, int, int] | None = None
    for cycle in range(1, CYCLES + 1):
        if cycle % COMMIT_EVERY == 0:
            expected = world.user.change(note=f"cycle {cycle}")
            world.user.push()
        checkout = git_source.checkout()
        assert (checkout.revision, checkout.notes) == (expected, ())
        if cycle % COMMIT_EVERY == 0:
            published = git_source.publish(report(checkout.revision, cycle))
            assert published.commit is not None
        if cycle == WARM_UP:
            threads = settled_threads()
            baseline = (open_fds(), rss_kb(), threads)
    assert baseline is not None
    threads = settled_threads()
    fds, rss = open_fds(), rss_kb()
    assert fds == baseline[0]
    assert rss - baseline[1] < RSS_GROWTH_LIMIT_KB
    assert threads == baseline[2]
