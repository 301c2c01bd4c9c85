"""Benchmark: one no-op reconcile cycle (``plan`` and ``apply``) against the Atlas emulator.

It generates, in a temporary directory, a manifests directory of ``--projects`` AtlasProjects
(``spec.name`` "Project NN", 20 by default) and ``--clusters`` AtlasDeployments (1,000 by
default, spread evenly over the projects), each with a ``backupRef`` to one of N/20
AtlasBackupSchedules, which use N/100 AtlasBackupPolicies (at least 4). Policies use four item
mixes (three with an hourly item, one without); a quarter of the schedules copy snapshots with
oplogs (all of their deployments set ``pitEnabled: true``), a quarter copy without oplogs, a
quarter export to a bucket and the rest do neither. Other deployments set PIT on or off, or
leave it out (PIT is on only where the policy has an hourly item). The emulator's state holds
every cluster already as the manifests say (backup and PIT flags, schedule fields, policy
items, copy settings, export), so a cycle has nothing to write. The benchmark checks this
first with ``run_cycle(..., write=False)`` and no latency, and stops with the first offending
cluster's changes if any cluster is not in sync: it must not measure a wrong world.

The emulator runs as a subprocess (``python -m gitopsd emulator``) with ``latency_ms`` (20 ms
unless ``--latency-ms`` says otherwise) injected into every authenticated answer. For each
concurrency (``[atlas] concurrency`` of a generated ``gitopsd.toml``; 8 unless
``--concurrency`` says otherwise) and each pass, ``plan`` (``write=False``) then ``apply``
(``write=True``), a fresh Python process runs ``--runs`` cycles the way ``gitopsd plan|apply``
does: ``config.load``, ``wiring.Runtime`` (a new ``AtlasClient``, API-key digest auth), then
``reconcile.run_cycle``. It measures per cycle:

* wall time (``time.perf_counter``), from ``config.load`` to the Runtime closed;
* CPU time of the process running the cycle (``time.process_time``, all threads; the emulator
  is another process);
* the emulator's request log, cleared before each cycle: project lookups, cluster list pages,
  schedule GETs, writes, digest challenges (401, no injected latency) and anything else;
* where the time went, from the log's arrival times (millisecond resolution): before the first
  request (config, the checkout digest, reading the manifests, which ``Deps.load`` times on its
  own), the project phase (to the answer of the last list page), the gap before the first
  schedule GET, the schedule phase (to the answer of the last) and after (plan, apply, close);
* peak RSS of that process (``VmHWM``, after its runs, so including the interpreter; not
  ``ru_maxrss``, which on Linux keeps the parent's peak across fork and exec).

The minimum is P project lookups + one cluster list page per project per 500 clusters + one
schedule GET per cluster (1,040 for 20 projects and 1,000 clusters). The target, printed as
PASS/MISS for every run and not asserted, is requests (excluding digest challenges) equal to
the minimum and zero writes. Two times put the wall time in context:

* ideal: minimum x latency / concurrency, every request spread evenly over the connections;
* floor: the least time gitopsd's order of requests allows. Observation first looks up every
  project and reads its cluster list, project by project on a pool of ``concurrency`` threads
  (in one project the lookup, then each page, one after another), and only when all projects
  are read does it fetch the schedules, ``concurrency`` at a time. With every request taking
  exactly the latency and no time between them, the project phase is the finish time of that
  pool running per-project chains of (1 + pages) requests (simulated here; for equal projects
  ceil(P / C) x (1 + pages) x latency) and the schedule phase is ceil(N / C) x latency. For 20
  projects, 1,000 clusters, concurrency 8 and 20 ms: (3 x 2 + 125) x 20 ms = 2.62 s, a little
  above the ideal (2.60 s) because 20 projects fill the 8 threads unevenly. Reading the
  manifests and planning come on top of the floor.

Wall time is the best of the runs; "worst" is the slowest.

Run: ``make bench``, or ``.venv/bin/python bench/reconcile_bench.py --concurrency 8 32``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import heapq
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import subprocesses as procs

from gitopsd import config, desired, reconcile, wiring
from gitopsd.adapters import atlas_wire
from gitopsd.core.plan import Status
from gitopsd.emulator.auth import Credentials
from gitopsd.source import Checkout

API = "apiVersion: atlas.mongodb.com/v1"
ITEMS = {  # frequencyType: (frequencyInterval, retentionValue, retentionUnit)
    "hourly": (6, 2, "days"),
    "daily": (1, 7, "days"),
    "weekly": (6, 4, "weeks"),
    "monthly": (40, 12, "months"),
    "yearly": (1, 1, "years"),
}
POLICY_MIXES = (  # the last has no hourly item: its deployments cannot enable PIT
    tuple(ITEMS),
    ("hourly", "daily", "weekly", "monthly"),
    ("hourly", "daily"),
    ("daily", "weekly", "monthly"),
)
REGIONS = ("US_WEST_2", "EU_WEST_1", "AP_SOUTHEAST_2")
PROJECT_PATH = re.compile(r"^/api/atlas/v2/groups/(byName/[^/]+|[0-9a-f]{24})$")
PAGE_PATH = re.compile(r"^/api/atlas/v2/groups/[0-9a-f]{24}/clusters$")
SCHEDULE_PATH = re.compile(r"^/api/atlas/v2/groups/[0-9a-f]{24}/clusters/[^/]+/backup/schedule$")


# -- the world -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class World:
    """What was generated: sizes, and the emulator state where everything is in sync."""

    projects: int
    clusters: int
    schedules: int
    policies: int
    per_project: tuple[int, ...]
    documents: int
    state: dict[str, object]


def policy_items(p: int) -> list[tuple[str, int, int, str]]:
    """Policy ``p``'s items as (type, interval, value, unit); the hourly interval varies."""
    out = []
    for kind in POLICY_MIXES[p % len(POLICY_MIXES)]:
        interval, value, unit = ITEMS[kind]
        if kind == "hourly":
            interval = (6, 12, 4)[p % 3]
        out.append((kind, interval, value, unit))
    return out


