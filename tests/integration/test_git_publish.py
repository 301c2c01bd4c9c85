"""Publishing reports to the report branch of real bare remotes (on disk and over HTTPS)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from support.gitworld import GitWorld

from gitopsd import source
from gitopsd.adapters import gitrepo, report_branch
from gitopsd.errors import GitConflictError, GitError

BRANCH = "gitopsd/drift"
REPORT = "drift-report/REPORT.md"
JSON = "drift-report/report.json"
POLICY = "manifests/policy.yaml"

# Simulates someone pushing to the report branch while gitopsd is pushing: the server moves the
# branch to a new commit of its own before taking gitopsd's push (once, or every time).
RACE = """\
[ -e "$GIT_DIR/{flag}" ] && exit 0
{touch}
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
export GIT_AUTHOR_NAME=Human GIT_AUTHOR_EMAIL=human@example.com
export GIT_COMMITTER_NAME=Human GIT_COMMITTER_EMAIL=human@example.com
tip=$(git rev-parse --verify -q refs/heads/{branch} || git rev-parse main)
human=$(git commit-tree -p "$tip" -m "human edit $(date +%s%N)" "$tip^{{tree}}")
git update-ref refs/heads/{branch} "$human"
"""


@pytest.fixture
def world(tmp_path: Path) -> GitWorld:
    """A remote with one commit on main and a user's clone of it."""
    return GitWorld(tmp_path)


def report(
    base: str, fingerprint: str = "sha256:aaa", edits: dict[str, bytes] | None = None
) -> source.ReportCommit:
    """A report on ``base``: REPORT.md and report.json, plus manifest ``edits``."""
    extra = tuple((edits or {}).items())
    return source.ReportCommit(
        base=base,
        files=(
            (REPORT, f"# Drift {fingerprint}\n".encode()),
            (JSON, b'{"schemaVersion": 1}\n'),
            *extra,
        ),
        message=(
            "drift: 1 cluster drifted\n\n"
            f"Drift-Fingerprint: {fingerprint}\nSource-Revision: main@{base}\n"
        ),
        fingerprint=fingerprint,
    )


def published_source(world: GitWorld, **changes: object) -> tuple[gitrepo.GitSource, str]:
    """A GitSource that has checked out main; the revision it serves."""
    git_source = world.source(**changes)
    return git_source, git_source.checkout().revision


def test_first_publish_creates_the_branch_from_the_watched_head(world: GitWorld):
    """The new branch is the watched head plus one commit that changes only the report files."""
    git_source, base = published_source(world)
    published = git_source.publish(report(base))
    assert published == source.Published(branch=BRANCH, commit=published.commit, rebuilt=True)
    assert world.remote.head(BRANCH) == published.commit
    assert world.remote.parents(BRANCH) == [base]
    assert world.remote.changed(base, BRANCH) == {REPORT, JSON}
    assert world.remote.show(BRANCH, REPORT) == "# Drift sha256:aaa"
    assert world.remote.head("main") == world.first


def test_same_fingerprint_twice_makes_one_commit(world: GitWorld):
    """Publishing an unchanged report again commits nothing."""
    git_source, base = published_source(world)
    first = git_source.publish(report(base))
    again = git_source.publish(report(base))
    assert again == source.Published(branch=BRANCH, commit=None)
    assert world.remote.head(BRANCH) == first.commit


def test_report_pushed_before_a_restart_is_not_repeated(world: GitWorld):
    """A fresh clone (state lost in a crash) finds the pushed fingerprint and commits nothing."""
    world.user.change(note="deeper history")
    world.user.push()
    git_source, base = published_source(world)
    first = git_source.publish(report(base))
    shutil.rmtree(world.state)
    again_source, again_base = published_source(world)
    assert again_base == base
    assert again_source.publish(report(base)).commit is None
    assert world.remote.head(BRANCH) == first.commit


def test_new_fingerprint_goes_on_top(world: GitWorld):
    """A changed report is one more commit on the report branch: history stays linear."""
    git_source, base = published_source(world)
    first = git_source.publish(report(base, "sha256:aaa"))
    second = git_source.publish(report(base, "sha256:bbb"))
    assert (second.commit is not None, second.rebuilt) == (True, False)
    assert world.remote.parents(BRANCH) == [first.commit]
    assert world.remote.history(BRANCH)[:3] == [second.commit, first.commit, base]
    assert world.remote.changed(base, BRANCH) == {REPORT, JSON}


