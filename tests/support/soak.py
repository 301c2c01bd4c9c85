"""The fault soak's driver: the real daemon, a faulty emulator, a flapping remote, drift.

``Soak`` pushes a generated fleet (``support.soak_fleet``) to a bare remote, seeds the
emulator with Atlas's side of it, turns on the fault weather (a thread that replaces the
emulator's fault settings every few hundred milliseconds: 5xx and dropped connections at the
configured rates, bursts of 429 with Retry-After, latency spikes past the client's timeout
and slow spells below it) and starts ``gitopsd run`` as a subprocess. The daemon polls Git
often and checks drift rarely, so cycles run when the soak sends SIGUSR1. Each round:

1. make some clusters drift out of band (``/_emulator/clusters``, ``/_emulator/schedules``);
2. on flap rounds, move the bare repository away (fetch and push fail); on the Git round,
   push a manifest change;
3. read Atlas (the state before), clear the request log, SIGUSR1, and wait until a cycle
   that started after the request has finished and none runs;
4. read Atlas again and judge every write in the log (``soak_fleet.check_writes``); on flap
   rounds, check that the cycle served the last good revision with a fetch-failed note, then
   put the repository back, and judge the cycle the daemon redoes on the tip at its next poll
   (a cycle on the last good revision is not a success).

Then the weather stops, faults are cleared, and cycles run until every cluster is what
``soak_fleet.settle`` says (at most three allowed); one more cycle must write nothing, and
another must commit nothing. The daemon must still be running; SIGTERM must end it with 0.
Last, the report branch: linear, no commit repeating its parent's fingerprint, the tip's
report.json matching its trailer and telling each cluster's status as Atlas holds it.

Every problem is collected in ``Figures.violations`` with what was seen; the caller asserts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx

from gitopsd.emulator import Emulator
from support import soak_fleet
from support.daemon import DaemonProcess, notify_socket
from support.gitworld import Remote, User
from support.soak_fleet import OBSERVE, Fleet, Held, Key
from support.world import key_files

BRANCH = "gitopsd/drift"
REPORT_JSON = "drift-report/report.json"
TRAILER = "Drift-Fingerprint"
NOTICE_S = 5.0
"""How long the daemon may take to log cycle_requested after SIGUSR1."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The size and weather of one soak."""

    clusters: int = 40
    projects: int = 4
    rounds: int = 4
    drift: int = 4
    flaps: tuple[int, ...] = (2, 4)
    git_round: int = 3
    git_changes: int = 3
    seed: int = 1
    concurrency: int = 16
    timeout_s: float = 0.3
    deadline_s: float = 2.0
    max_attempts: int = 5
    error_rate: float = 0.2
    drop_rate: float = 0.2
    spike_share: float = 0.15
    slow_share: float = 0.15
    bursts: tuple[int, ...] = (0, 0, 0, 1)
    retry_after_s: tuple[int, ...] = (1,)
    rate_limit: tuple[int, float] | None = None
    poll_s: float = 0.3
    cycle_wait_s: float = 30.0
    calm_cycles: int = 3


