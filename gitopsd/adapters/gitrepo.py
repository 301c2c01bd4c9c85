"""Git through GitPython: the daemon's clone of the watched branch, and the report branch.

Owns ``<state dir>/repo``, a clone only gitopsd touches. Each checkout asks the remote for the
branch tip (``ls-remote``), fetches it when the clone lacks it (``--depth`` on a fresh clone,
incremental after, so ancestry questions have exact answers), verifies its signature when
asked, and forces the worktree to it. A clone a crash left broken (stale locks, missing
objects, no HEAD) is detected and cloned again. When the remote cannot be read, or the tip is
not trusted, the last good revision is served with a note saying why.

Commands run with the environment of ``git_access`` (credentials never in a URL, argv or
config; none of this process's own secrets) and every message raised is scrubbed by it.
A ``git.Repo`` is opened per operation and closed; only plain git commands run, so no
``cat-file`` process outlives an operation.
This is the only module that imports ``git``. It must not push to the watched branch (the
report branch rules live in ``report_branch``), must not log, and must not let a
``GitCommandError`` or an unscrubbed git message out.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git

from gitopsd import config
from gitopsd.adapters import report_branch, signatures
from gitopsd.adapters.git_access import Access, scrub
from gitopsd.core.outcome import SourceNote, SourceNoteCode
from gitopsd.errors import ConfigError, GitDiskFullError, GitError
from gitopsd.source import Checkout, Displaced, Published, ReportCommit, resolved_dir

TIMEOUT_S = 300.0
"""The longest one git command may run before it is killed (a stalled network)."""
REPORT_FETCH_DEPTH = 50
"""Commits of the report branch fetched into a shallow clone (see docs/git.md)."""
_TRACKING = "refs/remotes/origin/"
_LOCK_FILES = ("index.lock", "HEAD.lock", "shallow.lock", "config.lock", "packed-refs.lock")
_VERIFIED_MEMORY = 256
_NO_SPACE = ("No space left on device", "Disk quota exceeded")
"""strerror(ENOSPC) and strerror(EDQUOT) as git prints them: it runs in the C locale."""
FULL_RETRY_MIN_S = 30.0
FULL_RETRY_MAX_S = 600.0
"""After a full disk, the wait before the next attempt: doubled per failure, within these."""
FREED_BYTES = 1 << 20
"""Space freed since the failure that ends the wait at once."""
_FREE_SPACE = "free space in [state] dir (or give it a larger file system); gitopsd tries again"
_BOILERPLATE = frozenset(
    {"Please make sure you have the correct access rights", "and the repository exists."}
)


@dataclass(frozen=True, slots=True)
class _Result:
    status: int
    out: str
    err: str


def _git(cwd: Path, args: tuple[str, ...], env: Mapping[str, str]) -> _Result:
    """Run ``git args`` in ``cwd`` with exactly ``env``: the exit status and output, never raises.

    Run without GitPython's ``execute``, which adds the whole of ``os.environ`` to what it is
    given: ``env`` is complete (``Access.environment``), secrets already left out. A timer
    thread kills a command that runs past ``TIMEOUT_S``; waiting for it never polls a clock.
    """
    try:
        process = subprocess.Popen(  # noqa: S603 - git itself, arguments built here
            [str(git.Git.GIT_PYTHON_GIT_EXECUTABLE), *args],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:  # no git, or the working directory is gone
        return _Result(127, "", f"git could not be started: {exc.strerror or exc}")
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        process.kill()

    timer = threading.Timer(TIMEOUT_S, stop)
    timer.daemon = True
    # Started with every signal blocked, so the kernel never hands the process's signals to
    # a thread that only waits to kill git (Python runs handlers in the main thread alone).
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        timer.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    try:
        out, err = process.communicate()
    finally:
        timer.cancel()
    if stopped.is_set():
        return _Result(124, "", f"git did not finish within {TIMEOUT_S:.0f} s and was stopped")
    text = out.decode("utf-8", "replace").removesuffix("\n")
    return _Result(process.returncode, text, err.decode("utf-8", "replace"))


def _failure(access: Access, args: tuple[str, ...], result: _Result) -> str:
    """``git <verb> failed: <git's last words>``, scrubbed."""
    verb = next((a for a in args if not a.startswith("-") and "=" not in a), "")
    lines = [line.strip() for line in result.err.splitlines()]
    said = "; ".join([line for line in lines if line and line not in _BOILERPLATE][-3:])
    said = said or f"exit status {result.status}"
    return access.scrub(f"git {verb} failed: {said}")


