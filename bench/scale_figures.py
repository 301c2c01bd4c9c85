"""The scale benchmark's figures: requests by kind, minimums and floors, rows and tables.

Owns classifying the emulator's request log (lookups, pages, schedule GETs, PATCHes,
read-backs, challenges), the minimum of requests and the latency floor of a cycle, turning
one measured cycle into a ``Row``, and printing the tables and the PASS/MISS of each target.
It runs nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections import Counter

import reconcile_bench as rb

CLUSTER_PATH = re.compile(r"^/api/atlas/v2/groups/[0-9a-f]{24}/clusters/([^/]+)$")
TARGET_NOOP_CPU_S = 10.0
TARGET_ONE_FILE_S = 2.0
TARGET_RSS_MB = 500.0


def when(entry: dict) -> float:
    """A request-log entry's arrival, epoch seconds (millisecond resolution)."""
    return dt.datetime.fromisoformat(entry["time"]).timestamp()


def classify(log: list[dict]) -> list[str]:
    """Each entry's kind; a schedule GET after that schedule's PATCH is a read-back."""
    patched: set[str] = set()
    kinds = []
    for entry in log:
        path, method, status = entry["path"], entry["method"], entry["status"]
        if status == 401:
            kinds.append("challenge")
        elif rb.SCHEDULE_PATH.match(path) and status == 200:
            if method == "PATCH":
                patched.add(path)
                kinds.append("patch")
            else:
                kinds.append("readback" if path in patched else "schedule")
        elif CLUSTER_PATH.match(path) and method != "GET":
            kinds.append("cluster-write")
        elif method == "GET" and status == 200 and rb.PROJECT_PATH.match(path):
            kinds.append("project")
        elif method == "GET" and status == 200 and rb.PAGE_PATH.match(path):
            kinds.append("page")
        else:
            kinds.append("other")
    return kinds


@dataclasses.dataclass(frozen=True, slots=True)
class Minimum:
    """The least requests of a cycle, and the least latency gitopsd's order of them allows."""

    projects: int
    pages: int
    schedules: int
    writes: int
    concurrency: int
    latency_s: float
    observe_floor_s: float

    @property
    def total(self) -> int:
        """Lookups + pages + schedule GETs + PATCHes + read-backs."""
        return self.projects + self.pages + self.schedules + 2 * self.writes

    @property
    def ideal_s(self) -> float:
        """Every request's latency spread evenly over the connections."""
        return self.total * self.latency_s / self.concurrency

    @property
    def waves(self) -> int:
        """Rounds of ``concurrency`` clusters, each a PATCH then its read-back."""
        return math.ceil(self.writes / self.concurrency)

    @property
    def floor_s(self) -> float:
        """Observation's floor, then the waves of writes."""
        return self.observe_floor_s + self.waves * 2 * self.latency_s

    @property
    def held_floor_s(self) -> float:
        """The floor until the last PATCH arrives (Atlas holds the value on arrival)."""
        return self.observe_floor_s + max(0, self.waves - 1) * 2 * self.latency_s

    def met(self, kinds: Counter) -> bool:
        """Requests (without challenges) equal the minimum, kind by kind."""
        wanted = {
            "project": self.projects,
            "page": self.pages,
            "schedule": self.schedules,
            "patch": self.writes,
            "readback": self.writes,
        }
        extra = set(kinds) - set(wanted) - {"challenge"}
        return all(kinds[k] == n for k, n in wanted.items()) and not extra


def minimum(world: rb.World, writes: int, concurrency: int, latency_s: float) -> Minimum:
    """The minimum of a cycle over ``world`` that changes ``writes`` schedules."""
    return Minimum(
        projects=world.projects,
        pages=sum(rb.pages_of(n) for n in world.per_project),
        schedules=world.clusters,
        writes=writes,
        concurrency=concurrency,
        latency_s=latency_s,
        observe_floor_s=sum(rb.floor_s(world.per_project, concurrency, latency_s)),
    )


