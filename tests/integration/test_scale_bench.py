"""The scale benchmark's short form: it runs end to end, and every cycle makes the minimum.

``bench/scale_bench.py --quick`` (500 clusters in 10 projects) drives the same cycles as the
10,000-cluster run: cold and no-op ``apply`` processes, the daemon's incremental cycle after a
push webhook, and its full cycles after SIGUSR1. Times and CPU are printed figures, never
asserted here (docs/benchmarks.md); what is asserted is that the bench finished (it stops with
an error if a cycle does not converge or publish) and that each cycle's requests, counted by
the emulator, equal the minimum.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_the_quick_scale_bench_makes_the_minimum_of_requests_in_every_cycle():
    """Six cycles, each with exactly the requests its work needs."""
    ran = subprocess.run(
        [sys.executable, "bench/scale_bench.py", "--quick", "--noop-runs", "1", "--full-runs", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    verdicts = [line for line in ran.stdout.splitlines() if "requests == minimum" in line]
    names = [line.split("requests == minimum, ")[1].split(":")[0] for line in verdicts]
    assert names == ["cold (apply)", "no-op 1 (apply)", "one file (daemon)", "no-op 1 (daemon)"]
    assert all(line.endswith("PASS") for line in verdicts), "\n".join(verdicts)
