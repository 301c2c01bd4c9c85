"""Benchmark: reading a large manifest repository with gitopsd, against bare ruamel.yaml loads.

For each size N (1,000 and 10,000 clusters unless ``--clusters`` says otherwise) it generates a
repository of valid manifests into a temporary directory: N/100 projects, each a directory with
an AtlasProject file and a multi-document file of its AtlasDeployments; one AtlasBackupSchedule
per ~20 deployments and one AtlasBackupPolicy per ~5 schedules, in files of their own. It checks
that gitopsd finds zero errors in it, then measures, each in a fresh process pinned to one CPU:

* ``gitopsd.desired.load([dir])``: read files, parse with libyaml events, validate, build graph;
* ``YAML(typ="safe").load_all`` over the same files (libyaml through ruamel.yaml.clib);
* ``YAML(typ="rt").load_all`` over the same files (round-trip loader, pure Python).

Wall and CPU times are the best of the runs; peak RSS is the process's ``ru_maxrss``.

Run: ``make bench``, or ``.venv/bin/python bench/manifests_bench.py --clusters 10000``;
``--out DIR`` keeps the generated repositories in DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

API = "apiVersion: atlas.mongodb.com/v1"
TARGET_CLUSTERS, TARGET_SECONDS, TARGET_RSS_MB, TARGET_OVERHEAD = 10_000, 5.0, 300.0, 1.5
ITEMS = {  # frequencyType: (frequencyInterval, retentionValue, retentionUnit)
    "hourly": (6, 2, "days"),
    "daily": (1, 7, "days"),
    "weekly": (1, 4, "weeks"),
    "monthly": (1, 12, "months"),
    "yearly": (1, 1, "years"),
}
POLICY_MIXES = (tuple(ITEMS), ("hourly", "daily", "weekly", "monthly"), ("hourly", "daily"))
REGIONS = ("US_EAST_1", "EU_WEST_1", "AP_SOUTHEAST_2")
SIZES = ("M10", "M20", "M30", "M40", "M50")


def policy_doc(p: int) -> str:
    """An AtlasBackupPolicy with one of three valid item mixes (all keep an hourly item)."""
    items = "".join(
        f"    - frequencyType: {f}\n      frequencyInterval: {ITEMS[f][0]}\n"
        f"      retentionValue: {ITEMS[f][1]}\n      retentionUnit: {ITEMS[f][2]}\n"
        for f in POLICY_MIXES[p % len(POLICY_MIXES)]
    )
    head = f"{API}\nkind: AtlasBackupPolicy\nmetadata:\n  name: policy-{p:04d}\nspec:\n"
    return f"{head}  items:\n{items}"


def schedule_doc(s: int, policies: int) -> str:
    """An AtlasBackupSchedule; s % 4 picks oplog copies, plain copies, export, or neither."""
    extra = ""
    if s % 4 in (0, 1):
        oplogs = "      shouldCopyOplogs: true\n" if s % 4 == 0 else ""
        extra = (
            f"  copySettings:\n    - cloudProvider: AWS\n      regionName: {REGIONS[s % 3]}\n"
            f"{oplogs}      frequencies: [HOURLY, DAILY, WEEKLY]\n"
        )
    elif s % 4 == 2:
        extra = (
            f"  autoExportEnabled: true\n  export:\n    exportBucketId: 64f0c0ffee{s:014x}\n"
            "    frequencyType: monthly\n"
        )
    return (
        f"{API}\nkind: AtlasBackupSchedule\nmetadata:\n  name: schedule-{s:04d}\nspec:\n"
        f"  policy:\n    name: policy-{s % policies:04d}\n  referenceHourOfDay: {s % 24}\n"
        f"  referenceMinuteOfHour: {s * 7 % 60}\n  restoreWindowDays: 7\n{extra}"
    )


def deployment_doc(i: int, project: str, s: int) -> str:
    """An AtlasDeployment; users of an oplog-copying schedule (s % 4 == 0) all enable PIT."""
    pit = "true" if s % 4 == 0 or i % 3 == 0 else "false"
    return (
        f"{API}\nkind: AtlasDeployment\nmetadata:\n  name: {project}-c{i:05d}\n"
        f"  labels:\n    team: team-{i % 37}\nspec:\n  projectRef:\n    name: {project}\n"
        f"  backupRef:\n    name: schedule-{s:04d}\n  deploymentSpec:\n"
        f"    name: cluster-{i:05d}\n    clusterType: REPLICASET\n    backupEnabled: true\n"
        f'    pitEnabled: {pit}\n    mongoDBMajorVersion: "7.0"\n    replicationSpecs:\n'
        "      - zoneName: Zone 1\n        regionConfigs:\n          - providerName: AWS\n"
        f"            regionName: {REGIONS[i % 3]}\n            priority: 7\n"
        f"            electableSpecs:\n              instanceSize: {SIZES[i % len(SIZES)]}\n"
        "              nodeCount: 3\n"
    )


def generate(root: Path, clusters: int) -> dict[str, int]:
    """Write the repository for ``clusters`` clusters under ``root``; return its counts."""
    projects = max(1, clusters // 100)
    schedules = max(1, clusters // 20)
    policies = max(1, schedules // 5)
    files: dict[Path, list[str]] = {
        root / "policies" / "policies.yaml": [policy_doc(p) for p in range(policies)]
    }
    for s in range(schedules):
        files.setdefault(root / "schedules" / f"schedules-{s // 50:02d}.yaml", []).append(
            schedule_doc(s, policies)
        )
    per_project = -(-clusters // projects)
    for i in range(clusters):
        name = f"proj-{i // per_project:03d}"
        folder = root / "projects" / name
        if i % per_project == 0:
            files[folder / "project.yaml"] = [
                f"{API}\nkind: AtlasProject\nmetadata:\n  name: {name}\nspec:\n  name: {name}\n"
            ]
        docs = files.setdefault(folder / "deployments.yaml", [])
        docs.append(deployment_doc(i, name, i % schedules))
    size = 0
    for path, docs in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        size += path.write_text("---\n".join(docs), encoding="utf-8")
    documents = sum(len(d) for d in files.values())
    return {
        "projects": projects,
        "schedules": schedules,
        "policies": policies,
        "files": len(files),
        "documents": documents,
        "bytes": size,
    }


def child(mode: str, root: str, runs: int) -> dict[str, float]:
    """Measure one loader ``runs`` times in this process; exit non-zero on any error found."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})  # one core
    if mode == "gitopsd":
        from gitopsd import desired

        def load() -> int:
            result = desired.load([root])
            errors = [p for p in result.problems if p.is_error]
            if errors or result.state.blocked:
                shown = "\n".join(f"{p.file}:{p.line}: {p.code}: {p.message}" for p in errors[:20])
                sys.exit(f"generated manifests have {len(errors)} errors:\n{shown}")
            return len(result.state.clusters)
    else:
        from ruamel.yaml import YAML

        def load() -> int:  # keeps every document, as gitopsd keeps every tree until built
            yaml, docs = YAML(typ=mode), []
            for path in sorted(Path(root).rglob("*.yaml")):
                docs.extend(yaml.load_all(path.read_text(encoding="utf-8")))
            return len(docs)

    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    best_wall = best_cpu = float("inf")
    count = 0
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        count = load()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"wall": best_wall, "cpu": best_cpu, "rss": peak_kb, "base": base_kb, "count": count}