def test_advanced_watched_branch_rebuilds_the_report_branch(world: GitWorld):
    """When main moved on, the report branch is recreated from the new head."""
    git_source, base = published_source(world)
    git_source.publish(report(base, "sha256:aaa"))
    newer = world.user.change(note="newer")
    world.user.push()
    assert git_source.checkout().revision == newer
    published = git_source.publish(report(newer, "sha256:aaa"))
    assert published.rebuilt
    assert world.remote.parents(BRANCH) == [newer]
    assert world.remote.changed(newer, BRANCH) == {REPORT, JSON}


def test_human_push_during_publish_is_built_upon(world: GitWorld):
    """A push that lands under gitopsd's lease is fetched; the report goes on top of it."""
    git_source, base = published_source(world)
    first = git_source.publish(report(base, "sha256:aaa"))
    world.remote.hook("pre-receive", RACE.format(flag="raced", touch="touch $GIT_DIR/raced",
                                                  branch=BRANCH))  # fmt: skip
    published = git_source.publish(report(base, "sha256:bbb"))
    human = world.remote.parents(BRANCH)[0]
    assert world.remote.head(BRANCH) == published.commit
    assert world.remote.field(human, "%s").startswith("human edit")
    assert world.remote.parents(human) == [first.commit]
    assert world.remote.show(BRANCH, REPORT) == "# Drift sha256:bbb"
    assert world.remote.head("main") == world.first


def test_branch_reset_elsewhere_is_rebuilt_from_the_watched_head(world: GitWorld):
    """A report branch that no longer contains the watched revision is recreated from it."""
    git_source, base = published_source(world)
    git_source.publish(report(base, "sha256:aaa"))
    world.user.git("checkout", "--quiet", "--orphan", "elsewhere")
    world.user.write("other.txt", "unrelated\n")
    world.user.commit("unrelated history")
    world.user.push(BRANCH, force=True)
    published = git_source.publish(report(base, "sha256:aaa"))
    assert published.rebuilt
    assert world.remote.parents(BRANCH) == [base]


def test_branch_that_keeps_moving_is_a_conflict(world: GitWorld):
    """When every push loses the race, publish gives up with GitConflictError."""
    git_source, base = published_source(world)
    world.remote.hook("pre-receive", RACE.format(flag="never", touch="", branch=BRANCH))
    with pytest.raises(GitConflictError, match=f"{BRANCH} moved during each of 3 attempts"):
        git_source.publish(report(base))
    assert world.remote.field(BRANCH, "%s").startswith("human edit")
    assert world.remote.head("main") == world.first


def test_author_and_committer_come_from_the_settings(world: GitWorld):
    """The report commit is authored and committed by [report] author_name/author_email."""
    git_source, base = published_source(world)
    git_source.publish(report(base))
    people = world.remote.field(BRANCH, "%an <%ae> / %cn <%ce>")
    assert people == "gitopsd bot <bot@example.com> / gitopsd bot <bot@example.com>"


def test_message_and_trailers_are_kept_verbatim(world: GitWorld):
    """The commit message is the caller's, trailers included."""
    git_source, base = published_source(world)
    git_source.publish(report(base, "sha256:ccc"))
    assert world.remote.field(BRANCH, "%B").strip() == report(base, "sha256:ccc").message.strip()
    trailers = world.remote.field(BRANCH, "%(trailers:key=Drift-Fingerprint,valueonly)")
    assert trailers == "sha256:ccc"


def test_edited_manifests_replace_the_watched_content(world: GitWorld):
    """A manifest among the files is committed with the new bytes; the rest is base's."""
    git_source, base = published_source(world)
    git_source.publish(report(base, edits={POLICY: b"edited: true\n"}))
    assert world.remote.show(BRANCH, POLICY) == "edited: true"
    assert world.remote.changed(base, BRANCH) == {REPORT, JSON, POLICY}
    assert world.remote.show(BRANCH, "README.md") == "# backups"


def test_edits_not_in_the_new_report_disappear(world: GitWorld):
    """A later report without the edit restores base's manifest on the report branch."""
    git_source, base = published_source(world)
    git_source.publish(report(base, "sha256:aaa", edits={POLICY: b"edited: true\n"}))
    git_source.publish(report(base, "sha256:bbb"))
    assert world.remote.changed(base, BRANCH) == {REPORT, JSON}
    assert world.remote.show(BRANCH, POLICY) == world.remote.show(base, POLICY)


