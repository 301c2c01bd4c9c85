"""Fault soak, full form: the real daemon through Atlas faults, Git outages and drift.

``gitopsd run`` (a subprocess, as systemd runs it) watches a bare Git remote holding
``--clusters`` AtlasDeployments (500 by default) in ``--projects`` AtlasProjects (10), each
with its own AtlasBackupSchedule on one of four shared policies; one in ten deployments is in
observe mode and one in ten allows destructive changes. The Atlas emulator (in this process,
over loopback HTTP) holds one more cluster per project that Git does not name, and starts out
with some clusters behind Git, some ahead of it and some with backup never turned on.

While the faulted rounds run, a weather thread replaces the emulator's fault settings every
0.2-0.6 s: 5xx at ``--error-rate`` and dropped connections at ``--drop-rate`` (20% each),
bursts of 429 with Retry-After, a token bucket that answers 429 with Retry-After when it runs
dry (``--rate-limit``), and latency spells (15% of them past the client's timeout, so writes
are applied and their answers lost; 15% slow). Before each round's cycle, ``--drift`` clusters
(and one unmanaged) drift out of band; every ``--flap-every``-th round runs with the bare
repository moved away (fetch and push fail); half way, ``--git-changes`` restore windows change
in Git. After the rounds the weather stops and cycles run until every cluster is what Git and
the guard say (at most three allowed), then two more that must write and commit nothing.

Every write in the emulator's request log is judged against the state before and after its
cycle: only managed enforce-mode clusters, only when they differed from Git, only Git's
values, nothing destructive unless allowed, no unmanaged field touched. The report branch must
be linear with one fingerprint per commit, the tip's report.json matching its trailer and each
cluster's status; the daemon must never exit and must exit 0 on SIGTERM. The harness is shared
with the short form in ``tests/integration/test_soak.py`` (``tests/support/soak.py``).

Prints the figures and every violation; exits 1 when there is any.

Run: ``make soak``, or ``.venv/bin/python bench/soak.py --clusters 500 --projects 10 --rounds 20``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.soak import Options, Soak

from gitopsd.emulator import Emulator


def say(line: str) -> None:
    """One progress line, flushed at once (a full soak runs for minutes)."""
    print(f"  .. {line}", flush=True)


def main() -> None:
    """Parse arguments, run the soak, print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=500)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20, help="faulted cycles after start-up")
    parser.add_argument("--drift", type=int, default=25, help="clusters drifted per round")
    parser.add_argument("--flap-every", type=int, default=4, help="every Nth round, Git is away")
    parser.add_argument("--git-changes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout-s", type=float, default=0.5)
    parser.add_argument("--deadline-s", type=float, default=4.0)
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--error-rate", type=float, default=0.2)
    parser.add_argument("--drop-rate", type=float, default=0.2)
    parser.add_argument(
        "--rate-limit",
        type=float,
        nargs=2,
        default=[60, 80.0],
        metavar=("CAPACITY", "REFILL_PER_S"),
        help="the emulator's token bucket under faults (capacity 0: none)",
    )
    args = parser.parse_args()
    if args.flap_every < 1 or args.rounds < 2:
        parser.error("--rounds must be at least 2 and --flap-every at least 1")
    flaps = tuple(n for n in range(1, args.rounds + 1) if n % args.flap_every == 0)
    git_round = args.rounds // 2
    options = Options(
        clusters=args.clusters,
        projects=args.projects,
        rounds=args.rounds,
        drift=args.drift,
        flaps=tuple(n for n in flaps if n != git_round),
        git_round=git_round,
        git_changes=args.git_changes,
        seed=args.seed,
        concurrency=args.concurrency,
        timeout_s=args.timeout_s,
        deadline_s=args.deadline_s,
        max_attempts=args.max_attempts,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        bursts=(0, 0, 1, 2),
        retry_after_s=(1, 2),
        rate_limit=(int(args.rate_limit[0]), args.rate_limit[1]) if args.rate_limit[0] else None,
        cycle_wait_s=600.0,
    )
    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {options}")
    with tempfile.TemporaryDirectory(prefix="gitopsd-soak-") as tmp, Emulator() as emulator:
        figures = Soak(Path(tmp), emulator, options, progress=say).run()
    for line in figures.lines():
        print(f"  {line}")
    for violation in figures.violations:
        print(f"  VIOLATION {violation}")
    sys.exit(1 if figures.violations else 0)


if __name__ == "__main__":
    main()
