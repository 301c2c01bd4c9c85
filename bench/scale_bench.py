"""Benchmark: cold, no-op and one-file-changed cycles over 10,000 clusters with Git and a daemon.

The world is ``reconcile_bench``'s (``--clusters`` AtlasDeployments in ``--projects``
AtlasProjects, N/20 AtlasBackupSchedules, N/100 AtlasBackupPolicies), committed by a user with
plain ``git`` to a bare remote in a temporary directory that gitopsd reads through
``[git] url = "file://..."``; reports go to the remote's report branch, as in production. The
emulator runs as a subprocess with ``--latency-ms`` (20 ms) on every authenticated answer;
``[atlas] concurrency`` is ``--concurrency`` (8). Three cycles are measured:

* **cold**: an empty state directory (the first clone is part of the cycle) and an Atlas where
  every cluster's schedule differs from Git in ways that only add protection (a 1-day restore
  window and the policy's last item missing), so the guard holds nothing back and every
  cluster gets one schedule PATCH and its read-back;
* **no-op**: the same again with nothing to change (``--noop-runs`` times; the first publishes a
  new report, later ones find the report branch already holding it);
* **one file changed**: ``gitopsd run`` as a subprocess (a notify socket bound here, JSON logs
  on stdout, a webhook secret file) on the same state directory; after READY and its first
  cycle, the user pushes a commit lengthening one schedule's restore window (one file, a
  schedule serving 20 clusters) and the bench POSTs a signed GitHub push webhook. It times
  the webhook until the emulator holds the new window for those clusters: exactly, from the
  arrival times of their PATCHes in the emulator's request log (the emulator changes its state
  before it waits out the latency), and checked by polling ``/_emulator/state`` every
  ``--poll-s`` seconds (bounded). A poll dumps the whole world under the emulator's lock,
  stalling every Atlas request meanwhile (about 0.2 s at 10,000 clusters, over 1 s on a busy
  machine), so above 1,000 clusters the bench does not poll during the cycle (``--poll-s 0``):
  it waits for the daemon's ``cycle_finished`` line and then reads the state once. The
  daemon's log timestamps and the request log split the cycle into fetch, load, observe, plan,
  apply and publish. Then the bench sends the daemon SIGUSR1 ``--full-runs`` times (2), each a
  full cycle with nothing to change, as the drift check runs it: the no-op cycle of a
  long-running daemon, whose manifests are already parsed.

The cold and no-op cycles each run in a fresh Python process doing what ``gitopsd apply``
does (``config.load``, ``wiring.Runtime``, the three steps of ``Runtime.cycle``: checkout,
``reconcile.run_cycle``, ``publish.publish``; then the text it prints, written to a file), with
each step timed. Per cycle: wall time; CPU of that process (``time.process_time``, all
threads) and of its children (git, ``RUSAGE_CHILDREN``); its peak RSS (``VmHWM``; the git
children's ``ru_maxrss`` is not shown, as on Linux it keeps the parent's RSS at fork); the
emulator's request log by kind, against the minimum:

    minimum = P project lookups + list pages (one per project per 500 clusters)
              + N schedule GETs (observation) + W schedule PATCHes + W read-back GETs

where W is the number of clusters whose schedule must change (N cold, 0 no-op). The daemon's
cycle after the webhook is incremental: it reads only the W = 20 clusters the file changed, so
its minimum is P' lookups and list pages (P' the projects of those clusters) + 3 x W (schedule
GET, PATCH, read-back). Digest challenges (401, no latency) are counted apart. Two latency figures
put times in context: the ideal (minimum x latency / concurrency) and the floor of gitopsd's
order of requests (``reconcile_bench.floor_s`` for observation, then ceil(W / concurrency)
waves of PATCH + GET). The machine has other work to do at times: for each cycle the bench
prints the CPU other processes used meanwhile (``/proc/stat`` less the measured process, its
children, the emulator and the bench).

Targets, printed as PASS/MISS and never asserted: requests equal the minimum in every cycle; a
no-op cycle's CPU (process + children) under 10 s; the one-file change held by the emulator
within 2 s of the webhook, less the latency floor; peak RSS under 500 MB.

Run: ``.venv/bin/python bench/scale_bench.py`` (10,000 clusters, several minutes) or
``--quick`` (500 clusters in 10 projects, under a minute; ``make bench``).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import reconcile_bench as rb
import scale_figures as figures
import subprocesses as procs

from gitopsd import cli, config, desired, publish, reconcile, wiring
from gitopsd.core import plan_output
from gitopsd.source import Checkout

SECRET = "scale-bench-webhook-secret"  # noqa: S105 - a throw-away secret on loopback


# -- the world: Git, Atlas, configuration ----------------------------------------------------


def git(*args: str, cwd: Path) -> str:
    """The user's own ``git``: no outside configuration, a fixed author; fails loudly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Ada User",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada User",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def push(user: Path, message: str) -> str:
    """Commit everything in the user's clone and push it; the new commit."""
    git("add", "--all", cwd=user)
    git("commit", "--quiet", "-m", message, cwd=user)
    git("push", "--quiet", "origin", "main", cwd=user)
    return git("rev-parse", "HEAD", cwd=user)