def has_hourly(p: int) -> bool:
    """Whether policy ``p`` allows point-in-time restore."""
    return any(kind == "hourly" for kind, *_ in policy_items(p))


def schedule_spec(s: int, policies: int) -> dict[str, Any]:
    """Schedule ``s``: s % 4 picks oplog copies, plain copies, export, or neither."""
    hourly = [p for p in range(policies) if has_hourly(p)]
    policy = hourly[(s // 4) % len(hourly)] if s % 4 == 0 else s % policies
    spec: dict[str, Any] = {
        "policy": policy,
        "referenceHourOfDay": s % 24,
        "referenceMinuteOfHour": s * 7 % 60,
        "restoreWindowDays": 2 if has_hourly(policy) else 7,
    }
    if s % 4 in (0, 1):
        spec["copySettings"] = [
            {
                "cloudProvider": "AWS",
                "regionName": REGIONS[s % len(REGIONS)],
                "shouldCopyOplogs": s % 4 == 0,
                "frequencies": ["HOURLY", "DAILY"] if s % 4 == 0 else ["DAILY", "WEEKLY"],
            }
        ]
    elif s % 4 == 2:
        spec["autoExportEnabled"] = True
        spec["export"] = {"exportBucketId": f"64f0c0ffee{s:014x}", "frequencyType": "monthly"}
    return spec


def pit_of(i: int, s: int, spec: dict[str, Any]) -> bool | None:
    """Deployment ``i``'s ``pitEnabled`` (None: left out), on schedule ``s``."""
    if s % 4 == 0:
        return True  # copies oplogs: needs PIT
    if not has_hourly(spec["policy"]) or i % 5 == 4:
        return None if i % 2 else False
    return i % 3 == 0


def policy_doc(p: int) -> str:
    """An AtlasBackupPolicy."""
    items = "".join(
        f"    - frequencyType: {kind}\n      frequencyInterval: {interval}\n"
        f"      retentionUnit: {unit}\n      retentionValue: {value}\n"
        for kind, interval, value, unit in policy_items(p)
    )
    head = f"{API}\nkind: AtlasBackupPolicy\nmetadata:\n  name: policy-{p:03d}\nspec:\n"
    return f"{head}  items:\n{items}"


def schedule_doc(s: int, spec: dict[str, Any]) -> str:
    """An AtlasBackupSchedule from its spec."""
    text = (
        f"{API}\nkind: AtlasBackupSchedule\nmetadata:\n  name: schedule-{s:03d}\nspec:\n"
        f"  policy:\n    name: policy-{spec['policy']:03d}\n"
        f"  referenceHourOfDay: {spec['referenceHourOfDay']}\n"
        f"  referenceMinuteOfHour: {spec['referenceMinuteOfHour']}\n"
        f"  restoreWindowDays: {spec['restoreWindowDays']}\n"
    )
    if "copySettings" in spec:
        text += "  copySettings:\n"
        for copy in spec["copySettings"]:
            text += (
                f"    - cloudProvider: {copy['cloudProvider']}\n"
                f"      regionName: {copy['regionName']}\n"
                f"      shouldCopyOplogs: {str(copy['shouldCopyOplogs']).lower()}\n"
                f"      frequencies: [{', '.join(copy['frequencies'])}]\n"
            )
    if "export" in spec:
        export = spec["export"]
        text += (
            f"  autoExportEnabled: true\n  export:\n"
            f"    exportBucketId: {export['exportBucketId']}\n"
            f"    frequencyType: {export['frequencyType']}\n"
        )
    return text


def deployment_doc(i: int, project: int, s: int, pit: bool | None) -> str:
    """An AtlasDeployment of cluster ``i`` in project ``project`` on schedule ``s``."""
    pit_line = "" if pit is None else f"    pitEnabled: {str(pit).lower()}\n"
    backup = "    backupEnabled: true\n" if i % 2 else ""
    return (
        f"{API}\nkind: AtlasDeployment\nmetadata:\n  name: cluster-{i:05d}\n"
        f"spec:\n  projectRef:\n    name: project-{project:02d}\n"
        f"  backupRef:\n    name: schedule-{s:03d}\n  deploymentSpec:\n"
        f"    name: cluster-{i:05d}\n    clusterType: REPLICASET\n{backup}{pit_line}"
        "    replicationSpecs:\n      - zoneName: Zone 1\n        regionConfigs:\n"
        "          - providerName: AWS\n            regionName: US_EAST_1\n"
        "            priority: 7\n            electableSpecs:\n"
        f"              instanceSize: M{(10, 20, 30)[i % 3]}\n              nodeCount: 3\n"
    )


def project_id(p: int) -> str:
    """Project ``p``'s 24-hex id in the emulator."""
    return f"65b0c0ffee{p:014x}"


def generate(repo: Path, *, clusters: int, projects: int) -> World:
    """Write the manifests under ``repo``; return the sizes and the matching emulator state."""
    schedules = max(1, clusters // 20)
    policies = max(len(POLICY_MIXES), schedules // 5)
    specs = [schedule_spec(s, policies) for s in range(schedules)]
    files: dict[Path, list[str]] = {
        repo / "policies.yaml": [policy_doc(p) for p in range(policies)],
        repo / "schedules.yaml": [schedule_doc(s, spec) for s, spec in enumerate(specs)],
    }
    per_project = [clusters // projects + (p < clusters % projects) for p in range(projects)]
    state_projects, state_clusters, state_schedules = [], [], []
    state_buckets: dict[tuple[str, str], dict[str, str]] = {}
    i = 0
    for p, count in enumerate(per_project):
        folder = repo / "projects" / f"project-{p:02d}"
        head = f"{API}\nkind: AtlasProject\nmetadata:\n  name: project-{p:02d}\nspec:\n"
        files[folder / "project.yaml"] = [f"{head}  name: Project {p:02d}\n"]
        state_projects.append({"id": project_id(p), "name": f"Project {p:02d}"})
        docs = files.setdefault(folder / "deployments.yaml", [])
        for _ in range(count):
            s = i % schedules
            pit = pit_of(i, s, specs[s])
            docs.append(deployment_doc(i, p, s, pit))
            state_clusters.append(
                {
                    "projectId": project_id(p),
                    "name": f"cluster-{i:05d}",
                    "instanceSize": f"M{(10, 20, 30)[i % 3]}",
                    "backupEnabled": True,
                    "pitEnabled": bool(pit),
                }
            )
            held = {k: v for k, v in specs[s].items() if k != "policy"}
            items = policy_items(specs[s]["policy"])
            keys = ("frequencyType", "frequencyInterval", "retentionValue", "retentionUnit")
            held["policies"] = [{"policyItems": [dict(zip(keys, it, strict=True)) for it in items]}]
            if "export" in held:
                bucket = held["export"]["exportBucketId"]
                state_buckets[project_id(p), bucket] = {
                    "projectId": project_id(p),
                    "id": bucket,
                    "bucketName": f"exports-{bucket[-6:]}",
                }
            state_schedules.append(
                {"projectId": project_id(p), "clusterName": f"cluster-{i:05d}", **held}
            )
            i += 1
    for path, docs in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\n".join(docs), encoding="utf-8")
    state = {
        "projects": state_projects,
        "clusters": state_clusters,
        "exportBuckets": list(state_buckets.values()),
        "schedules": state_schedules,
    }
    return World(
        projects=projects,
        clusters=clusters,
        schedules=schedules,
        policies=policies,
        per_project=tuple(per_project),
        documents=sum(len(d) for d in files.values()),
        state=state,
    )


def write_config(root: Path, url: str, concurrency: int) -> Path:
    """gitopsd.toml: the manifests directory, the emulator, key files, a state directory."""
    emu = Credentials()
    secrets = root / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "public_key").write_text(emu.public_key, encoding="utf-8")
    (secrets / "private_key").write_text(emu.private_key, encoding="utf-8")
    path = root / "gitopsd.toml"
    path.write_text(
        f'[git]\nurl = "{root / "repo"}"\n\n'
        f'[atlas]\nbase_url = "{url}"\n'
        f'public_key_file = "{secrets / "public_key"}"\n'
        f'private_key_file = "{secrets / "private_key"}"\n'
        f"concurrency = {concurrency}\n\n"
        f'[state]\ndir = "{root / "state"}"\n',
        encoding="utf-8",
    )
    return path


@contextmanager
def emulator(state_file: Path) -> Iterator[str]:
    """The emulator as a subprocess serving ``state_file``; yield its base URL."""
    with procs.emulator(state_file) as (url, _pid):
        yield url


def set_latency(url: str, latency_ms: float) -> None:
    """Replace the emulator's faults with a fixed latency."""
    httpx.put(f"{url}/_emulator/faults", json={"latency_ms": latency_ms}).raise_for_status()


def check_noop(config_path: Path, world: World) -> None:
    """Stop unless a plan finds every generated cluster in sync and the manifests clean."""
    stop = threading.Event()
    with wiring.Runtime(config.load(config_path), stop=stop) as runtime:
        cycle = reconcile.run_cycle(runtime.deps(), stop, write=False)
    errors = [p for p in cycle.problems if p.is_error]
    if errors or cycle.plan.unplanned:
        shown = "\n".join(f"  {p.file}:{p.line}: {p.code}: {p.message}" for p in errors[:10])
        sys.exit(
            f"the generated manifests have {len(errors)} errors and"
            f" {len(cycle.plan.unplanned)} unplanned deployments:\n{shown}"
        )
    if len(cycle.plan.clusters) != world.clusters:
        sys.exit(f"the plan has {len(cycle.plan.clusters)} clusters, not {world.clusters}")
    wrong = [c for c in cycle.plan.clusters if c.status is not Status.IN_SYNC]
    if wrong:
        first = wrong[0]
        lines = [f"  {c.path}: Atlas {c.atlas!r}, Git {c.git!r} ({c.why})" for c in first.changes]
        if first.failure is not None:
            lines.append(f"  failure: {first.failure.message}")
        sys.exit(
            f"the world is not a no-op: {len(wrong)} of {world.clusters} clusters are not in"
            f" sync; the first, {first.key} ({first.status}):\n" + "\n".join(lines)
        )


# -- measuring (in a child process) ----------------------------------------------------------


def kind(entry: dict) -> str:
    """What one request-log entry was: project, page, schedule, write, challenge or other."""
    path, status, method = entry["path"], entry["status"], entry["method"]
    if status == 401:
        return "challenge"
    if method not in {"GET", "HEAD"}:
        return "write"
    if status == 200 and PROJECT_PATH.match(path):
        return "project"
    if status == 200 and PAGE_PATH.match(path):
        return "page"
    if status == 200 and SCHEDULE_PATH.match(path):
        return "schedule"
    return "other"


def timed(load: Callable[[Checkout], desired.Result], spent: list[float]) -> Callable:
    """``load`` adding the seconds each call takes to ``spent``."""

    def run(checkout: Checkout) -> desired.Result:
        began = time.perf_counter()
        try:
            return load(checkout)
        finally:
            spent.append(time.perf_counter() - began)

    return run


def peak_rss_kb() -> int:
    """This process's peak RSS in kB: VmHWM, which (unlike ``ru_maxrss``) exec resets."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # includes the parent's at fork


def phases(log: list[dict], started: float, ended: float, latency_s: float) -> dict[str, float]:
    """Where a cycle's time went, from the log's arrival times (epoch seconds in ``started``).

    before: start to the first request (config, manifests, client); projects: first request
    to the answer of the last list page; gap: to the first schedule GET; schedules: to the
    answer of the last; after: to the end (plan, apply, close).
    """
    at = {
        k: [dt.datetime.fromisoformat(e["time"]).timestamp() for e in log if kind(e) == k]
        for k in ("page", "schedule")
    }
    first = min(dt.datetime.fromisoformat(e["time"]).timestamp() for e in log)
    pages_end = max(at["page"]) + latency_s
    schedules_end = max(at["schedule"], default=pages_end - latency_s) + latency_s
    return {
        "before": first - started,
        "projects": pages_end - first,
        "gap": min(at["schedule"], default=pages_end) - pages_end,
        "schedules": schedules_end - min(at["schedule"], default=pages_end),
        "after": ended - schedules_end,
    }


def child(
    config_path: str, url: str, *, write: bool, runs: int, latency_s: float
) -> dict[str, object]:
    """Run ``runs`` cycles in this process; per run wall, load, CPU, requests, phases."""
    base_kb = peak_rss_kb()
    results = []
    with httpx.Client(base_url=url) as admin:
        for _ in range(runs):
            admin.delete("/_emulator/requests").raise_for_status()
            spent: list[float] = []
            epoch, started, cpu = time.time(), time.perf_counter(), time.process_time()
            stop = threading.Event()
            with wiring.Runtime(config.load(config_path), stop=stop) as runtime:
                deps = runtime.deps()
                deps = dataclasses.replace(deps, load=timed(deps.load, spent))
                cycle = reconcile.run_cycle(deps, stop, write=write)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            log = admin.get("/_emulator/requests").raise_for_status().json()["requests"]
            others = sorted(
                {f"{e['method']} {e['path']} {e['status']}" for e in log if kind(e) == "other"}
            )
            results.append(
                {
                    "wall": wall,
                    "load": sum(spent),
                    "cpu": cpu,
                    "kinds": Counter(kind(e) for e in log),
                    "others": others[:5],
                    "statuses": Counter(str(s) for s in cycle.statuses),
                    "phases": phases(log, epoch, epoch + wall, latency_s),
                }
            )
    return {"runs": results, "rss_kb": peak_rss_kb(), "base_kb": base_kb}


def spawn(config_path: Path, url: str, *, write: bool, runs: int, latency_ms: float) -> dict:
    """Run ``child`` in a fresh interpreter, so its CPU time and peak RSS are its own."""
    cmd = [sys.executable, __file__, "--child", "apply" if write else "plan"]
    cmd += ["--config", str(config_path), "--url", url, "--runs", str(runs)]
    cmd += ["--latency-ms", str(latency_ms)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"the {cmd[3]} run failed (exit {proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)


# -- the floor -------------------------------------------------------------------------------


def pages_of(count: int) -> int:
    """Cluster list pages of a project with ``count`` clusters (an empty one is one page)."""
    return max(1, math.ceil(count / atlas_wire.ITEMS_PER_PAGE))


def floor_s(
    per_project: tuple[int, ...], concurrency: int, latency_s: float
) -> tuple[float, float]:
    """The least time of gitopsd's order of requests, each taking ``latency_s``, no CPU time.

    (projects, schedules): the pool's finish time for the per-project chains of a lookup and
    the list pages, then the waves of schedule GETs.
    """
    workers = [0] * concurrency  # when each pool thread is free, in requests
    for count in per_project:
        heapq.heappush(workers, heapq.heappop(workers) + 1 + pages_of(count))
    waves = math.ceil(sum(per_project) / concurrency)
    return max(workers) * latency_s, waves * latency_s


# -- the table -------------------------------------------------------------------------------


def bench(world: World, root: Path, *, levels: list[int], latency_ms: float, runs: int) -> None:
    """Check the world is a no-op, then measure and print plan and apply at each concurrency."""
    latency_s = latency_ms / 1000
    pages = sum(pages_of(n) for n in world.per_project)
    minimum = world.projects + pages + world.clusters
    state_file = root / "state.json"
    state_file.write_text(json.dumps(world.state), encoding="utf-8")
    print(
        f"\n{world.clusters:,} clusters in {world.projects} projects, {world.schedules} schedules,"
        f" {world.policies} policies ({world.documents:,} documents); {latency_ms:g} ms per"
        f" request; minimum {minimum:,} requests ({world.projects} project lookups + {pages}"
        f" cluster list pages + {world.clusters:,} schedule GETs)"
    )
    rows: list[tuple[int, str, dict, tuple[float, float]]] = []
    with emulator(state_file) as url:
        check_noop(write_config(root, url, max(levels)), world)
        print("  checked: a plan without latency finds every cluster in sync")
        set_latency(url, latency_ms)
        print(
            f"  {'conc':>4} {'pass':<5} {'runs':>4} {'wall s':>6} {'worst s':>7}"
            f" {'requests':>8} {'proj':>4} {'pages':>5} {'sched':>5} {'writes':>6} {'401':>3}"
            f" {'other':>5} {'minimum':>7} {'ideal s':>7} {'floor s':>7} {'cpu s':>5}"
            f" {'RSS MB':>6}  target"
        )
        for concurrency in levels:
            config_path = write_config(root, url, concurrency)
            ideal = minimum * latency_s / concurrency
            floor = floor_s(world.per_project, concurrency, latency_s)
            for write in (False, True):
                name = "apply" if write else "plan"
                fig = spawn(config_path, url, write=write, runs=runs, latency_ms=latency_ms)
                for r in fig["runs"]:
                    if set(r["statuses"]) != {"in-sync"}:
                        sys.exit(f"a {name} cycle left clusters not in sync: {r['statuses']}")
                best = min(fig["runs"], key=lambda r: r["wall"])
                worst = max(r["wall"] for r in fig["runs"])
                k = Counter(best["kinds"])
                ok = all(meets(Counter(r["kinds"]), minimum) for r in fig["runs"])
                print(
                    f"  {concurrency:>4} {name:<5} {runs:>4} {best['wall']:>6.2f} {worst:>7.2f}"
                    f" {sum(k.values()):>8,} {k['project']:>4} {k['page']:>5} {k['schedule']:>5}"
                    f" {k['write']:>6} {k['challenge']:>3} {k['other']:>5} {minimum:>7,}"
                    f" {ideal:>7.3f} {sum(floor):>7.3f} {best['cpu']:>5.2f}"
                    f" {fig['rss_kb'] * 1024 / 1e6:>6.1f}  {'PASS' if ok else 'MISS'}"
                )
                if best["others"]:
                    print(f"        other requests: {'; '.join(best['others'])}")
                if not meets(k, minimum):
                    print(f"        requests by kind: {dict(k)}")
                rows.append((concurrency, name, best, floor))
        base_mb = fig["base_kb"] * 1024 / 1e6
    print(f"  (RSS of a measuring process after imports, before its first cycle: {base_mb:.1f} MB)")
    print(
        "\n  where the best cycle's time went (s; from the emulator's log of arrival times):"
        f"\n  {'conc':>4} {'pass':<5} {'wall':>5} {'before':>6} {'(load)':>6} {'projects':>8}"
        f" {'(floor)':>7} {'gap':>5} {'schedules':>9} {'(floor)':>7} {'after':>5}"
    )
    for concurrency, name, best, (floor_projects, floor_schedules) in rows:
        ph = best["phases"]
        print(
            f"  {concurrency:>4} {name:<5} {best['wall']:>5.2f} {ph['before']:>6.3f}"
            f" {best['load']:>6.3f} {ph['projects']:>8.3f} {floor_projects:>7.3f} {ph['gap']:>5.3f}"
            f" {ph['schedules']:>9.3f} {floor_schedules:>7.3f} {ph['after']:>5.3f}"
        )


def meets(kinds: Counter, minimum: int) -> bool:
    """The target: requests without digest challenges equal the minimum, and zero writes."""
    return sum(kinds.values()) - kinds["challenge"] == minimum and kinds["write"] == 0


def main() -> None:
    """Parse arguments; generate, check and measure, or run as a measured child."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=1_000)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3, help="cycles per pass; the best is shown")
    parser.add_argument("--child", choices=("plan", "apply"), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        write, latency_s = args.child == "apply", args.latency_ms / 1000
        result = child(args.config, args.url, write=write, runs=args.runs, latency_s=latency_s)
        print(json.dumps(result))
        return
    if not 1 <= args.projects <= 100 or args.clusters < args.projects:
        parser.error("--projects must be 1 to 100 and no more than --clusters")
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; emulator in a subprocess;"
        f" API-key digest auth; each pass in a fresh process, best and worst of {args.runs} cycles;"
        " target: requests (without digest challenges) == minimum and zero writes"
    )
    with tempfile.TemporaryDirectory(prefix="gitopsd-bench-") as tmp:
        root = Path(tmp)
        world = generate(root / "repo", clusters=args.clusters, projects=args.projects)
        bench(world, root, levels=args.concurrency, latency_ms=args.latency_ms, runs=args.runs)


if __name__ == "__main__":
    main()