@dataclasses.dataclass(slots=True)
class Figures:
    """What the soak measured and every problem it found."""

    options: Options
    violations: list[str] = dataclasses.field(default_factory=list)
    cycle_s: list[float] = dataclasses.field(default_factory=list)
    calm_cycle_s: list[float] = dataclasses.field(default_factory=list)
    answers: Counter[str] = dataclasses.field(default_factory=Counter)
    writes: Counter[str] = dataclasses.field(default_factory=Counter)
    drift: Counter[str] = dataclasses.field(default_factory=Counter)
    events: Counter[str] = dataclasses.field(default_factory=Counter)
    retries: Counter[str] = dataclasses.field(default_factory=Counter)
    faulted_cycles: int = 0
    flap_cycles: int = 0
    git_changes: list[str] = dataclasses.field(default_factory=list)
    converged_after: int | None = None
    guarded: int = 0
    guarded_by_drift: int = 0
    report_commits: int = 0
    exit_code: int | None = None
    resources: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)
    wall_s: float = 0.0

    def lines(self) -> list[str]:
        """The figures, one fact a line."""
        o = self.options

        def spread(values: list[float]) -> str:
            if not values:
                return "none"
            return (
                f"{len(values)}: median {statistics.median(values):.2f} s, max {max(values):.2f} s"
            )

        answers = ", ".join(f"{k} {v}" for k, v in sorted(self.answers.items()))
        writes = ", ".join(f"{k} {v}" for k, v in sorted(self.writes.items()))
        drift = ", ".join(f"{k} {v}" for k, v in sorted(self.drift.items()))
        retries = ", ".join(f"{k} {v}" for k, v in sorted(self.retries.items()))
        events = ", ".join(f"{k} {v}" for k, v in sorted(self.events.items()))
        first, last = (self.resources or [(0, 0, 0)])[0], (self.resources or [(0, 0, 0)])[-1]
        return [
            (
                f"fleet: {o.clusters} clusters in {o.projects} projects"
                f" (+{o.projects} unmanaged), seed {o.seed}"
            ),
            (
                f"faults: error_rate {o.error_rate}, drop_rate {o.drop_rate}, 429 bursts,"
                f" latency spikes past timeout_s {o.timeout_s}; rate limit {o.rate_limit}"
            ),
            f"faulted cycles: {spread(self.cycle_s)} ({self.flap_cycles} with Git away)",
            f"Atlas answers, all cycles: {answers}",
            f"client retries (atlas_retry by status): {retries}",
            f"drift injected: {sum(self.drift.values())} ({drift})",
            f"Git changes pushed: {len(self.git_changes)}",
            f"writes, all cycles: {writes}",
            f"calm cycles: {spread(self.calm_cycle_s)}; converged after {self.converged_after}",
            (
                f"held by the guard at the end: {self.guarded} clusters"
                f" ({self.guarded_by_drift} because of drift)"
            ),
            f"daemon log events: {events}",
            f"report commits: {self.report_commits}",
            f"daemon (threads, fds, RSS kB): first {first}, last {last}",
            f"daemon exit code after SIGTERM: {self.exit_code}",
            f"wall time: {self.wall_s:.1f} s",
            f"violations: {len(self.violations)}",
        ]


class Weather(threading.Thread):
    """Replaces the emulator's faults every 0.2-0.6 s until stopped."""

    def __init__(self, url: str, options: Options, rng: random.Random) -> None:
        super().__init__(name="soak-weather", daemon=True)
        self._admin = httpx.Client(base_url=url, timeout=10)
        self._options = options
        self._rng = rng
        self._halt = threading.Event()
        self.kinds: Counter[str] = Counter()

    def document(self) -> dict[str, object]:
        """One spell: the base rates, maybe a 429 burst, and normal, slow or spiking latency."""
        o, rng = self._options, self._rng
        roll = rng.random()
        if roll < o.spike_share:
            kind, latency_ms = "spike", o.timeout_s * 1600
        elif roll < o.spike_share + o.slow_share:
            kind, latency_ms = "slow", o.timeout_s * 600
        else:
            kind, latency_ms = "normal", rng.uniform(0, 20)
        self.kinds[kind] += 1
        burst = [f"429:{rng.choice(o.retry_after_s)}"] * rng.choice(o.bursts)
        doc: dict[str, object] = {
            "latency_ms": round(latency_ms),
            "error_rate": o.error_rate,
            "drop_rate": o.drop_rate,
            "seed": rng.randrange(2**31),
            "script": burst,
        }
        if o.rate_limit is not None:
            doc["rate_limit"] = {"capacity": o.rate_limit[0], "refill_per_s": o.rate_limit[1]}
        return doc

    def run(self) -> None:
        """Change the weather until stopped."""
        while True:
            self._admin.put("/_emulator/faults", json=self.document()).raise_for_status()
            if self._halt.wait(self._rng.uniform(0.2, 0.6)):
                return

    def stop(self) -> None:
        """Stop changing the weather, and clear every fault."""
        self._halt.set()
        self.join(timeout=10)
        self._admin.put("/_emulator/faults", json={}).raise_for_status()
        self._admin.close()