def _error(access: Access, args: tuple[str, ...], result: _Result) -> GitError:
    """The error of a failed command: GitDiskFullError when git could not write for space."""
    message = _failure(access, args, result)
    if any(words in result.err for words in _NO_SPACE):
        return GitDiskFullError(message, hint=_FREE_SPACE)
    return GitError(message)


def _tip(ls_remote: str, ref: str) -> str | None:
    for line in ls_remote.splitlines():
        sha, _, name = line.partition("\t")
        if name == ref:
            return sha
    return None


_REPORT_TMP = "gitopsd-report-"
"""Prefix of the temporary index and blobs of a report commit, inside ``.git``."""


class _Session:
    """One open ``git.Repo`` and the environment every command of one operation runs with."""

    def __init__(self, repo: git.Repo, access: Access, git_dir: Path) -> None:
        self.repo = repo
        self.access = access
        self.git_dir = git_dir
        # Pinned, so that GIT_DIR or GIT_INDEX_FILE inherited from a parent (a git hook running
        # the tests, say) cannot point these commands at another repository.
        self.env = access.environment() | {
            "GIT_DIR": str(git_dir),
            "GIT_WORK_TREE": str(git_dir.parent),
            "GIT_INDEX_FILE": str(git_dir / "index"),
        }

    def attempt(self, *args: str, env: Mapping[str, str] | None = None) -> _Result:
        """Run ``git args`` in the clone; never raises."""
        return _git(self.git_dir.parent, args, self.env | dict(env or {}))

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run ``git args`` and return its output; GitError (scrubbed) when it fails."""
        result = self.attempt(*args, env=env)
        if result.status != 0:
            raise _error(self.access, args, result)
        return result.out

    def revision(self, name: str) -> str | None:
        """The commit ``name`` resolves to, None when there is none."""
        result = self.attempt("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        return result.out.strip() if result.status == 0 else None

    def is_ancestor(self, ancestor: str, tip: str) -> bool:
        """Whether ``ancestor`` is ``tip`` or reachable from it."""
        result = self.attempt("merge-base", "--is-ancestor", ancestor, tip)
        if result.status not in {0, 1}:
            raise GitError(_failure(self.access, ("merge-base",), result))
        return result.status == 0

    def remote_tip(self, branch: str) -> str | None:
        """The remote branch's tip (``ls-remote``), None when it does not exist."""
        ref = f"refs/heads/{branch}"
        return _tip(self.run("ls-remote", "--end-of-options", self.access.url, ref), ref)

    def fetch(self, branch: str, *, depth: int = 0, unshallow: bool = False) -> str:
        """Fetch ``branch`` into ``refs/remotes/origin/<branch>``; its tip."""
        options = ["--no-tags", "--no-recurse-submodules", "--quiet"]
        options += [f"--depth={depth}"] if depth > 0 else []
        options += ["--unshallow"] if unshallow else []
        refspec = f"+refs/heads/{branch}:{_TRACKING}{branch}"
        self.run("fetch", *options, "--end-of-options", self.access.url, refspec)
        tip = self.revision(f"{_TRACKING}{branch}")
        if tip is None:
            raise GitError(f"fetching {branch} from {self.access.shown} gave no commit")
        return tip

    def intact(self) -> bool:
        """Whether every object reachable from the refs and HEAD is there and readable."""
        fsck = ("fsck", "--connectivity-only", "--no-dangling", "--no-progress")
        return self.attempt(*fsck).status == 0

    @property
    def shallow(self) -> bool:
        """Whether the clone's history is cut off."""
        return (self.git_dir / "shallow").is_file()


@contextlib.contextmanager
def _session(path: Path, access: Access) -> Iterator[_Session]:
    """Open the clone at ``path`` for one operation, and close it afterwards."""
    try:
        repo = git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise _DamagedError(f"{path} is not a usable git repository") from exc
    try:
        yield _Session(repo, access, path / ".git")
    finally:
        repo.close()


_CHECK_URL = "check [git] url, its credentials, and that this host can reach it"
_CHECK_SIGNERS = (
    "sign the branch tip with a trusted key, or check [git] allowed_signers_file and"
    " openpgp_keys_file"
)


class _DamagedError(GitError):
    """The clone is broken in a way only cloning again repairs."""