def cold(state: dict[str, object]) -> dict[str, object]:
    """Atlas before gitopsd: every schedule keeps 1 day of restore window and lacks an item.

    Converging lengthens the window and adds the item: no change the guard holds back.
    """
    out = copy.deepcopy(state)
    for schedule in out["schedules"]:  # type: ignore[union-attr]
        schedule["restoreWindowDays"] = 1
        items = schedule["policies"][0]["policyItems"]
        schedule["policies"][0]["policyItems"] = items[:-1]
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """The one-file change: a schedule, its new restore window, the clusters it serves."""

    schedule: int
    window_days: int
    clusters: frozenset[tuple[str, str]]


def change_one_file(world: rb.World, user: Path) -> Change:
    """Lengthen schedule 7's restore window by a day in ``schedules.yaml`` (one file)."""
    s = 7 % world.schedules
    spec = rb.schedule_spec(s, world.policies)
    longer = {**spec, "restoreWindowDays": spec["restoreWindowDays"] + 1}
    path = user / "schedules.yaml"
    text = path.read_text(encoding="utf-8")
    old, new = rb.schedule_doc(s, spec), rb.schedule_doc(s, longer)
    if text.count(old) != 1:
        sys.exit(f"schedule-{s:03d} is not in {path} exactly once")
    path.write_text(text.replace(old, new), encoding="utf-8")
    served = frozenset(
        (c["projectId"], c["name"])
        for i, c in enumerate(world.state["clusters"])  # type: ignore[arg-type]
        if i % world.schedules == s
    )
    return Change(schedule=s, window_days=longer["restoreWindowDays"], clusters=served)


def write_config(root: Path, *, remote: Path, url: str, concurrency: int) -> Path:
    """gitopsd.toml: the remote, the emulator's API key, a state directory, a webhook secret."""
    path = rb.write_config(root, url, concurrency)
    secret = root / "secrets" / "webhook_secret"
    secret.write_text(SECRET, encoding="utf-8")
    text = path.read_text(encoding="utf-8").replace(f'url = "{root / "repo"}"', "")
    text = text.replace("[git]\n", f'[git]\nurl = "file://{remote}"\npoll_interval_s = 3600\n')
    text += (
        "\n[reconcile]\ndrift_interval_s = 3600\n\n"
        f'[server]\nlisten = "127.0.0.1:0"\nwebhook_secret_file = "{secret}"\n'
    )
    path.write_text(text, encoding="utf-8")
    return path


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    """The generated world, where it lives, its configuration and the emulator."""

    world: rb.World
    root: Path
    config: Path
    url: str
    emulator_pid: int


# -- one apply, in a fresh process ------------------------------------------------------------


def child(config_path: str, out_path: str) -> dict[str, object]:
    """One ``gitopsd apply``, each step timed (epoch seconds); CPU, peak RSS, outcomes."""
    base_kb = rb.peak_rss_kb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    t: dict[str, float] = {}
    c: dict[str, float] = {}

    def mark(name: str) -> None:
        t[name], c[name] = time.time(), time.process_time()

    mark("start")
    stop = threading.Event()
    with wiring.Runtime(config.load(config_path), stop=stop) as runtime:
        mark("fetch")
        checkout = runtime.source.checkout()
        mark("fetched")
        deps = runtime.deps()
        inner = deps.load

        def load(checkout: Checkout) -> desired.Result:
            mark("load")
            try:
                return inner(checkout)
            finally:
                mark("loaded")

        deps = dataclasses.replace(deps, load=load)
        result = reconcile.run_cycle(deps, stop, write=True, checkout=checkout)
        mark("cycled")
        published = publish.publish(result, checkout, runtime.publish_deps())
        mark("published")
    text = plan_output.render_text(result) + "\n" + "\n".join(cli.describe(published))
    Path(out_path).write_text(text, encoding="utf-8")
    mark("end")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    outcomes = Counter(str(r.outcome) for cluster in result.clusters for r in cluster.results)
    return {
        "t": t,
        "c": c,
        "cpu": c["end"] - c["start"],
        "children_cpu": (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime),
        "rss_kb": rb.peak_rss_kb(),
        "base_kb": base_kb,
        "statuses": Counter(str(s) for s in result.statuses),
        "outcomes": outcomes,
        "problems": list(published.problems),
        "commit": published.commit or "",
    }