def spawn(mode: str, root: Path, runs: int) -> dict[str, float]:
    """Run ``child`` in a fresh interpreter, so its peak RSS is its own."""
    cmd = [sys.executable, __file__, "--child", mode, "--dir", str(root), "--runs", str(runs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{mode} run failed (exit {proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)


def bench(clusters: int, root: Path) -> None:
    """Generate, measure and print one size."""
    c = generate(root, clusters)
    print(
        f"\n{clusters:,} clusters: {c['projects']} projects, {c['schedules']} schedules,"
        f" {c['policies']} policies; {c['documents']:,} documents in {c['files']} files"
        f" ({c['bytes'] / 1e6:.1f} MB)"
    )
    configs = (
        ("gitopsd", "gitopsd.desired.load([dir])", 3, clusters),
        ("safe", 'YAML(typ="safe").load_all', 3, c["documents"]),
        ("rt", 'YAML(typ="rt").load_all', 1 if clusters >= TARGET_CLUSTERS else 3, c["documents"]),
    )
    print(f"  {'loader':<30} {'runs':>4} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    figures = {}
    for mode, label, runs, expected in configs:
        fig = figures[mode] = spawn(mode, root, runs)
        if fig["count"] != expected:
            sys.exit(f"{label} returned {fig['count']} items, expected {expected}")
        mb = fig["rss"] * 1024 / 1e6
        print(f"  {label:<30} {runs:>4} {fig['wall']:>8.2f} {fig['cpu']:>8.2f} {mb:>12.1f}")
    base_mb = figures["gitopsd"]["base"] * 1024 / 1e6
    print(f"  (gitopsd process after imports, before loading: {base_mb:.1f} MB)")
    overhead = figures["gitopsd"]["wall"] / figures["safe"]["wall"]
    slower = figures["rt"]["wall"] / figures["safe"]["wall"]
    print(f"  overhead over the bare safe load: {overhead:.2f}x; rt / safe load: {slower:.1f}x")
    checks = [("overhead", f"< {TARGET_OVERHEAD}x", f"{overhead:.2f}x", overhead < TARGET_OVERHEAD)]
    if clusters >= TARGET_CLUSTERS:
        wall, rss = figures["gitopsd"]["wall"], figures["gitopsd"]["rss"] * 1024 / 1e6
        checks[:0] = [
            ("wall time", f"< {TARGET_SECONDS:.0f} s", f"{wall:.2f} s", wall < TARGET_SECONDS),
            ("peak RSS", f"< {TARGET_RSS_MB:.0f} MB", f"{rss:.1f} MB", rss < TARGET_RSS_MB),
        ]
    for name, target, value, ok in checks:
        print(f"  target {name:<10} {target:<9} {value:>9}  {'PASS' if ok else 'MISS'}")


def main() -> None:
    """Parse arguments; run as the parent (generate, spawn, print) or as a measured child."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--out", type=Path, help="keep the generated repositories here")
    parser.add_argument("--child", choices=("gitopsd", "safe", "rt"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.dir, args.runs)))
        return
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; each loader pinned to one CPU")
    for clusters in args.clusters:
        if args.out:
            bench(clusters, args.out / f"clusters-{clusters}")
            continue
        with tempfile.TemporaryDirectory(prefix="gitopsd-bench-") as tmp:
            bench(clusters, Path(tmp))


if __name__ == "__main__":
    main()