class _WorktreeError(_DamagedError):
    """The clone's worktree does not hold what its revision has (it was changed under us)."""


class _UnreachableError(GitError):
    """The remote could not tell the branch tip, or has no such branch."""


class _UnverifiedError(GitError):
    """Neither the tip nor the clone's revision carries a trusted signature."""


@dataclass(frozen=True, slots=True)
class _Verdict:
    trusted: bool
    reason: str = ""


class _FullDisk:
    """The wait after the state directory's file system was found full.

    While it lasts, a checkout tries nothing (``GitDiskFullError`` with ``deferred``): a full
    disk cannot take a new clone, and making one again at every poll only churns. It ends
    when its time is up, or at once when ``FREED_BYTES`` more are free than at the failure.
    """

    def __init__(self) -> None:
        self.until = 0.0
        self.delay_s = 0.0
        self.free: int | None = None
        self.message = ""

    def check(self, free: int | None) -> None:
        """Raise the deferred error while the wait lasts and no space was freed."""
        left_s = self.until - time.monotonic()
        freed = free is not None and self.free is not None and free >= self.free + FREED_BYTES
        if left_s > 0 and not freed:
            raise GitDiskFullError(self.message, hint=_FREE_SPACE, deferred=True, retry_in_s=left_s)

    def failed(self, why: str, *, free: int | None, base_s: float) -> GitDiskFullError:
        """Start (or double) the wait after a failure; the error that says so."""
        self.delay_s = min(FULL_RETRY_MAX_S, max(base_s, 2 * self.delay_s))
        self.until = time.monotonic() + self.delay_s
        self.free = free
        self.message = (
            f"{why}; the next attempt waits {self.delay_s:.0f} s after this one, or until"
            " space is freed"
        )
        return GitDiskFullError(self.message, hint=_FREE_SPACE, retry_in_s=self.delay_s)

    def cleared(self) -> None:
        """A checkout worked: the next failure starts from the shortest wait."""
        self.until, self.delay_s, self.free = 0.0, 0.0, None


