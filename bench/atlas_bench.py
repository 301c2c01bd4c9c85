"""Benchmark: reading clusters and backup schedules from the Atlas emulator under latency.

For each size N (100 and 1,000 clusters unless ``--clusters`` says otherwise) it seeds the
emulator with one project holding N M10 clusters with backup enabled (the emulator gives each
the default backup schedule) and injects a fixed latency (20 ms unless ``--latency-ms`` says
otherwise) into every authenticated API answer. For each concurrency (1, 8 and 32 unless
``--concurrency`` says otherwise) it runs one observe pass with a fresh ``AtlasClient``:

* ``client.clusters(project_id)``: the cluster listing, 500 per page, pages read in turn;
* ``client.map(lambda c: client.schedule(project_id, c.name), clusters)``: one schedule each.

The emulator's request log is cleared before each pass and read after it. The minimum is
pages + N requests; the ideal time is minimum x latency / concurrency (the issue's formula);
the floor is pages x latency + ceil(N / concurrency) x latency, since pages are read one after
another and schedules go out in waves of at most ``concurrency``. CPU is the client process's
own CPU time for the pass (``time.process_time``, all threads). Wall time is the best of
``--runs`` passes (one at concurrency 1); the worst is shown beside it. The target (ratio to the
ideal within 1.3x at concurrency 8 and 32) is printed as PASS/MISS, not asserted.

By default the emulator runs as a subprocess (``python -m gitopsd emulator``), so that its
threads do not share a GIL with the client; ``--emulator thread`` runs it in this process.

Run: ``make bench``, or ``.venv/bin/python bench/atlas_bench.py --clusters 1000``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import subprocesses as procs

from gitopsd import credentials
from gitopsd.adapters import atlas, atlas_wire
from gitopsd.emulator import Emulator
from gitopsd.emulator.auth import Credentials

PROJECT_ID = "65b0c0ffee00000000000001"
PROJECT_NAME = "bench-project"
TARGET_RATIO, TARGET_CONCURRENCY = 1.3, (8, 32)


def state_doc(clusters: int) -> dict[str, object]:
    """One project with ``clusters`` backed-up clusters; schedules are the emulator's default."""
    return {
        "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
        "clusters": [
            {"projectId": PROJECT_ID, "name": f"cluster-{i:05d}", "backupEnabled": True}
            for i in range(clusters)
        ],
    }


@contextmanager
def emulator(mode: str, state: dict[str, object], latency_ms: float) -> Iterator[str]:
    """Serve ``state`` with ``latency_ms`` injected; yield the base URL."""
    faults = {"latency_ms": latency_ms}
    if mode == "thread":
        with Emulator(state, port=0, faults=faults) as emu:
            yield emu.url
        return
    with tempfile.TemporaryDirectory(prefix="gitopsd-bench-") as tmp:
        path = Path(tmp) / "state.json"
        path.write_text(json.dumps(state), encoding="utf-8")
        with procs.emulator(path) as (url, _pid):
            httpx.put(f"{url}/_emulator/faults", json=faults).raise_for_status()
            yield url


def auth_for(kind: str, url: str) -> httpx.Auth:
    """Digest auth with the emulator's API key, or its service account (one token request)."""
    emu = Credentials()
    creds: credentials.AtlasCredentials
    if kind == "digest":
        creds = credentials.ApiKey(
            public_key=emu.public_key, private_key=credentials.Secret(emu.private_key)
        )
    else:
        creds = credentials.ServiceAccount(
            client_id=emu.client_id, client_secret=credentials.Secret(emu.client_secret)
        )
    return atlas.auth_for(creds, base_url=url)