class Soak:
    """One soak over a root directory and a running emulator; ``progress`` hears each cycle."""

    def __init__(
        self,
        root: Path,
        emulator: Emulator,
        options: Options,
        progress: Callable[[str], object] = lambda _line: None,
    ) -> None:
        self.root = root
        self.progress = progress
        self.emulator = emulator
        self.options = options
        self.rng = random.Random(options.seed)  # noqa: S311 - reproducible, not cryptographic
        self.fleet = Fleet(clusters=options.clusters, projects=options.projects)
        self.figures = Figures(options=options)
        self.admin = httpx.Client(base_url=emulator.url, timeout=30)
        home = root / "home"
        home.mkdir(parents=True)
        self.remote = Remote(root / "remote.git", home)
        self.user = User(root / "user", self.remote, home)
        self.state_dir = root / "state"
        self.fresh: set[Key] = set()
        self.drifted: set[Key] = set()
        self.guarded_by_drift: set[Key] = set()
        self.final: dict[Key, Held] = {}
        self._daemon: DaemonProcess | None = None

    # -- setup -----------------------------------------------------------------------------

    def config(self) -> Path:
        """gitopsd.toml: the remote, the emulator, short timeouts, polls often, drift rarely."""
        o = self.options
        secrets = key_files(self.root / "secrets", self.emulator)
        path = self.root / "gitopsd.toml"
        path.write_text(
            f'[git]\nurl = "{self.remote.url}"\nbranch = "main"\npath = "manifests"\n'
            f"poll_interval_s = {o.poll_s}\n\n"
            f'[atlas]\nbase_url = "{self.emulator.url}"\n'
            f'public_key_file = "{secrets / "public_key"}"\n'
            f'private_key_file = "{secrets / "private_key"}"\n'
            f"concurrency = {o.concurrency}\ntimeout_s = {o.timeout_s}\n"
            f"max_attempts = {o.max_attempts}\ndeadline_s = {o.deadline_s}\n\n"
            '[reconcile]\ndefault_namespace = "default"\ndrift_interval_s = 3600\n\n'
            '[server]\nlisten = "127.0.0.1:0"\n\n'
            f'[state]\ndir = "{self.state_dir}"\n',
            encoding="utf-8",
        )
        return path

    def push_manifests(self, message: str) -> str:
        """Write the fleet's manifests in the user's clone, commit and push; the new sha."""
        manifests = self.user.path / "manifests"
        for old in manifests.rglob("*.yaml") if manifests.exists() else ():
            old.unlink()
        self.fleet.write(manifests)
        sha = self.user.commit(message)
        self.user.push()
        return sha

    # -- reading ---------------------------------------------------------------------------

    def state(self) -> dict[Key, Held]:
        """Every cluster as the emulator holds it now."""
        return soak_fleet.read_state(self.admin.get("/_emulator/state").raise_for_status().json())

    def take_log(self) -> list[dict[str, object]]:
        """The request log since the last take; then cleared."""
        log = self.admin.get("/_emulator/requests").raise_for_status().json()["requests"]
        self.admin.delete("/_emulator/requests").raise_for_status()
        return list(log)

    @property
    def daemon(self) -> DaemonProcess:
        """The running daemon."""
        assert self._daemon is not None
        return self._daemon

    def events(self) -> list[dict[str, object]]:
        """The daemon's log lines so far."""
        return [i for i in self.daemon.logs.snapshot() if isinstance(i, dict)]

    # -- cycles ----------------------------------------------------------------------------

    def wait_idle_after(self, start: int, what: str) -> list[dict[str, object]]:
        """The cycle_finished lines after log line ``start``, once no cycle runs."""

        def done(items: list[object]) -> list[dict[str, object]] | None:
            lines = [i for i in items if isinstance(i, dict)]
            names = [str(i.get("event")) for i in lines]
            if "cycle_started" not in names[start:]:
                return None
            ended = names.count("cycle_finished") + names.count("cycle_failed")
            if names.count("cycle_started") != ended:
                return None
            return [i for i in lines[start:] if i.get("event") == "cycle_finished"] or [{}]

        found = self.daemon.logs.wait_for(done, self.options.cycle_wait_s, what)
        assert isinstance(found, list)
        return [f for f in found if f]

    def cycle(self) -> list[float]:
        """SIGUSR1, then wait for the cycles it caused; their durations.

        A SIGUSR1 the daemon has not taken up within ``NOTICE_S`` is a violation, and is sent
        again (at most three times), so that one lost signal does not end the soak.
        """
        start = len(self.daemon.logs.snapshot())
        for attempt in range(1, 4):
            self.daemon.signal(signal.SIGUSR1)
            try:
                self.daemon.logs.wait_for(
                    lambda items: any(
                        isinstance(i, dict) and i.get("event") == "cycle_requested"
                        for i in items[start:]
                    ),
                    NOTICE_S,
                    "cycle_requested",
                )
                break
            except AssertionError:
                self.figures.violations.append(
                    f"SIGUSR1 #{attempt} was not taken up within {NOTICE_S:g} s"
                )
        finished = self.wait_idle_after(start, "a requested cycle")
        return [float(str(f.get("duration_s", 0.0))) for f in finished]

    def judged_cycle(
        self, label: str, prepare: Callable[[], object] | None = None
    ) -> tuple[dict[Key, Held], list[float], list[dict[str, object]]]:
        """Run a cycle between two readings of Atlas and judge what it wrote.

        ``prepare`` runs after the first reading (a push may start a cycle at the next poll).
        Returns Atlas after it, the durations of the cycles it took, and its request log.
        """
        before = self.state()
        self.take_log()
        if prepare is not None:
            prepare()
        durations = self.cycle()
        after = self.state()
        log = self.take_log()
        self.count(log)
        found = soak_fleet.check_writes(before, after, log, self.fleet.specs, self.fresh)
        self.figures.violations += [f"{label}: {v}" for v in found]
        self.progress(
            f"{label}: {', '.join(f'{d:.1f} s' for d in durations)};"
            f" {len(soak_fleet.writes_of(log))} writes; {len(found)} violations"
        )
        return after, durations, log

    def judged_redo(self, label: str, before: dict[Key, Held], start: int) -> dict[Key, Held]:
        """Judge the cycle the daemon redoes at its first poll once Git is back.

        A cycle on the last good revision is not a success, so the daemon does it again on
        the tip as soon as a poll reaches Git; nothing changes Atlas in between (``before``
        is Atlas after the outage's cycle, whose request log was taken). ``start`` is the log
        line Git came back after.
        """
        self.wait_idle_after(start, "the cycle redone once Git is back")
        after = self.state()
        log = self.take_log()
        self.count(log)
        found = soak_fleet.check_writes(before, after, log, self.fleet.specs, self.fresh)
        self.figures.violations += [f"{label}: {v}" for v in found]
        self.progress(f"{label}: {len(soak_fleet.writes_of(log))} writes; {len(found)} violations")
        return after

    def count(self, log: list[dict[str, object]]) -> None:
        """Count answers and writes of one slice of the request log."""
        f = self.figures
        for entry in log:
            status = entry["status"]
            f.answers["dropped" if entry["dropped"] else str(status)] += 1
        seen: Counter[tuple[Key, str]] = Counter()
        for w in soak_fleet.writes_of(log):
            ok = w.status == 200
            f.writes[f"{w.what} PATCH {'applied' if ok else 'failed'}"] += 1
            if ok:
                seen[w.key, w.what] += 1
        f.writes["repeated after a lost answer"] += sum(n - 1 for n in seen.values())

    # -- drift and flaps -------------------------------------------------------------------

    def inject(self, now: Mapping[Key, Held]) -> None:
        """Make ``drift`` managed clusters (and one unmanaged) drift out of band.

        Besides the random picks, backup is turned off on one cluster whose schedule the
        guard holds, if there is one: turning it back on must not undo the guard.
        """
        keys = sorted(self.fleet.specs)
        chosen = self.rng.sample(keys, min(self.options.drift, len(keys)))
        for key in chosen:
            spec = self.fleet.specs[key]
            for kind in self.rng.sample(soak_fleet.KINDS, len(soak_fleet.KINDS)):
                change = soak_fleet.drift(key, kind, now[key], spec)
                if change is not None:
                    self.apply_drift(change)
                    self.drifted.add(key)
                    break
        held = [
            key
            for key, spec in sorted(self.fleet.specs.items())
            if key not in chosen and self.guarded(key, now[key]) and now[key].backup
        ]
        if held:
            key = self.rng.choice(held)
            change = soak_fleet.drift(key, "backup-off", now[key], self.fleet.specs[key])
            assert change is not None
            self.apply_drift(change)
            self.drifted.add(key)
        legacy = self.rng.choice(self.fleet.unmanaged)
        self.admin.patch(
            f"/_emulator/schedules/{legacy[0]}/{legacy[1]}",
            json={"referenceHourOfDay": self.rng.randrange(24)},
        ).raise_for_status()

    def guarded(self, key: Key, held: Held) -> bool:
        """Whether the guard keeps Git's schedule from this cluster (enforce mode)."""
        spec = self.fleet.specs[key]
        if spec.mode == OBSERVE or spec.allow or key in self.fresh or held.schedule is None:
            return False
        return bool(soak_fleet.destructive(held.schedule, spec.schedule()))

    def apply_drift(self, change: soak_fleet.Drift) -> None:
        """Send one out-of-band change."""
        pid, name = change.key
        if change.cluster is not None:
            path = f"/_emulator/clusters/{pid}/{name}"
            self.admin.patch(path, json=change.cluster).raise_for_status()
        if change.schedule is not None:
            path = f"/_emulator/schedules/{pid}/{name}"
            self.admin.patch(path, json=change.schedule).raise_for_status()
        self.figures.drift[change.kind] += 1

    @contextlib.contextmanager
    def remote_away(self) -> Iterator[None]:
        """The bare repository moved aside: every fetch and push fails until it is back."""
        away = self.remote.path.with_name(self.remote.path.name + ".away")
        self.remote.path.rename(away)
        try:
            yield
        finally:
            away.rename(self.remote.path)

    def check_served_last_good(self, label: str, good: str) -> None:
        """The cycle during the outage used ``good`` and said the fetch failed."""
        report = json.loads((self.state_dir / "report" / "report.json").read_text())
        source = report["source"]
        codes = [n["code"] for n in source["notes"]]
        if source["revision"] != good or "fetch-failed" not in codes:
            self.figures.violations.append(
                f"{label}: Git away, yet the report says revision {source['revision']}"
                f" (last good {good}) with notes {codes}"
            )

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> Figures:
        """The whole soak; the figures (violations included)."""
        started = time.monotonic()
        o = self.options
        good = self.push_manifests("the fleet")
        self.admin.put("/_emulator/state", json=self.fleet.initial_state()).raise_for_status()
        config = self.config()
        before = self.state()
        weather = Weather(self.emulator.url, o, random.Random(o.seed + 1))  # noqa: S311
        weather.start()
        try:
            with notify_socket() as notify, DaemonProcess(config, notify) as daemon:
                self._daemon = daemon
                self.faulted_rounds(before, good)
                weather.stop()
                self.calm_rounds()
                self.finish()
        finally:
            if weather.is_alive():
                weather.stop()
            self.admin.close()
        self.check_report_branch()
        self.figures.wall_s = time.monotonic() - started
        return self.figures

    def faulted_rounds(self, before: Mapping[Key, Held], good: str) -> None:
        """The start-up cycle and ``rounds`` more, all under the weather.

        ``before`` is Atlas as seeded; ``good`` the revision pushed.
        """
        o, f = self.options, self.figures
        self.daemon.notify.wait("READY=1", timeout_s=o.cycle_wait_s)
        f.cycle_s += [
            float(str(x.get("duration_s"))) for x in self.wait_idle_after(0, "the first cycle")
        ]
        f.resources.append(self.daemon.resources())
        log = self.take_log()
        self.count(log)
        now = self.state()
        found = soak_fleet.check_writes(before, now, log, self.fleet.specs, self.fresh)
        f.violations += [f"start-up cycle: {v}" for v in found]
        f.faulted_cycles += 1
        pushed = [good]

        def push() -> None:
            f.git_changes += self.fleet.change_git(self.rng, o.git_changes)
            pushed.append(self.push_manifests("change some restore windows"))

        for n in range(1, o.rounds + 1):
            self.inject(now)
            flap = n in o.flaps
            label = f"round {n}{' (Git away)' if flap else ''}"
            if flap:
                with self.remote_away():
                    now, durations, _ = self.judged_cycle(label)
                    self.check_served_last_good(label, pushed[-1])
                    start = len(self.daemon.logs.snapshot())
                now = self.judged_redo(f"{label}, redone once Git is back", now, start)
                f.flap_cycles += 1
            else:
                now, durations, _ = self.judged_cycle(label, push if n == o.git_round else None)
            f.cycle_s += durations
            f.faulted_cycles += 1

    def calm_rounds(self) -> None:
        """No faults: cycles until converged (at most ``calm_cycles``), then two idle ones."""
        f = self.figures
        start = self.state()
        expected = {
            key: soak_fleet.settle(held, self.fleet.specs.get(key), fresh=key in self.fresh)
            for key, held in start.items()
        }
        guarded = {
            key
            for key, spec in self.fleet.specs.items()
            if spec.mode != OBSERVE
            and start[key].schedule is not None
            and expected[key][2] == start[key].schedule != spec.schedule()
        }
        self.guarded_by_drift = guarded & self.drifted
        for n in range(1, self.options.calm_cycles + 1):
            now, durations, _ = self.judged_cycle(f"calm cycle {n}")
            f.calm_cycle_s += durations
            wrong = sorted(k for k, held in now.items() if held.outcome() != expected[k])
            if not wrong:
                f.converged_after = n
                break
        else:
            f.violations += [
                f"not converged after {self.options.calm_cycles} calm cycles: {k[1]} holds"
                f" {now[k].outcome()}, expected {expected[k]}"
                for k in wrong[:10]
            ]
        for key in sorted(guarded):
            if now[key].schedule != start[key].schedule:
                f.violations.append(
                    f"{key[1]}: the guard held {start[key].schedule}, yet Atlas now holds"
                    f" {now[key].schedule}"
                )
        now, durations, log = self.judged_cycle("idle cycle")
        f.calm_cycle_s += durations
        idle_writes = soak_fleet.writes_of(log)
        tip = self.remote.head(BRANCH)
        f.calm_cycle_s += self.cycle()
        if idle_writes:
            f.violations.append(f"a cycle after convergence wrote {len(idle_writes)} times")
        if self.remote.head(BRANCH) != tip:
            f.violations.append("a cycle with the same findings made a new report commit")
        self.final = now

    def finish(self) -> None:
        """The daemon is still running; SIGTERM ends it with 0. Count its log events."""
        f = self.figures
        f.resources.append(self.daemon.resources())
        if self.daemon.process.poll() is not None:
            f.violations.append(f"the daemon exited on its own ({self.daemon.process.returncode})")
        self.daemon.signal(signal.SIGTERM)
        f.exit_code = self.daemon.exit_code(timeout_s=self.options.cycle_wait_s)
        if f.exit_code != 0:
            f.violations.append(f"SIGTERM: exit code {f.exit_code}, expected 0")
        for line in self.events():
            event = str(line.get("event"))
            if event in {"cycle_failed", "fetch_failed", "publish_failed", "cycle_stuck"} | {
                "cycle_finished",
                "first_fetch_failed",
            }:
                f.events[event] += 1
            if event == "atlas_retry":
                f.retries[str(line.get("status"))] += 1
            if "maximum number of running instances reached" in event:
                f.events["apscheduler: poll skipped (a cycle runs)"] += 1
        if f.events["cycle_failed"]:
            f.violations.append(f"{f.events['cycle_failed']} cycles failed with an exception")
        if f.flap_cycles and not f.events["fetch_failed"]:
            f.violations.append(
                f"Git was away for {f.flap_cycles} cycles and many polls, but the daemon never"
                " logged fetch_failed"
            )

    def check_report_branch(self) -> None:
        """Linear, one fingerprint per commit, and the tip consistent with Atlas and itself."""
        f = self.figures
        history = self.remote.git("rev-list", "--parents", BRANCH).splitlines()
        fingerprints = {}
        for line in history:
            commit, *parents = line.split()
            if len(parents) > 1:
                f.violations.append(f"report branch commit {commit} has {len(parents)} parents")
            fingerprints[commit] = self.remote.field(
                commit, f"%(trailers:key={TRAILER},valueonly)"
            ).strip()
        for line in history:
            commit, *parents = line.split()
            mine = fingerprints[commit]
            if mine:
                f.report_commits += 1
            if mine and parents and fingerprints.get(parents[0]) == mine:
                f.violations.append(f"report commit {commit} repeats its parent's fingerprint")
        main = self.remote.head("main")
        tip = self.remote.head(BRANCH)
        assert main is not None
        assert tip is not None
        if main not in self.remote.history(tip):
            f.violations.append("the report branch does not contain the watched branch's tip")
        report = json.loads(self.remote.show(BRANCH, REPORT_JSON))
        if report["fingerprint"] != fingerprints[tip]:
            f.violations.append(
                f"tip report.json says {report['fingerprint']}, trailer {fingerprints[tip]}"
            )
        self.check_statuses(report)

    def check_statuses(self, report: Mapping[str, object]) -> None:
        """Each cluster's status in the last report against what Atlas holds."""
        f = self.figures
        statuses = {
            (str(c["project"]), str(c["cluster"])): str(c["status"])
            for c in report["clusters"]  # type: ignore[attr-defined]
        }
        for key, spec in self.fleet.specs.items():
            held = self.final[key]
            wanted = (True, held.pit if spec.pit is None else spec.pit, spec.schedule())
            in_sync = held.outcome() == wanted
            status = statuses.get((f"Soak Project {spec.project:02d}", spec.name))
            allowed = {"in-sync"} if in_sync else {"drifted", "pending"}
            if not in_sync and spec.mode != OBSERVE:
                allowed = {"blocked"}
                f.guarded += 1
                f.guarded_by_drift += key in self.guarded_by_drift
            if status not in allowed:
                f.violations.append(
                    f"{spec.name}: the last report says {status}, expected one of"
                    f" {sorted(allowed)} ({spec.mode}, Atlas {held.outcome()})"
                )