class GitSource:
    """The watched branch of a Git repository, cloned under ``<state_dir>/repo``; a ReportSink.

    ``checkout`` serves the branch tip, or the last good revision with a note saying why not.
    ``publish`` commits reports to ``[report] branch`` of the same remote. Credentials are read
    for each operation (a rotated token file is picked up). Threads may share it: one
    operation runs at a time. ``stop`` interrupts the waits between push attempts.
    """

    def __init__(
        self,
        settings: config.GitSettings,
        state_dir: str | Path,
        *,
        report: config.ReportSettings | None = None,
        environ: Mapping[str, str] | None = None,
        stop: report_branch.Waiter | None = None,
        pacing: report_branch.Pacing | None = None,
    ) -> None:
        self.settings = settings
        self.report = report or config.ReportSettings()
        if self.report.branch == settings.branch:
            raise ConfigError(
                f"[report] branch must differ from [git] branch ({settings.branch}):"
                " gitopsd never pushes to the watched branch"
            )
        self.state_dir = Path(state_dir).resolve()
        self.path = self.state_dir / "repo"
        self._environ = environ
        self._pacing = pacing or report_branch.Pacing(stop=stop or threading.Event())
        self._lock = threading.Lock()
        self._checked = False  # the worktree was forced to HEAD and the objects checked
        self._suspect = ""  # why the clone is distrusted after a local git failure
        self._full = _FullDisk()
        self._verified: set[str] = set()

    def __repr__(self) -> str:
        return f"GitSource({scrub(self.settings.url)!r}, branch={self.settings.branch!r})"

    def _access(self) -> Access:
        return Access.of(self.settings, self._environ)

    def remote_head(self) -> str | None:
        """The branch tip at the remote (one ``ls-remote``), None when there is no such branch.

        Cheap enough for every poll: when it equals the last checkout's ``revision`` (or its
        unverified ``tip``), nothing changed. It does not need the clone. Raises GitError when
        the remote cannot be read.
        """
        with self._lock:
            access = self._access()
            self.state_dir.mkdir(parents=True, exist_ok=True)
            ref = f"refs/heads/{self.settings.branch}"
            args = ("ls-remote", "--end-of-options", access.url, ref)
            result = _git(self.state_dir, args, access.environment())
            if result.status != 0:
                where = f"{self.settings.branch} of {access.shown}"
                raise GitError(f"cannot read {where}: {_failure(access, args, result)}")
            return _tip(result.out, ref)

    def checkout(self) -> Checkout:
        """The branch tip in ``<state dir>/repo``, or the last good revision and a note why not.

        Raises GitError when there is no good revision to fall back on (the first fetch failed,
        nothing is verified), ConfigError when ``[git] path`` is not a directory there.
        """
        with self._lock:
            access = self._access()
            self._full.check(self._free_bytes())
            try:
                checkout = self._checkout(access)
            except GitDiskFullError as exc:
                raise self._full.failed(
                    f"the file system of {self.state_dir} is full: {exc}",
                    free=self._free_bytes(),
                    base_s=self._base_wait_s(),
                ) from None
            self._full.cleared()
            return checkout

    def _checkout(self, access: Access) -> Checkout:
        notes: list[SourceNote] = []
        for last_try in (False, True):
            damage = self._damage(access)
            if damage:
                self._remove_clone()
                notes.append(SourceNote(code=SourceNoteCode.RECLONED, message=damage))
            try:
                self._ensure_clone(access)
                with _session(self.path, access) as session:
                    return self._update(session, notes)
            except (_UnreachableError, _UnverifiedError, GitDiskFullError):
                raise
            except GitError as exc:
                if last_try:
                    raise
                suspect = f"git failed in the clone at {self.path} ({exc})"
                self._suspect = str(exc) if isinstance(exc, _WorktreeError) else suspect
        raise AssertionError  # pragma: no cover (the loop returns or raises)

    def _free_bytes(self) -> int | None:
        """Bytes this user may still write on the state directory's file system."""
        try:
            found = os.statvfs(self.state_dir)
        except OSError:
            return None
        return found.f_bavail * found.f_frsize

    def _base_wait_s(self) -> float:
        return max(FULL_RETRY_MIN_S, 2 * self.settings.poll_interval_s)

    def _update(self, s: _Session, notes: list[SourceNote]) -> Checkout:
        head = s.revision("HEAD")
        try:
            tip = self._fetch(s, head)
        except _UnreachableError as exc:
            if head is None:
                raise
            notes.append(SourceNote(code=SourceNoteCode.FETCH_FAILED, message=str(exc)))
            return self._fall_back(s, head, tip="", why=str(exc), notes=notes)
        if self.settings.verify_signatures:
            verdict = self._verify(s, tip)
            if not verdict.trusted:
                why = f"commit {tip} is not signed by a trusted key: {verdict.reason}"
                if head is None:
                    raise _UnverifiedError(
                        f"{self._branch(s)}: {why}; nothing verified to use", hint=_CHECK_SIGNERS
                    )
                notes.append(SourceNote(code=SourceNoteCode.UNVERIFIED, message=why))
                return self._fall_back(s, head, tip=tip, why=why, notes=notes)
        if head is not None and head != tip and not s.is_ancestor(head, tip):
            rewritten = f"{self.settings.branch} was rewritten: {head} is no longer in its history"
            notes.append(SourceNote(code=SourceNoteCode.HISTORY_REWRITTEN, message=rewritten))
        self._place(s, tip, moved=tip != head)
        return self._served(s, tip, tip="", notes=notes)

    def _fall_back(
        self, s: _Session, head: str, *, tip: str, why: str, notes: list[SourceNote]
    ) -> Checkout:
        """The clone's revision instead of the tip, if it is trusted."""
        if self.settings.verify_signatures and not self._verify(s, head).trusted:
            raise _UnverifiedError(
                f"{why}; the clone's revision {head} is not verified either", hint=_CHECK_SIGNERS
            )
        self._place(s, head, moved=False)
        return self._served(s, head, tip=tip, notes=notes)

    def _fetch(self, s: _Session, head: str | None) -> str:
        """The remote tip, fetched when the clone lacks it; _UnreachableError when unknowable."""
        branch = self.settings.branch
        try:
            tip = s.remote_tip(branch)
        except GitError as exc:
            raise _UnreachableError(
                f"cannot read {self._branch(s)}: {exc}", hint=_CHECK_URL
            ) from exc
        if tip is None:
            raise _UnreachableError(
                f"branch {branch} does not exist at {s.access.shown}",
                hint="check [git] branch: it names a branch of that repository",
            )
        if s.revision(tip) == tip:
            if s.revision(f"{_TRACKING}{branch}") != tip:  # no write when nothing moves
                s.run("update-ref", f"{_TRACKING}{branch}", tip)
            return tip
        depth = self.settings.depth if head is None else 0
        try:
            return s.fetch(branch, depth=depth, unshallow=self.settings.depth == 0 and s.shallow)
        except GitDiskFullError:
            raise
        except GitError as exc:
            # ls-remote just worked, so the clone itself may be what fails; a fetch that fails
            # in an intact clone is the network's doing, and the last good revision stays.
            if not s.intact():
                raise _DamagedError(f"{exc}; the clone's objects are damaged") from exc
            raise _UnreachableError(
                f"cannot fetch {self._branch(s)}: {exc}", hint=_CHECK_URL
            ) from exc

    def _place(self, s: _Session, revision: str, *, moved: bool) -> None:
        """Force the worktree to ``revision``, unless it is known to be there already."""
        if moved or not self._checked:
            s.run("checkout", "--force", "--detach", "--quiet", revision)
            s.run("clean", "-ffdxq")
            self._checked = True

    def _served(self, s: _Session, revision: str, *, tip: str, notes: list[SourceNote]) -> Checkout:
        manifests = self._manifests()
        if manifests is None:
            inside = posixpath.normpath(self.settings.path)
            name = f"{revision}^{{tree}}" if inside == "." else f"{revision}:{inside}"
            if s.attempt("cat-file", "-t", name).out.strip() == "tree":
                raise _WorktreeError(
                    f"the clone at {self.path} had something else than the directory"
                    f" {self.settings.path} that {revision[:12]} holds there (a symbolic link"
                    " loop, say)"
                )
            raise ConfigError(
                f"[git] path: {self.settings.path} is not a directory in"
                f" {self.settings.branch}@{revision[:12]}; point it at the manifests directory"
            )
        return Checkout(
            root=self.path,
            manifests=manifests,
            revision=revision,
            url=scrub(self.settings.url),
            branch=self.settings.branch,
            tip=tip,
            notes=tuple(notes),
        )

    def _manifests(self) -> Path | None:
        """``[git] path`` in the worktree, resolved; None unless a directory inside the clone."""
        manifests = resolved_dir(self.path / self.settings.path)
        return manifests if manifests is not None and manifests.is_relative_to(self.path) else None

    def _branch(self, s: _Session) -> str:
        return f"{self.settings.branch} of {s.access.shown}"

    # -- the clone ---------------------------------------------------------------------------

    def _damage(self, access: Access) -> str:
        """Why the clone must be made again; "" when it is usable or simply not there yet."""
        if self._suspect:
            suspect, self._suspect = self._suspect, ""
            return suspect
        try:
            return self._inspect(access)
        except OSError as exc:
            return f"the clone at {self.path} could not be inspected ({exc.strerror or exc})"

    def _inspect(self, access: Access) -> str:
        git_dir = self.path / ".git"
        if self.path.is_symlink() and not self.path.is_dir():
            return f"the clone at {self.path} was a symbolic link that leads to no directory"
        if not self.path.exists():
            return ""
        if not self.path.is_dir():
            return f"the clone at {self.path} was not a directory"
        if not git_dir.is_dir():
            return f"the clone at {self.path} had no .git directory (an interrupted clone)"
        for leftover in git_dir.glob(_REPORT_TMP + "*"):  # a report commit cut short by a kill
            shutil.rmtree(leftover, ignore_errors=True)
        stale = [name for name in _LOCK_FILES if (git_dir / name).exists()]
        stale += [str(p.relative_to(git_dir)) for p in (git_dir / "refs").rglob("*.lock")]
        if stale:
            return f"the clone at {self.path} held stale lock files ({', '.join(stale)})"
        try:
            with _session(self.path, access) as s:
                if self._checked or s.attempt("rev-parse", "--verify", "-q", "HEAD").status:
                    return ""  # checked already, or a fresh clone with nothing fetched yet
                intact = s.intact() and s.revision("HEAD") is not None
        except _DamagedError:
            return f"the clone at {self.path} was not a usable repository (HEAD or objects gone)"
        return "" if intact else f"the clone at {self.path} had missing or corrupt objects"

    def _remove_clone(self) -> None:
        self._checked = False
        try:
            if self.path.is_symlink() or not self.path.is_dir():
                self.path.unlink(missing_ok=True)
            else:
                shutil.rmtree(self.path)
        except OSError as exc:
            raise GitError(f"cannot remove the damaged clone {self.path}: {exc.strerror}") from exc

    def _ensure_clone(self, access: Access) -> None:
        """An empty repository at ``<state dir>/repo`` when there is none yet."""
        if (self.path / ".git").is_dir():
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            message = f"cannot make the clone directory {self.path}: {exc.strerror or exc}"
            if exc.errno in {errno.ENOSPC, errno.EDQUOT}:
                raise GitDiskFullError(message, hint=_FREE_SPACE) from None
            raise GitError(message) from None
        env = access.environment() | {
            "GIT_DIR": str(self.path / ".git"),
            "GIT_WORK_TREE": str(self.path),
        }
        args = ("init", "--quiet", str(self.path))
        result = _git(self.path, args, env)
        if result.status != 0:
            raise _error(access, args, result)
        with _session(self.path, access) as s:
            # gc in the foreground of the fetch that triggers it: no detached process outlives
            # the command, and no stale gc.pid is left by a crash.
            s.run("config", "gc.autoDetach", "false")

    # -- signatures --------------------------------------------------------------------------

    def _verify(self, s: _Session, commit: str) -> _Verdict:
        if commit in self._verified:
            return _Verdict(trusted=True)
        allowed = self.settings.allowed_signers_file
        options = ("-c", f"gpg.ssh.allowedSignersFile={allowed}") if allowed else ()
        home = signatures.gnupg_home(self.state_dir, self.settings.openpgp_keys_file)
        out = s.run(
            *options, "show", "--no-patch", "--format=%G?%x00%GK", commit,
            env={"GNUPGHOME": str(home)},
        )  # fmt: skip
        status, _, key = out.strip().partition("\x00")
        if status == signatures.TRUSTED:
            if len(self._verified) >= _VERIFIED_MEMORY:
                self._verified.clear()
            self._verified.add(commit)
            return _Verdict(trusted=True)
        raw = s.run("cat-file", "commit", commit)
        why = signatures.reason(status, key=key, raw_commit=raw, allowed_signers=bool(allowed))
        return _Verdict(trusted=False, reason=why)

    # -- publishing --------------------------------------------------------------------------

    def publish(self, report: ReportCommit) -> Published:
        """Commit ``report`` to ``[report] branch`` (rules in ``report_branch``); GitError."""
        with self._lock:
            access = self._access()
            with _session(self.path, access) as s:
                if s.revision(report.base) != report.base:
                    raise GitError(
                        f"the watched revision {report.base} is not in the clone; publish"
                        " reports only for revisions a checkout returned"
                    )
                refs = _ReportRefs(s, self.report, watched=self.settings.branch)
                return report_branch.publish(
                    refs, report, branch=self.report.branch, pacing=self._pacing
                )

    def displaced(self, base: str, paths: tuple[str, ...]) -> tuple[Displaced, ...]:
        """What in ``base``'s tree a report commit of files at ``paths`` replaces.

        A file, link or submodule where a path needs a directory (``drift-report`` when the
        report goes to ``drift-report/REPORT.md``), or a directory or submodule where a path
        needs a file. ``publish`` lays the files over them all the same (``--replace``).
        """
        wanted: dict[str, bool] = {}  # path -> it must be a directory
        for path in paths:
            parts = PurePosixPath(_repo_path(path)).parts
            wanted |= {"/".join(parts[:n]): True for n in range(1, len(parts))}
            wanted["/".join(parts)] = False
        with self._lock, _session(self.path, self._access()) as s:
            out = s.run(
                "ls-tree", "-z", f"{base}^{{tree}}", "--", *wanted,
                env={"GIT_LITERAL_PATHSPECS": "1"},
            )  # fmt: skip
        found = []
        for entry in filter(None, out.split("\0")):
            meta, _, path = entry.partition("\t")
            mode, kind = meta.split(" ")[:2]
            if path not in wanted:
                continue
            if wanted[path] and kind != "tree":
                found.append(Displaced(path=path, kind=_KINDS.get(mode, "file")))
            elif not wanted[path] and kind in {"tree", "commit"}:
                found.append(Displaced(path=path, kind=_KINDS[mode]))
        return tuple(sorted(found, key=lambda d: d.path))


