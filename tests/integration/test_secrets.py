"""Secrets: no Atlas key, Git or forge token or webhook secret in anything gitopsd leaves behind.

Every secret has a distinctive value. The Atlas emulator accepts only our service account and
API key; the Git remote is served over HTTPS on loopback (``support.githttp``) and answers only
Basic auth with our token, through a ``TcpGate`` that can make it unreachable; the fake GitHub
(``support.forge_server``) takes only our forge token; webhooks are signed with our secret.
Three runs of the real daemon (a subprocess):

* a full run: cycles, drift corrected and drift reported, a pull request, a push and its signed
  webhook, a forged and a replayed webhook, metrics and health;
* a faulted run: Atlas answering 5xx, 429 and dropping connections (scripted, then 20 % at
  random), a wrong forge token, the Git remote unreachable at start and again later, a cycle
  that raises (a state database SQLite cannot open: a traceback in the log), a forged
  webhook;
* a crash run: SIGKILL in the middle of a cycle, then a restart on the same state.

After each, ``support.leaks.Evidence`` gathers every log line (tracebacks included), every
systemd notification, every HTTP answer and metrics page, every file under the state directory
(the clone's ``.git``, ``state.sqlite3``, the local report), every object, ref and commit
message of the remote and of the daemon's clone, the forge's pull requests and request bodies,
the emulator's request log and the config file, and must find no form of any secret in it.
``gitopsd demo``'s output must not show the emulator's private key either.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit

import httpx
import pytest
from support import hooks
from support.daemon import DaemonProcess, NotifySocket, notify_socket
from support.forge_server import ForgeServer
from support.githttp import GitHttpServer
from support.leaks import Evidence, Leak, forms
from support.tcp_gate import TcpGate
from support.world import World
from test_drift_loop import BRANCH, REPORT_JSON, Loop

from gitopsd.emulator import Credentials, Emulator

CLIENT_ID = "mdb_sa_id_secrets_test"
PUBLIC_KEY = "secrets-test-public-key"
SECRETS = {
    "atlas client secret": "atlas-sa-secret+Qz7Rw3/Ky9PmT",
    "atlas private key": "atlas-private-key-Vb4Nx8Ld2Jh",
    "git token": "git-token-Hs6Tf1Wq5CzE",
    "forge token": "forge-token/Yk3G+p7Ue0=RaW",
    "wrong forge token": "forge-token-WRONG-Nc8Bq2Mv",
    "webhook secret": "webhook-secret=Lm2Dv9&Sb4Xn",
}
"""Distinctive values that nothing else in a run looks like; some have characters that URLs,
forms and JSON encode, so that the encoded forms differ from the plain one."""
OBSERVE = '  annotations:\n    gitopsd.io/mode: "observe"\n'
WAIT_S = 30.0


def cycles(daemon: DaemonProcess) -> int:
    """cycle_finished lines so far."""
    return daemon.count("cycle_finished")


def wait_cycles(daemon: DaemonProcess, more_than: int, what: str) -> None:
    """Until more than ``more_than`` cycles have finished (bounded)."""
    daemon.logs.wait_for(
        lambda items: (
            sum(1 for i in items if isinstance(i, dict) and i.get("event") == "cycle_finished")
            > more_than
        ),
        WAIT_S,
        what,
    )


class Stack:
    """Atlas, the Git remote over HTTPS behind a gate, the forge, the secrets and the config."""

    def __init__(self, root: Path, emulator: Emulator, git: GitHttpServer, gate: TcpGate):
        self.root = root
        (root / "world").mkdir()
        self.world = World(root / "world", emulator)
        self.loop = Loop(self.world, root / "git")
        self.loop.manifests(annotations=OBSERVE)
        self.loop.seed()
        self.git = git
        self.gate = gate
        self.forge = ForgeServer("github", token=SECRETS["forge token"]).start()
        self.creds = root / "creds"
        self.creds.mkdir()
        files = {
            "client_id": CLIENT_ID,
            "client_secret": SECRETS["atlas client secret"],
            "git_token": SECRETS["git token"],
            "forge_token": SECRETS["forge token"],
            "wrong_forge_token": SECRETS["wrong forge token"],
            "webhook_secret": SECRETS["webhook secret"],
        }
        for name, value in files.items():
            (self.creds / name).write_text(value + "\n")
        self.config = root / "gitopsd.toml"
        self.env = {"GIT_SSL_CAINFO": str(git.cert)}
        self.evidence = Evidence()
        self.asked = 0

    @property
    def url(self) -> str:
        """The remote's HTTPS URL, through the gate."""
        return f"https://127.0.0.1:{self.gate.port}/remote.git"

    def configure(self, *, api_key: bool = False, wrong_forge_token: bool = False) -> None:
        """The daemon's config: service account (or API key), every secret in a file."""
        forge_file = self.creds / ("wrong_forge_token" if wrong_forge_token else "forge_token")
        atlas = (
            f'public_key_file = "{self.world.secrets / "public_key"}"\n'
            f'private_key_file = "{self.world.secrets / "private_key"}"\n'
            if api_key
            else f'client_id_file = "{self.creds / "client_id"}"\n'
            f'client_secret_file = "{self.creds / "client_secret"}"\n'
        )
        self.config.write_text(
            f"""
[git]
url = "{self.url}"
branch = "main"
path = "manifests"
poll_interval_s = 0.5
token_file = "{self.creds / "git_token"}"

[atlas]
base_url = "{self.world.emulator.url}"
{atlas}timeout_s = 5
max_attempts = 4
deadline_s = 20

[reconcile]
drift_interval_s = 3600

[server]
listen = "127.0.0.1:0"
webhook_secret_file = "{self.creds / "webhook_secret"}"

[forge]
kind = "github"
api_url = "{self.forge.api_url}"
repo = "{self.forge.repo}"
token_file = "{forge_file}"

[state]
dir = "{self.root / "state"}"
""",
            encoding="utf-8",
        )

    def start(self, notify: NotifySocket) -> DaemonProcess:
        """The daemon over the config, trusting the remote's certificate."""
        return DaemonProcess(self.config, notify, env=self.env)

    # -- talking to the daemon, keeping every answer -------------------------------------------

    def get(self, daemon: DaemonProcess, path: str) -> httpx.Response:
        """GET a path of the listener; the answer is evidence."""
        response = httpx.get(daemon.url + path, timeout=WAIT_S)
        self.evidence.add_response(
            f"GET {path}", response.status_code, response.headers, response.text
        )
        return response

    def hook(
        self, daemon: DaemonProcess, body: bytes, headers: dict[str, str], what: str
    ) -> httpx.Response:
        """POST a delivery; the answer is evidence."""
        response = httpx.post(
            daemon.url + "/hooks/git", content=body, headers=headers, timeout=WAIT_S
        )
        self.evidence.add_response(what, response.status_code, response.headers, response.text)
        return response

    def ask_for_cycle(self, daemon: DaemonProcess, what: str) -> None:
        """A genuine push event with a fresh revision: the daemon runs a cycle now.

        A webhook is what a forge would send; test_webhook_abuse.py covers signals under load.
        """
        self.asked += 1
        body = hooks.push_body(after=f"{self.asked:040x}")
        headers = hooks.github(body, secret=SECRETS["webhook secret"])
        assert self.hook(daemon, body, headers, what).status_code == 202

    def push_and_hook(self, daemon: DaemonProcess, restore_days: int) -> httpx.Response:
        """Change the manifests, push, and deliver the signed push event."""
        path = self.loop.user.path / "manifests/backups.yaml"
        text = path.read_text()
        self.loop.user.write(
            "manifests/backups.yaml",
            text.replace("restoreWindowDays: 2", f"restoreWindowDays: {restore_days}"),
        )
        sha = self.loop.push(f"restore window {restore_days} days")
        body = hooks.push_body(after=sha)
        headers = hooks.github(body, secret=SECRETS["webhook secret"])
        return self.hook(daemon, body, headers, "signed webhook")

    # -- what is left behind -------------------------------------------------------------------

    def gather(self, *daemons: DaemonProcess, notify: NotifySocket) -> Evidence:
        """Everything the runs left: logs, notifications, files, Git, forge, Atlas's log."""
        found = self.evidence
        for n, daemon in enumerate(daemons):
            found.add_all(f"daemon {n} log", daemon.logs.snapshot())
        found.add_all("notify", notify.messages.snapshot())
        found.add_tree(self.root / "state", "state")
        found.add_git(self.loop.remote.path, "remote", self.loop.remote.home)
        if (self.root / "state" / "repo" / ".git").is_dir():
            found.add_git(self.root / "state" / "repo", "daemon's clone", self.loop.remote.home)
        found.add_all("forge pull", [(p.title, p.body) for p in self.forge.pulls])
        found.add_all(
            "forge request", [(r.method, r.path, r.query, r.body) for r in self.forge.requests]
        )
        found.add("emulator request log", self.world.requests())
        found.add("config", self.config.read_text())
        return found

    def access_tokens(self) -> dict[str, str]:
        """The bearer tokens the emulator issued to the service account: secrets too."""
        hub = self.world.emulator.hub
        with hub.lock:
            issued = sorted(hub.auth._tokens)
        return {f"atlas access token {n}": token for n, token in enumerate(issued)}

    def close(self) -> None:
        """Stop the forge and the admin client."""
        self.forge.stop()
        self.world.admin.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The emulator with our credentials, the remote over HTTPS with our token, the forge."""
    credentials = Credentials(
        client_id=CLIENT_ID,
        client_secret=SECRETS["atlas client secret"],
        public_key=PUBLIC_KEY,
        private_key=SECRETS["atlas private key"],
    )
    with (
        Emulator({"projects": []}, credentials=credentials) as emulator,
        GitHttpServer(tmp_path / "git", token=SECRETS["git token"], certs=tmp_path / "tls") as git,
        TcpGate(("127.0.0.1", int(urlsplit(git.url("x")).port or 0))) as gate,
    ):
        made = Stack(tmp_path, emulator, git, gate)
        try:
            yield made
        finally:
            made.close()


def assert_no_leak(evidence: Evidence, also: dict[str, str] | None = None) -> None:
    """Not one form of one secret (or of the ``also`` ones) anywhere."""
    leaks: list[Leak] = evidence.leaks(SECRETS | (also or {}))
    assert leaks == [], "\n".join(map(str, leaks[:20]))


# -- the detector ------------------------------------------------------------------------------


def test_the_detector_finds_each_form_it_looks_for():
    """Plain, URL-encoded, JSON-escaped and base64 at any offset are all found; noise is not."""
    token = SECRETS["git token"]
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    other = base64.b64encode(f"{CLIENT_ID}:{SECRETS['atlas client secret']}".encode()).decode()
    evidence = Evidence()
    evidence.add("plain", f"fatal: could not read {token}")
    evidence.add("header", f"Authorization: Basic {basic}")
    evidence.add("oauth", f"Authorization: Basic {other}")
    evidence.add("url", "https://h/?t=" + quote(SECRETS["forge token"], safe=""))
    evidence.add("form", "a=1&s=" + quote_plus(SECRETS["webhook secret"]))
    evidence.add("bytes", b"\x00\x01" + token.encode() + b"\xff")
    evidence.add("clean", "nothing to see: " + token[:7] + " " + token[8:])
    found = {(leak.where, leak.secret) for leak in evidence.leaks(SECRETS)}
    assert found == {
        ("plain", "git token"),
        ("header", "git token"),
        ("oauth", "atlas client secret"),
        ("url", "forge token"),
        ("form", "webhook secret"),
        ("bytes", "git token"),
    }
    assert {"url-encoded", "basic x-access-token", "base64+2"} <= forms(
        SECRETS["forge token"]
    ).keys()


# -- the three runs --------------------------------------------------------------------------


def test_a_full_run_leaks_no_secret(stack):
    """Cycles, drift, a pull request, webhooks good and bad, metrics: no secret anywhere."""
    stack.configure()
    with notify_socket() as notify, stack.start(notify) as daemon:
        notify.wait("READY=1")
        daemon.log("cycle_finished")
        stack.world.drift_schedule("orders-db", {"referenceHourOfDay": 9})  # observe: reported
        stack.world.drift_schedule("billing-db", {"restoreWindowDays": 1})  # enforce: corrected
        before = cycles(daemon)
        daemon.signal(signal.SIGUSR1)  # a full cycle: a webhook's reads only what Git changed
        wait_cycles(daemon, before, "the cycle that finds the drift")
        assert [p.open for p in stack.forge.pulls] == [True]
        before = cycles(daemon)
        good = stack.push_and_hook(daemon, restore_days=3)
        assert good.status_code == 202
        wait_cycles(daemon, before, "the pushed cycle")
        body, headers = hooks.push_body(after="1" * 40), hooks.github(hooks.push_body())
        assert stack.hook(daemon, body, headers, "forged webhook").status_code == 401
        replay = hooks.push_body(after="2" * 40)
        signed = hooks.github(replay, secret=SECRETS["webhook secret"])
        assert stack.hook(daemon, replay, signed, "first delivery").status_code == 202
        assert stack.hook(daemon, replay, signed, "replayed webhook").status_code == 409
        wrong = hooks.gitlab(secret=SECRETS["webhook secret"][:-1] + "X")
        assert stack.hook(daemon, replay, wrong, "near-miss token").status_code == 401
        for path in ("/metrics", "/healthz", "/readyz", "/nowhere"):
            stack.get(daemon, path)
        stack.evidence.add("daemon's command line", daemon.proc("cmdline"))
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
    assert stack.world.schedule("billing-db")["restoreWindowDays"] == 3
    assert json.loads(stack.loop.remote.show(BRANCH, REPORT_JSON))["schemaVersion"] == 1
    tokens = stack.access_tokens()
    assert tokens
    assert_no_leak(stack.gather(daemon, notify=notify), also=tokens)
    wire = Evidence()  # the control: where the secrets must be, the detector finds them
    wire.add_all("git server's Authorization", stack.git.authorizations)
    wire.add_all("forge's headers", [r.headers for r in stack.forge.requests])
    wire.add_tree(stack.creds, "creds")
    assert {leak.secret for leak in wire.leaks(SECRETS)} == set(SECRETS) - {"atlas private key"}


def test_a_faulted_run_leaks_no_secret(stack):
    """Atlas 5xx/429/drops (20 %), a wrong forge token, Git away, a crashing cycle: no leak."""
    stack.configure(api_key=True, wrong_forge_token=True)
    stack.world.admin.put(
        "/_emulator/faults",
        json={
            "script": ["503", "503", "503", "503", "429:1", "drop", "500"],
            "error_rate": 0.1,
            "drop_rate": 0.1,
            "seed": 7,
        },
    ).raise_for_status()
    stack.world.drift_schedule("orders-db", {"referenceHourOfDay": 9})
    stack.world.drift_schedule("billing-db", {"restoreWindowDays": 1})
    stack.gate.shut()
    with notify_socket() as notify, stack.start(notify) as daemon:
        daemon.log("first_fetch_failed")
        stack.gate.open()
        notify.wait("READY=1")
        daemon.log("cycle_finished")
        failed = daemon.log("publish_failed")
        assert "401" in str(failed["error"]) or "token" in str(failed["error"])
        database = stack.root / "state" / "state.sqlite3"
        database.unlink()
        database.mkdir()  # SQLite cannot open it: an exception, with a traceback
        stack.ask_for_cycle(daemon, "webhook for the failing cycle")
        assert "Traceback" in str(daemon.log("cycle_failed")["exception"])
        database.rmdir()
        stack.gate.shut()
        refused, before = stack.gate.refused, cycles(daemon)
        # a cycle on the last revision, noting the failed fetch
        stack.ask_for_cycle(daemon, "webhook while Git is away")
        wait_cycles(daemon, before, "a cycle while Git is unreachable")
        assert stack.gate.refused > refused
        stack.gate.open()
        before = cycles(daemon)
        stack.push_and_hook(daemon, restore_days=4)
        body = hooks.push_body(after="3" * 40)
        forged = hooks.github(body, secret=hooks.WRONG)
        assert stack.hook(daemon, body, forged, "forged webhook").status_code == 401
        wait_cycles(daemon, before, "a cycle after Git came back")
        stack.get(daemon, "/metrics")
        stack.get(daemon, "/readyz")
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
    log = stack.world.requests()
    assert any(e["dropped"] for e in log)
    assert {503, 429, 500} <= {e["status"] for e in log}
    assert stack.gate.refused >= 1
    assert_no_leak(stack.gather(daemon, notify=notify))


def test_a_killed_and_restarted_run_leaks_no_secret(stack):
    """SIGKILL in the middle of a cycle, then a restart on the same state: no leak."""
    stack.configure()
    stack.world.admin.put("/_emulator/faults", json={"latency_ms": 150}).raise_for_status()
    stack.world.drift_schedule("billing-db", {"restoreWindowDays": 1})
    with notify_socket() as notify:
        with stack.start(notify) as first:
            first.log("cycle_started")
            first.process.kill()
            assert first.exit_code() == -signal.SIGKILL
        stack.world.admin.put("/_emulator/faults", json={}).raise_for_status()
        with stack.start(notify) as second:
            second.log("cycle_finished")
            stack.get(second, "/metrics")
            second.signal(signal.SIGTERM)
            assert second.exit_code() == 0
        assert first.count("cycle_finished") == 0
        assert stack.world.schedule("billing-db")["restoreWindowDays"] == 2
        tokens = stack.access_tokens()
        assert tokens
        assert_no_leak(stack.gather(first, second, notify=notify), also=tokens)


def test_a_symlinked_manifest_cannot_publish_a_secret_file(stack):
    """A manifest committed as a link to a secret file outside the repository is not read.

    Its content would otherwise be quoted in a problem and reach the report branch.
    """
    (stack.loop.user.path / "manifests").mkdir(exist_ok=True)
    (stack.loop.user.path / "manifests/leak.yaml").symlink_to(stack.creds / "webhook_secret")
    stack.loop.push("a link to a file outside the repository")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITOPSD_")}
    done = subprocess.run(
        [sys.executable, "-m", "gitopsd", "apply", "--config", str(stack.config)],
        env=environ | stack.env,
        capture_output=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    evidence = Evidence()
    evidence.add("apply stdout", done.stdout)
    evidence.add("apply stderr", done.stderr)
    evidence.add_git(stack.loop.remote.path, "remote", stack.loop.remote.home)
    evidence.add_all("forge pull", [(p.title, p.body) for p in stack.forge.pulls])
    evidence.add_tree(stack.root / "state" / "report", "local report")
    assert_no_leak(evidence)


def test_the_demo_shows_no_emulator_secret():
    """`gitopsd demo` prints the whole loop, but never the emulator's private key or secret."""
    done = subprocess.run(
        [sys.executable, "-m", "gitopsd", "demo"],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    evidence = Evidence()
    evidence.add("demo stdout", done.stdout)
    evidence.add("demo stderr", done.stderr)
    defaults = Credentials()
    demo_secrets = {
        "private key": defaults.private_key,
        "client secret": defaults.client_secret,
    }
    assert evidence.leaks(demo_secrets) == []
    assert b"gitopsd run" in done.stdout