def incremental_minimum(
    world: rb.World, clusters: frozenset[tuple[str, str]], concurrency: int, latency_s: float
) -> Minimum:
    """The minimum of an incremental cycle changing ``clusters`` (project id, name) alone.

    Only the changed clusters are read: each of their projects is looked up and listed, then
    each cluster's schedule is read, written and read back.
    """
    sizes = {rb.project_id(p): n for p, n in enumerate(world.per_project)}
    counts = tuple(sizes[p] for p in sorted({p for p, _ in clusters}))
    projects_s, _ = rb.floor_s(counts, concurrency, latency_s)
    schedules_s = math.ceil(len(clusters) / concurrency) * latency_s
    return Minimum(
        projects=len(counts),
        pages=sum(rb.pages_of(n) for n in counts),
        schedules=len(clusters),
        writes=len(clusters),
        concurrency=concurrency,
        latency_s=latency_s,
        observe_floor_s=projects_s + schedules_s,
    )


def marks(log: list[dict], latency_s: float) -> dict[str, float]:
    """Epoch times from the log: first request, end of observation, first write, last answer."""
    kinds = classify(log)
    at = [when(e) for e in log]
    observing = [t for t, k in zip(at, kinds, strict=True) if k in {"project", "page", "schedule"}]
    writing = [t for t, k in zip(at, kinds, strict=True) if k in {"patch", "readback"}]
    return {
        "first": min(at),
        "observed": max(observing) + latency_s,
        "first_write": min(writing, default=math.nan),
        "last": max(at) + latency_s,
    }


def mb(kb: float) -> float:
    """Kilobytes (as /proc and getrusage count them) to MB (10^6 bytes)."""
    return kb * 1024 / 1e6


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One measured cycle: its name, figures, requests by kind and minimum."""

    name: str
    wall_s: float
    cpu_s: float
    children_cpu_s: float
    rss_kb: int
    kinds: Counter
    least: Minimum
    steps: dict[str, float]
    cpu_steps: dict[str, float] = dataclasses.field(default_factory=dict)


def apply_row(name: str, fig: dict, log: list[dict], least: Minimum, latency_s: float) -> Row:
    """A Row from an apply process's figures and its request log."""
    t, m = fig["t"], marks(log, latency_s)
    write = m["first_write"] if not math.isnan(m["first_write"]) else t["cycled"]
    steps = {
        "config": t["fetch"] - t["start"],
        "fetch": t["fetched"] - t["fetch"],
        "load": t["loaded"] - t["load"],
        "observe": m["observed"] - t["loaded"],
        "plan": write - m["observed"],
        "apply": m["last"] - write if not math.isnan(m["first_write"]) else 0.0,
        "settle": t["cycled"] - max(m["last"], write),
        "publish": t["published"] - t["cycled"],
        "output": t["end"] - t["published"],
    }
    return Row(
        name=name,
        wall_s=t["end"] - t["start"],
        cpu_s=fig["cpu"],
        children_cpu_s=fig["children_cpu"],
        rss_kb=fig["rss_kb"],
        kinds=Counter(classify(log)),
        least=least,
        steps=steps,
        cpu_steps={
            "config": fig["c"]["fetch"] - fig["c"]["start"],
            "fetch": fig["c"]["fetched"] - fig["c"]["fetch"],
            "load": fig["c"]["loaded"] - fig["c"]["load"],
            "observe, plan, apply": fig["c"]["cycled"] - fig["c"]["loaded"],
            "publish": fig["c"]["published"] - fig["c"]["cycled"],
            "output": fig["c"]["end"] - fig["c"]["published"],
        },
    )


def daemon_row(fig: dict, least: Minimum) -> Row:
    """A Row for the webhook's cycle: wall is webhook sent to ``cycle_finished``."""
    m = fig["marks"]
    steps = {
        "webhook": fig["hook"] - fig["sent"],
        "fetch": fig["started"] - fig["hook"],
        "load": m["first"] - fig["started"],
        "observe": m["observed"] - m["first"],
        "plan": m["first_write"] - m["observed"],
        "apply": m["last"] - m["first_write"],
        "publish": fig["finished"] - m["last"],
    }
    return Row(
        name="one file (daemon)",
        wall_s=fig["finished"] - fig["sent"],
        cpu_s=fig["cpu"],
        children_cpu_s=fig["children_cpu"],
        rss_kb=fig["rss_kb"],
        kinds=fig["kinds"],
        least=least,
        steps=steps,
    )