_KINDS = {
    "100644": "file",
    "100755": "executable file",
    "120000": "symbolic link",
    "160000": "submodule",
    "040000": "directory",
}
"""Tree entry modes, as a report names what it replaced."""


class _ReportRefs:
    """``report_branch.Refs`` over one session; plumbing only, the worktree is never touched."""

    def __init__(self, s: _Session, report: config.ReportSettings, *, watched: str) -> None:
        self.s = s
        self.report = report
        self.watched = watched

    def fetch_branch(self, branch: str) -> str | None:
        tip = self.s.remote_tip(branch)
        if tip is None or self.s.revision(tip) == tip:
            return tip
        # A shallow clone takes a bounded slice of the report branch, enough to find the
        # watched revision under a run of reports; a full clone takes what it lacks.
        return self.s.fetch(branch, depth=REPORT_FETCH_DEPTH if self.s.shallow else 0)

    def contains(self, tip: str, revision: str) -> bool:
        return self.s.is_ancestor(revision, tip)

    def trailer(self, commit: str, key: str) -> tuple[str, ...]:
        fmt = f"--format=%(trailers:key={key},valueonly,separator=%x00)"
        out = self.s.run("show", "--no-patch", fmt, commit)
        return tuple(v.strip() for v in out.split("\x00") if v.strip())

    def write_commit(
        self, *, base: str, parent: str, files: tuple[tuple[str, bytes], ...], message: str
    ) -> str:
        with tempfile.TemporaryDirectory(dir=self.s.git_dir, prefix=_REPORT_TMP) as tmp:
            env = self._author() | {"GIT_INDEX_FILE": str(Path(tmp, "index"))}
            self.s.run("read-tree", f"{base}^{{tree}}", env=env)
            for i, (path, data) in enumerate(files):
                name = _repo_path(path)
                Path(tmp, f"blob-{i}").write_bytes(data)
                blob = self.s.run("hash-object", "-w", "--no-filters", str(Path(tmp, f"blob-{i}")))
                entry = f"{self._mode(name, env)},{blob.strip()},{name}"
                # --replace: whatever stands in the way (a file where the report directory
                # goes, a directory where a report file goes) gives way; see displaced().
                self.s.run("update-index", "--add", "--replace", "--cacheinfo", entry, env=env)
            tree = self.s.run("write-tree", env=env).strip()
            Path(tmp, "message").write_text(message.rstrip("\n") + "\n", encoding="utf-8")
            return self.s.run(
                "-c", "commit.gpgSign=false", "commit-tree", tree, "-p", parent,
                "-F", str(Path(tmp, "message")), env=env,
            ).strip()  # fmt: skip

    def push(self, commit: str, branch: str, *, expected: str | None) -> report_branch.PushResult:
        if branch == self.watched:
            raise GitError(f"refusing to push to the watched branch {branch}")
        ref = f"refs/heads/{branch}"
        args = (
            "push", "--porcelain", "--no-verify", f"--force-with-lease={ref}:{expected or ''}",
            "--end-of-options", self.s.access.url, f"{commit}:{ref}",
        )  # fmt: skip
        result = self.s.attempt(*args)
        if result.status == 0:
            self.s.run("update-ref", f"{_TRACKING}{branch}", commit)
            return report_branch.PushResult(outcome=report_branch.PushOutcome.PUSHED)
        for line in result.out.splitlines():  # --porcelain: "<flag>\t<from>:<to>\t<summary>"
            flag, _, rest = line.partition("\t")
            refs, _, summary = rest.partition("\t")
            if flag == "!" and refs.endswith(f":{ref}"):
                return report_branch.PushResult(
                    outcome=report_branch.PushOutcome.REJECTED,
                    reason=self.s.access.scrub(summary.strip()),
                )
        raise GitError(_failure(self.s.access, args, result))

    def _author(self) -> dict[str, str]:
        name, email = self.report.author_name, self.report.author_email
        return {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }

    def _mode(self, path: str, env: Mapping[str, str]) -> str:
        """The mode ``path`` has in the index when it is a regular file, else 100644."""
        literal = {**env, "GIT_LITERAL_PATHSPECS": "1"}
        out = self.s.run("ls-files", "--stage", "-z", "--", path, env=literal)
        for entry in filter(None, out.split("\0")):
            meta, _, found = entry.partition("\t")
            mode = meta.split(" ", 1)[0]
            if found == path and mode in {"100644", "100755"}:
                return mode
        return "100644"


def _repo_path(path: str) -> str:
    """``path`` when it is a plain relative path inside the repository, else GitError."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or {"..", ".git"} & set(pure.parts):
        raise GitError(f"cannot commit {path!r}: not a relative path inside the repository")
    return str(pure)