def test_publish_leaves_the_clone_worktree_alone(world: GitWorld):
    """The clone's HEAD, index and files are what the checkout left."""
    git_source, base = published_source(world)
    before = world.clone_git("status", "--porcelain", "--untracked-files=all")
    git_source.publish(report(base, edits={POLICY: b"edited: true\n"}))
    assert world.clone_git("rev-parse", "HEAD") == base
    assert world.clone_git("status", "--porcelain", "--untracked-files=all") == before == ""
    assert "edited" not in (world.state / "repo" / POLICY).read_text()


def test_deeper_reports_work_in_a_shallow_clone(world: GitWorld):
    """depth=1: reports stack, and a restart with a fresh shallow clone still finds them."""
    for i in range(3):
        world.user.change(note=f"n{i}")
        world.user.push()
    git_source, base = published_source(world, depth=1)
    fingerprints = [f"sha256:{i}" for i in range(4)]
    for fingerprint in fingerprints:
        git_source.publish(report(base, fingerprint))
    shutil.rmtree(world.state)
    again, again_base = published_source(world, depth=1)
    assert again_base == base
    assert again.publish(report(base, fingerprints[-1])).commit is None
    assert again.publish(report(base, "sha256:new")).rebuilt is False
    assert len(world.remote.history(BRANCH)) == len(world.remote.history("main")) + 5


def test_unsafe_paths_are_refused(world: GitWorld):
    """A file path that leaves the repository or names .git is a GitError; nothing is pushed."""
    git_source, base = published_source(world)
    for bad in ("../escape", "/abs/path", ".git/config"):
        bad_report = source.ReportCommit(
            base=base, files=((bad, b"x"),), message="m\n", fingerprint="sha256:x"
        )
        with pytest.raises(GitError, match="not a relative path inside the repository"):
            git_source.publish(bad_report)
    assert world.remote.head(BRANCH) is None


def test_unknown_base_is_refused(world: GitWorld):
    """A base revision the clone does not have is a GitError (publish after checkout)."""
    git_source, _ = published_source(world)
    with pytest.raises(GitError, match="is not in the clone"):
        git_source.publish(report("0" * 40))


# -- over HTTPS ----------------------------------------------------------------------------------

TOKEN = "glpat-Publ1shT0ken-77ab"  # noqa: S105 (a test token, distinctive on purpose)


@pytest.fixture
def https(world: GitWorld, monkeypatch: pytest.MonkeyPatch):
    """The world's remote over HTTPS with TOKEN."""
    from support.githttp import GitHttpServer

    with GitHttpServer(world.root, token=TOKEN, certs=world.root / "tls") as server:
        monkeypatch.setenv("GIT_SSL_CAINFO", str(server.cert))
        yield server


def _https_source(
    world: GitWorld, https, stop: threading.Event | None = None
) -> tuple[gitrepo.GitSource, str]:
    """A GitSource over HTTPS with TOKEN whose push retries do not wait (no jitter)."""
    token = world.root / "token"
    token.write_text(TOKEN)
    settings = world.settings(url=https.url("remote.git"), token_file=str(token))
    pacing = report_branch.Pacing(stop=stop or threading.Event(), jitter=lambda: 0.0)
    git_source = gitrepo.GitSource(settings, world.state, pacing=pacing)
    return git_source, git_source.checkout().revision


def test_publish_over_https_with_a_token(world: GitWorld, https):
    """The push goes over HTTPS with the token header; the watched branch is untouched."""
    git_source, base = _https_source(world, https)
    published = git_source.publish(report(base))
    assert world.remote.head(BRANCH) == published.commit
    assert world.remote.head("main") == world.first
    assert "" not in https.authorizations


def test_transient_push_failures_are_retried(world: GitWorld, https):
    """Two 502s from a flaky proxy, then the push goes through."""
    git_source, base = _https_source(world, https)
    https.fail_pushes(2)
    published = git_source.publish(report(base))
    assert https.failures_left == 0
    assert world.remote.head(BRANCH) == published.commit


def test_persistent_push_failure_gives_up(world: GitWorld, https):
    """A push that keeps failing gives up after the attempt budget, without the token."""
    git_source, base = _https_source(world, https)
    https.fail_pushes(100)
    with pytest.raises(GitError, match="gave up after 4 attempts") as caught:
        git_source.publish(report(base))
    assert TOKEN not in str(caught.value)
    assert world.remote.head(BRANCH) is None


def test_stopping_interrupts_the_retry_wait(world: GitWorld, https):
    """With the stop event set, a failed push is not retried."""
    stop = threading.Event()
    stop.set()
    git_source, base = _https_source(world, https, stop=stop)
    https.fail_pushes(1)
    with pytest.raises(GitError, match="not retried: gitopsd is stopping"):
        git_source.publish(report(base))