def print_rows(rows: list[Row]) -> None:
    """The requests, time, CPU and memory of every cycle."""
    print(
        f"\n  {'cycle':<18} {'wall s':>6} {'requests':>8} {'proj':>4} {'pages':>5} {'sched':>6}"
        f" {'patch':>6} {'rdback':>6} {'401':>3} {'other':>5} {'minimum':>7} {'ideal s':>7}"
        f" {'floor s':>7} {'cpu s':>6} {'git cpu':>7} {'RSS MB':>6}  requests"
    )
    for r in rows:
        k = r.kinds
        other = sum(k.values()) - sum(
            k[x] for x in ("project", "page", "schedule", "patch", "readback", "challenge")
        )
        print(
            f"  {r.name:<18} {r.wall_s:>6.2f} {sum(k.values()):>8,} {k['project']:>4}"
            f" {k['page']:>5} {k['schedule']:>6,} {k['patch']:>6,} {k['readback']:>6,}"
            f" {k['challenge']:>3} {other:>5} {r.least.total:>7,} {r.least.ideal_s:>7.3f}"
            f" {r.least.floor_s:>7.3f} {r.cpu_s:>6.2f} {r.children_cpu_s:>7.2f}"
            f" {mb(r.rss_kb):>6.1f}  {verdict(r.least.met(k))}"
        )


def print_steps(rows: list[Row]) -> None:
    """Where each cycle's time went, with the latency floors of observing and applying."""
    names = ("config", "webhook", "fetch", "load", "observe", "(floor)", "plan", "apply")
    names += ("(floor)", "settle", "publish", "output")
    print("\n  where the time went (s; '-' does not apply):")
    print(f"  {'cycle':<18} {'wall':>6} " + " ".join(f"{n:>7}" for n in names))
    for r in rows:
        least = r.least
        steps = r.steps | {"observe_floor": least.observe_floor_s}
        steps["apply_floor"] = least.waves * 2 * least.latency_s
        keys = ("config", "webhook", "fetch", "load", "observe", "observe_floor", "plan", "apply")
        keys += ("apply_floor", "settle", "publish", "output")
        cells = [f"{steps[n]:>7.3f}" if n in steps else f"{'-':>7}" for n in keys]
        print(f"  {r.name:<18} {r.wall_s:>6.2f} " + " ".join(cells))


def print_cpu(rows: list[Row]) -> None:
    """Where each apply process's CPU time went (all threads; git children apart)."""
    names = ("config", "fetch", "load", "observe, plan, apply", "publish", "output")
    print("\n  CPU seconds of the apply process by step (all threads; git children not included):")
    print(f"  {'cycle':<18} {'cpu':>6} " + " ".join(f"{n:>{max(7, len(n))}}" for n in names))
    for r in rows:
        if r.cpu_steps:
            cells = [f"{r.cpu_steps[n]:>{max(7, len(n))}.2f}" for n in names]
            print(f"  {r.name:<18} {r.cpu_s:>6.2f} " + " ".join(cells))


def print_targets(rows: list[Row], fig: dict, least: Minimum) -> None:
    """Each target, PASS or MISS."""
    print("\n  targets:")
    for r in rows:
        ok = r.least.met(r.kinds)
        print(
            f"  requests == minimum, {r.name}: {sum(r.kinds.values()) - r.kinds['challenge']:,}"
            f" (without {r.kinds['challenge']} challenges) vs {r.least.total:,}  {verdict(ok)}"
        )
    for r in rows:
        if r.name.startswith("no-op"):
            total = r.cpu_s + r.children_cpu_s
            print(
                f"  no-op CPU < {TARGET_NOOP_CPU_S:g} s, {r.name}: {total:.2f} s"
                f" ({r.cpu_s:.2f} process + {r.children_cpu_s:.2f} git)"
                f"  {verdict(total < TARGET_NOOP_CPU_S)}"
            )
    to_held = fig["held_at"] - fig["sent"]
    floor = least.held_floor_s
    print(
        f"  one file applied <= {TARGET_ONE_FILE_S:g} s after the webhook, excluding Atlas"
        f" latency: {to_held:.2f} s to the last PATCH - {floor:.2f} s latency floor"
        f" = {to_held - floor:.2f} s  {verdict(to_held - floor <= TARGET_ONE_FILE_S)}"
    )
    for r in rows:
        print(
            f"  peak RSS < {TARGET_RSS_MB:g} MB, {r.name}: {mb(r.rss_kb):.1f} MB"
            f"  {verdict(mb(r.rss_kb) < TARGET_RSS_MB)}"
        )