def observe(
    url: str, auth: str, concurrency: int, clusters: int
) -> tuple[float, float, list[dict]]:
    """One observe pass with a fresh client: wall time, client CPU time, the request log."""
    with httpx.Client(base_url=url) as admin:
        admin.delete("/_emulator/requests").raise_for_status()
        with atlas.AtlasClient(url, auth_for(auth, url), concurrency=concurrency) as client:
            started, cpu = time.perf_counter(), time.process_time()
            found = client.clusters(PROJECT_ID)
            schedules = client.map(lambda c: client.schedule(PROJECT_ID, c.name), found)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        log = admin.get("/_emulator/requests").raise_for_status().json()["requests"]
    failed = [s for s in schedules if isinstance(s, Exception)]
    if len(found) != clusters or failed:
        sys.exit(f"read {len(found)} of {clusters} clusters; {len(failed)} schedules failed")
    return wall, cpu, log


def kind(entry: dict) -> str:
    """What one request-log entry was: page, schedule, token, challenge or other."""
    path, status = entry["path"], entry["status"]
    if path == atlas_wire.TOKEN_PATH:
        return "token"
    if status == 401:
        return "challenge"
    if status != 200:
        return f"HTTP {status}"
    return "page" if path.endswith("/clusters") else "schedule"


def bench(
    mode: str, auth: str, *, clusters: int, levels: list[int], latency_ms: float, runs: int
) -> None:
    """Seed, measure and print one size at every concurrency."""
    latency_s = latency_ms / 1000
    pages = max(1, math.ceil(clusters / atlas_wire.ITEMS_PER_PAGE))
    minimum = pages + clusters
    print(
        f"\n{clusters:,} clusters, {latency_ms:g} ms per request; minimum {minimum:,} requests"
        f" ({pages} page{'s' if pages > 1 else ''} + {clusters:,} schedules)"
    )
    print(
        f"  {'conc':>4} {'runs':>4} {'wall s':>7} {'worst s':>7} {'requests':>8}"
        f" {'minimum':>7} {'ideal s':>7} {'ratio':>6} {'floor s':>7} {'/floor':>6} {'cpu s':>6}"
        "  target  extra requests"
    )
    with emulator(mode, state_doc(clusters), latency_ms) as url:
        for concurrency in levels:
            passes = 1 if concurrency == 1 else runs  # serial passes take N x latency
            results = [observe(url, auth, concurrency, clusters) for _ in range(passes)]
            wall, cpu, log = min(results, key=lambda r: r[0])
            worst = max(r[0] for r in results)
            kinds = Counter(kind(e) for e in log)
            if kinds["page"] != pages or kinds["schedule"] != clusters:
                sys.exit(f"unexpected requests: {dict(kinds)}")
            extra = ", ".join(f"{n} {k}" for k, n in kinds.items() if k not in {"page", "schedule"})
            ideal = minimum * latency_s / concurrency
            floor = (pages + math.ceil(clusters / concurrency)) * latency_s
            ratio = wall / ideal
            target = "-"
            if concurrency in TARGET_CONCURRENCY:
                target = "PASS" if ratio <= TARGET_RATIO else "MISS"
            print(
                f"  {concurrency:>4} {passes:>4} {wall:>7.2f} {worst:>7.2f} {len(log):>8,}"
                f" {minimum:>7,} {ideal:>7.3f} {ratio:>5.2f}x {floor:>7.3f} {wall / floor:>5.2f}x"
                f" {cpu:>6.2f}"
                f"  {target:<6}  {extra or '-'}"
            )


def main() -> None:
    """Parse arguments, then seed, measure and print each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[100, 1_000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3, help="passes per row above concurrency 1")
    parser.add_argument("--emulator", choices=("process", "thread"), default="process")
    parser.add_argument("--auth", choices=("digest", "service-account"), default="digest")
    args = parser.parse_args()
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; emulator in a {args.emulator}"
        f" ({'subprocess' if args.emulator == 'process' else 'this process'}); {args.auth} auth;"
        f" best and worst of {args.runs} passes (1 at concurrency 1);"
        f" target: ratio to ideal <= {TARGET_RATIO}x at concurrency"
        f" {' and '.join(map(str, TARGET_CONCURRENCY))}"
    )
    for clusters in args.clusters:
        bench(
            args.emulator,
            args.auth,
            clusters=clusters,
            levels=args.concurrency,
            latency_ms=args.latency_ms,
            runs=args.runs,
        )


if __name__ == "__main__":
    main()