def spawn(config_path: Path, out_path: Path) -> dict:
    """``child`` in a fresh interpreter, so its CPU time and peak RSS are its own."""
    cmd = [sys.executable, __file__, "--child", str(config_path), str(out_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"the apply process failed (exit {proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)


# -- the daemon -------------------------------------------------------------------------------


def held(admin: httpx.Client, change: Change) -> bool:
    """Whether the emulator holds the new restore window for every cluster of the change."""
    state = admin.get("/_emulator/state", timeout=60).raise_for_status().json()
    windows = {
        (s["projectId"], s["clusterName"]): s.get("restoreWindowDays") for s in state["schedules"]
    }
    return all(windows.get(c) == change.window_days for c in change.clusters)


def one_file(setup: Setup, args: argparse.Namespace) -> dict:
    """Run the daemon, push one changed file, send the webhook; time it until Atlas holds it."""
    world, root, config_path, url = setup.world, setup.root, setup.config, setup.url
    emulator_pid = setup.emulator_pid
    user, latency_s = root / "repo", args.latency_ms / 1000
    with procs.daemon(config_path) as (proc, logs, notes), httpx.Client(base_url=url) as admin:
        notes.wait(lambda items: next((i for i in items if "READY=1" in i["text"]), None), "READY")
        listen = logs.wait(procs.event("daemon_started"), "daemon_started")["listen"]
        first = logs.wait(procs.event("cycle_finished"), "the first cycle")
        change = change_one_file(world, user)
        sha = push(user, f"schedule-{change.schedule:03d}: one more day of restore window")
        admin.delete("/_emulator/requests").raise_for_status()
        cpu_before = procs.proc_figures(proc.pid)
        machine = procs.Machine.now(emulator_pid)
        sent = time.time()
        answer = procs.webhook(listen, sha, SECRET)
        if answer.status_code != 202:
            sys.exit(f"the webhook got {answer.status_code}: {answer.text}")
        polls, polling_s, seen_at, deadline = 0, 0.0, math.nan, time.monotonic() + procs.WAIT_S
        pause = threading.Event()
        while args.poll_s > 0 and time.monotonic() < deadline and proc.poll() is None:
            polls, asked = polls + 1, time.time()
            done = held(admin, change)
            polling_s += time.time() - asked
            if done:
                seen_at = time.time()
                break
            pause.wait(args.poll_s)
        hook = logs.wait(procs.event("webhook_push", first["_index"]), "webhook_push")
        started = logs.wait(procs.event("cycle_started", hook["_index"]), "the webhook's cycle")
        finished = logs.wait(
            procs.event("cycle_finished", started["_index"]), "the webhook's cycle end"
        )
        if math.isnan(seen_at) and not held(admin, change):
            sys.exit("the emulator does not hold the change after the webhook's cycle")
        own, kids, hwm = procs.proc_figures(proc.pid)
        daemon_s = own - cpu_before[0] + kids - cpu_before[1]
        others = machine.others_s(procs.Machine.now(emulator_pid), measured_s=daemon_s)
        log = admin.get("/_emulator/requests").raise_for_status().json()["requests"]
        full = [full_cycle(proc, logs, admin, emulator_pid) for _ in range(args.full_runs)]
    kinds = figures.classify(log)
    changed_paths = {
        f"/api/atlas/v2/groups/{p}/clusters/{n}/backup/schedule" for p, n in change.clusters
    }
    patches = [
        figures.when(e)
        for e, k in zip(log, kinds, strict=True)
        if k == "patch" and e["path"] in changed_paths
    ]
    return {
        "sent": sent,
        "polls": polls,
        "polling_s": polling_s,
        "seen_at": seen_at,
        "held_at": max(patches, default=math.nan),
        "patched": len(patches),
        "change": change,
        "kinds": Counter(kinds),
        "marks": figures.marks(log, latency_s),
        "hook": dt.datetime.fromisoformat(hook["timestamp"]).timestamp(),
        "started": dt.datetime.fromisoformat(started["timestamp"]).timestamp(),
        "finished": dt.datetime.fromisoformat(finished["timestamp"]).timestamp(),
        "duration_s": finished["duration_s"],
        "summary": finished.get("summary", ""),
        "first_duration_s": first["duration_s"],
        "cpu": own - cpu_before[0],
        "children_cpu": kids - cpu_before[1],
        "rss_kb": hwm,
        "others_s": others,
        "full": full,
    }


def full_cycle(
    proc: subprocess.Popen, logs: procs.Lines, admin: httpx.Client, emulator_pid: int
) -> dict:
    """SIGUSR1 to the daemon: one full cycle, its CPU, memory and requests."""
    admin.delete("/_emulator/requests").raise_for_status()
    mark = len(logs.items)
    own, kids, _ = procs.proc_figures(proc.pid)
    machine = procs.Machine.now(emulator_pid)
    proc.send_signal(signal.SIGUSR1)
    started = logs.wait(procs.event("cycle_started", mark), "the full cycle")
    finished = logs.wait(procs.event("cycle_finished", started["_index"]), "the full cycle's end")
    own_after, kids_after, hwm = procs.proc_figures(proc.pid)
    measured = own_after - own + kids_after - kids
    log = admin.get("/_emulator/requests").raise_for_status().json()["requests"]
    return {
        "wall_s": finished["duration_s"],
        "cpu": own_after - own,
        "children_cpu": kids_after - kids,
        "rss_kb": hwm,
        "kinds": Counter(figures.classify(log)),
        "summary": finished.get("summary", ""),
        "read": finished.get("read"),
        "others_s": machine.others_s(procs.Machine.now(emulator_pid), measured_s=measured),
    }


# -- the run ----------------------------------------------------------------------------------


def applies(setup: Setup, admin: httpx.Client, args: argparse.Namespace) -> list[figures.Row]:
    """The cold cycle, then the no-op cycles, each one ``gitopsd apply`` in a fresh process."""
    world, latency_s = setup.world, args.latency_ms / 1000
    passes = [("cold (apply)", world.clusters)]
    passes += [(f"no-op {n} (apply)", 0) for n in range(1, args.noop_runs + 1)]
    rows = []
    for name, writes in passes:
        admin.delete("/_emulator/requests").raise_for_status()
        before = procs.Machine.now(setup.emulator_pid)
        fig = spawn(setup.config, setup.root / f"output-{len(rows)}.txt")
        others = before.others_s(procs.Machine.now(setup.emulator_pid))
        log = admin.get("/_emulator/requests").raise_for_status().json()["requests"]
        applied = fig["outcomes"].get("applied", 0)
        print(
            f"  {name}: other processes used {others:.1f} s of CPU meanwhile;"
            f" clusters {dict(fig['statuses'])};"
            f" actions {dict(fig['outcomes'])}; report branch"
            f" {'commit ' + fig['commit'][:12] if fig['commit'] else 'unchanged'};"
            f" RSS after imports {figures.mb(fig['base_kb']):.1f} MB"
        )
        if fig["problems"] or set(fig["statuses"]) != {"in-sync"} or applied != writes:
            sys.exit(f"  {name} did not converge as expected: {fig['problems']}")
        least = figures.minimum(world, writes, args.concurrency, latency_s)
        rows.append(figures.apply_row(name, fig, log, least, latency_s))
    return rows


def bench(args: argparse.Namespace) -> None:
    """Generate and push the world, seed Atlas cold, measure, print."""
    latency_s = args.latency_ms / 1000
    with tempfile.TemporaryDirectory(prefix="gitopsd-scale-") as tmp:
        root = Path(tmp)
        user, remote = root / "repo", root / "remote.git"
        world = rb.generate(user, clusters=args.clusters, projects=args.projects)
        git("init", "--quiet", "--bare", "--initial-branch=main", str(remote), cwd=root)
        git("init", "--quiet", "--initial-branch=main", cwd=user)
        git("remote", "add", "origin", str(remote), cwd=user)
        sha = push(user, "Backups for every cluster")
        files = [f for f in user.rglob("*.yaml") if ".git" not in f.parts]
        size = sum(f.stat().st_size for f in files)
        state_file = root / "atlas.json"
        state_file.write_text(json.dumps(cold(world.state)), encoding="utf-8")
        print(
            f"\n{world.clusters:,} clusters in {world.projects} projects, {world.schedules}"
            f" schedules, {world.policies} policies: {len(files)} files, {world.documents:,}"
            f" documents, {size / 1e6:.1f} MB, pushed as {sha[:12]} to a bare remote;"
            f" {args.latency_ms:g} ms per request, concurrency {args.concurrency}"
        )
        with (
            procs.emulator(state_file) as (url, pid),
            httpx.Client(base_url=url, timeout=60) as admin,
        ):
            config_path = write_config(root, remote=remote, url=url, concurrency=args.concurrency)
            rb.set_latency(url, args.latency_ms)
            setup = Setup(world=world, root=root, config=config_path, url=url, emulator_pid=pid)
            rows = applies(setup, admin, args)
            fig = one_file(setup, args)
        change = fig["change"]
        least = figures.incremental_minimum(world, change.clusters, args.concurrency, latency_s)
        rows.append(figures.daemon_row(fig, least))
        noop = figures.minimum(world, 0, args.concurrency, latency_s)
        for n, run in enumerate(fig["full"], 1):
            rows.append(
                figures.Row(
                    name=f"no-op {n} (daemon)",
                    wall_s=run["wall_s"],
                    cpu_s=run["cpu"],
                    children_cpu_s=run["children_cpu"],
                    rss_kb=run["rss_kb"],
                    kinds=run["kinds"],
                    least=noop,
                    steps={},
                )
            )
            print(
                f"  no-op {n} (daemon): SIGUSR1, a full cycle reading {run['read']} clusters;"
                f" {run['summary']}; other processes used {run['others_s']:.1f} s of CPU meanwhile"
            )
    print(
        f"  one file (daemon): other processes used {fig['others_s']:.1f} s of CPU meanwhile;"
        " the first cycle after"
        f" start took {fig['first_duration_s']:.2f} s; schedule-{change.schedule:03d} serves"
        f" {len(change.clusters)} clusters, {fig['patched']} PATCHed; cycle_finished"
        f" duration_s {fig['duration_s']:.2f} ({fig['summary']}); the request log has the last"
        f" PATCH {fig['held_at'] - fig['sent']:.2f} s after the webhook; "
        + (
            f"{fig['polls']} polls of /_emulator/state every {args.poll_s:g} s (taking"
            f" {fig['polling_s']:.2f} s) saw the new values {fig['seen_at'] - fig['sent']:.2f} s"
            " after it"
            if fig["polls"]
            else "no polls during the cycle (--poll-s 0); the state held the new values after it"
        )
    )
    figures.print_rows(rows)
    figures.print_steps(rows)
    figures.print_cpu(rows)
    figures.print_targets(rows, fig, least)


def main() -> None:
    """Parse arguments; measure, or run one apply as a measured child."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=None, help="10,000 (--quick: 500)")
    parser.add_argument("--projects", type=int, default=None, help="100 (--quick: 10)")
    parser.add_argument("--quick", action="store_true", help="500 clusters in 10 projects")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--noop-runs", type=int, default=2, help="no-op cycles after the cold one")
    parser.add_argument(
        "--full-runs", type=int, default=2, help="full cycles (SIGUSR1) of the daemon at the end"
    )
    parser.add_argument(
        "--poll-s", type=float, default=None, help="state polls: 0.25 s; none (0) over 1,000"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    args.clusters = args.clusters or (500 if args.quick else 10_000)
    args.projects = args.projects or (10 if args.quick else 100)
    if args.poll_s is None:
        args.poll_s = 0.25 if args.clusters <= 1_000 else 0.0
    if not 1 <= args.projects <= 100 or args.clusters < args.projects:
        parser.error("--projects must be 1 to 100 and no more than --clusters")
    if args.clusters // 20 < 8:
        parser.error("--clusters must be at least 160 (the change edits schedule 7)")
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average"
        f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}; emulator in a subprocess; API-key"
        " digest auth; each apply in a fresh process; the daemon as `gitopsd run`"
    )
    bench(args)


if __name__ == "__main__":
    main()
