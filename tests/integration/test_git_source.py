"""The Git source against real repositories: clone, fetch, repair, verify, never leak secrets."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from support.gitworld import GitWorld, gpg_key, ssh_key, texts

from gitopsd import config, source
from gitopsd.adapters import gitrepo
from gitopsd.core.outcome import SourceNoteCode
from gitopsd.errors import ConfigError, GitError


@pytest.fixture
def world(tmp_path: Path) -> GitWorld:
    """A remote with one commit on main and a user's clone of it."""
    return GitWorld(tmp_path)


def codes(checkout: source.Checkout) -> list[SourceNoteCode]:
    """The note codes of a checkout, in order."""
    return [note.code for note in checkout.notes]


# -- fetching ------------------------------------------------------------------------------------


def test_first_checkout_clones_the_branch_tip(world: GitWorld):
    """The first checkout clones the branch and serves its tip from <state>/repo."""
    checkout = world.source().checkout()
    assert checkout.revision == world.first
    assert checkout.root == world.state.resolve() / "repo"
    assert (checkout.manifests / "policy.yaml").is_file()
    assert (checkout.branch, checkout.tip, checkout.notes) == ("main", "", ())
    assert checkout.url == world.remote.url


def test_checkout_follows_new_commits(world: GitWorld):
    """A commit pushed to the branch is served on the next checkout."""
    git_source = world.source()
    git_source.checkout()
    second = world.user.change(note="second")
    world.user.push()
    checkout = git_source.checkout()
    assert checkout.revision == second
    assert "# second" in (checkout.manifests / "policy.yaml").read_text()


def test_shallow_clone_holds_only_the_tip(world: GitWorld):
    """depth=1 clones one commit; depth=0 the whole history."""
    world.user.change(note="second")
    world.user.push()
    world.source().checkout()
    assert world.clone_git("rev-list", "--count", "HEAD") == "1"
    shutil.rmtree(world.state)
    world.source(depth=0).checkout()
    assert world.clone_git("rev-list", "--count", "HEAD") == "2"


def test_incremental_fetch_keeps_ancestry_in_a_shallow_clone(world: GitWorld):
    """After a shallow clone, a fast-forward is told apart from a rewrite (no false note)."""
    git_source = world.source()
    git_source.checkout()
    for i in range(3):
        world.user.change(note=f"n{i}")
        world.user.push()
        assert git_source.checkout().notes == ()


def test_unchanged_branch_does_no_work(world: GitWorld):
    """When the tip is unchanged, checkout neither fetches nor rewrites the worktree."""
    git_source = world.source()
    git_source.checkout()
    marker = world.state / "repo" / "manifests" / "policy.yaml"
    before = marker.stat().st_mtime_ns
    fetch_head = world.state / "repo" / ".git" / "FETCH_HEAD"
    fetched = fetch_head.stat().st_mtime_ns
    assert git_source.checkout().revision == world.first
    assert marker.stat().st_mtime_ns == before
    assert fetch_head.stat().st_mtime_ns == fetched


def test_remote_head_is_the_tip_without_a_clone(world: GitWorld):
    """remote_head answers with one ls-remote, before any clone; None for a missing branch."""
    assert world.source().remote_head() == world.first
    assert not (world.state / "repo").exists()
    assert world.source(branch="nope").remote_head() is None
    world.remote.path.rename(world.root / "gone.git")
    with pytest.raises(GitError, match=r"cannot read main of file://.*remote\.git: git ls-remote"):
        world.source().remote_head()


def test_worktree_is_forced_to_the_revision(world: GitWorld):
    """Local edits and stray files in the clone are discarded on the next start."""
    world.source().checkout()
    repo = world.state / "repo"
    (repo / "manifests" / "policy.yaml").write_text("garbage")
    (repo / "manifests" / "stray.yaml").write_text("kind: Stray")
    checkout = world.source().checkout()
    wanted = (world.user.path / "manifests" / "policy.yaml").read_text()
    assert (checkout.manifests / "policy.yaml").read_text() == wanted
    assert not (checkout.manifests / "stray.yaml").exists()


# -- the real world ------------------------------------------------------------------------------


def test_unreachable_remote_serves_the_last_good_revision(world: GitWorld):
    """When the remote is gone, the last good revision is served with a fetch-failed note."""
    git_source = world.source()
    git_source.checkout()
    world.remote.path.rename(world.root / "gone.git")
    checkout = git_source.checkout()
    assert checkout.revision == world.first
    assert checkout.tip == ""
    assert codes(checkout) == [SourceNoteCode.FETCH_FAILED]
    assert "remote.git" in checkout.notes[0].message
    assert (checkout.manifests / "policy.yaml").is_file()


def test_unreachable_remote_without_a_good_revision_raises(world: GitWorld):
    """With nothing fetched yet, an unreachable remote is a GitError naming the branch."""
    settings = world.settings(url=f"file://{world.root / 'missing.git'}")
    with pytest.raises(GitError, match=r"cannot read main of file://.*missing\.git"):
        world.source(settings).checkout()


def test_rewritten_history_resets_to_the_remote_branch(world: GitWorld):
    """A force-push is followed, and the note says the history was rewritten."""
    git_source = world.source()
    world.user.change(note="kept")
    world.user.push()
    git_source.checkout()
    dropped = world.user.change(note="dropped")
    world.user.push()
    assert git_source.checkout().revision == dropped
    world.user.git("reset", "--quiet", "--hard", "HEAD~1")
    rewritten = world.user.change(note="rewritten")
    world.user.push(force=True)
    checkout = git_source.checkout()
    assert checkout.revision == rewritten
    assert codes(checkout) == [SourceNoteCode.HISTORY_REWRITTEN]
    assert dropped in checkout.notes[0].message
    assert "# rewritten" in (checkout.manifests / "policy.yaml").read_text()
    assert git_source.checkout().notes == ()


def test_force_push_back_to_a_known_commit_is_a_rewrite(world: GitWorld):
    """Resetting the branch to an older commit the clone has is followed without a fetch."""
    git_source = world.source(depth=0)
    git_source.checkout()
    world.user.change(note="later")
    world.user.push()
    git_source.checkout()
    world.user.push(force=True, rev=world.first)
    checkout = git_source.checkout()
    assert checkout.revision == world.first
    assert codes(checkout) == [SourceNoteCode.HISTORY_REWRITTEN]


def test_deleted_branch_keeps_the_last_good_revision(world: GitWorld):
    """A branch deleted at the remote is a fetch failure; the last good revision stays."""
    git_source = world.source()
    git_source.checkout()
    world.remote.git("branch", "--move", "main", "renamed")
    checkout = git_source.checkout()
    assert checkout.revision == world.first
    assert codes(checkout) == [SourceNoteCode.FETCH_FAILED]
    assert "branch main does not exist" in checkout.notes[0].message


def _stale_index_lock(repo: Path) -> None:
    (repo / ".git" / "index.lock").write_text("")


def _missing_objects(repo: Path) -> None:
    for pack in (repo / ".git" / "objects" / "pack").glob("*.pack"):
        pack.unlink()
    for loose in (repo / ".git" / "objects").glob("??/*"):
        loose.unlink()


def _corrupt_objects(repo: Path) -> None:
    for pack in (repo / ".git" / "objects" / "pack").glob("*.pack"):
        pack.write_bytes(b"PACK garbage")
    for loose in (repo / ".git" / "objects").glob("??/*"):
        loose.chmod(0o644)
        loose.write_bytes(b"garbage")


def _truncated_clone(repo: Path) -> None:
    shutil.rmtree(repo / ".git")
    (repo / ".git").mkdir()


def _no_git_dir(repo: Path) -> None:
    shutil.rmtree(repo / ".git")


def _head_missing(repo: Path) -> None:
    (repo / ".git" / "HEAD").unlink()


@pytest.mark.parametrize(
    "damage",
    [
        _stale_index_lock,
        _missing_objects,
        _corrupt_objects,
        _truncated_clone,
        _no_git_dir,
        _head_missing,
    ],
)
def test_clone_damaged_by_a_crash_is_cloned_again(world: GitWorld, damage):
    """After a crash left the clone broken, the next start clones again and says so."""
    world.source().checkout()
    damage(world.state / "repo")
    world.user.change(note="after crash")
    world.user.push()
    checkout = world.source().checkout()
    assert codes(checkout) == [SourceNoteCode.RECLONED]
    assert checkout.revision == world.remote.head()
    assert "# after crash" in (checkout.manifests / "policy.yaml").read_text()
    assert world.clone_git("fsck", "--connectivity-only") == ""


def test_stale_lock_in_a_running_source_is_repaired(world: GitWorld):
    """A lock file appearing between two checkouts of one source is repaired too."""
    git_source = world.source()
    git_source.checkout()
    _stale_index_lock(world.state / "repo")
    checkout = git_source.checkout()
    assert codes(checkout) == [SourceNoteCode.RECLONED]
    assert "index.lock" in checkout.notes[0].message
    assert git_source.checkout().notes == ()


def test_missing_manifests_directory_is_a_config_error(world: GitWorld):
    """[git] path naming no directory at the revision is a ConfigError that says so."""
    with pytest.raises(ConfigError, match=r"\[git\] path: nowhere is not a directory in main@"):
        world.source(path="nowhere").checkout()


def test_a_manifests_directory_the_revision_lacks_never_makes_the_clone_again(world: GitWorld):
    """Asked twice, the ConfigError comes from the same clone: a missing path is no damage."""
    source = world.source(path="nowhere")
    with pytest.raises(ConfigError, match=r"\[git\] path: nowhere is not a directory"):
        source.checkout()
    marker = world.state / "repo" / ".git" / "gitopsd-test-marker"
    marker.touch()
    with pytest.raises(ConfigError, match=r"\[git\] path: nowhere is not a directory"):
        source.checkout()
    assert marker.exists()


def test_a_manifests_directory_looped_in_the_worktree_makes_the_clone_again(world: GitWorld):
    """[git] path replaced in the clone by a symbolic link to itself: recloned, served again."""
    source = world.source()
    source.checkout()
    manifests = world.state / "repo" / "manifests"
    shutil.rmtree(manifests)
    manifests.symlink_to("manifests")
    checkout = source.checkout()
    assert codes(checkout) == [SourceNoteCode.RECLONED]
    assert "symbolic link loop" in checkout.notes[0].message
    assert (checkout.manifests / "policy.yaml").is_file()


# -- URL kinds -----------------------------------------------------------------------------------


def test_local_path_to_a_bare_repository_is_cloned(world: GitWorld):
    """A plain path to a bare repository is a Git source, not a directory read in place."""
    git_source = source.from_settings(world.settings(url=str(world.remote.path)), world.state)
    assert isinstance(git_source, gitrepo.GitSource)
    assert git_source.checkout().revision == world.first


def test_local_working_tree_is_read_from_its_branch(world: GitWorld):
    """A path to a working tree serves the branch, never its uncommitted files."""
    world.user.write("manifests/policy.yaml", "uncommitted: true\n")
    settings = world.settings(url=str(world.user.path))
    checkout = source.from_settings(settings, world.state).checkout()
    assert checkout.revision == world.first
    assert "uncommitted" not in (checkout.manifests / "policy.yaml").read_text()


def test_plain_directory_is_read_in_place(tmp_path: Path):
    """A local directory that is not a repository stays a DirectorySource."""
    (tmp_path / "m").mkdir()
    settings = config.GitSettings(url=str(tmp_path / "m"))
    assert isinstance(source.from_settings(settings, tmp_path / "state"), source.DirectorySource)
    file_url = config.GitSettings(url=f"file://{tmp_path / 'm'}")
    assert isinstance(source.from_settings(file_url, tmp_path / "state"), source.DirectorySource)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/backups.git",
        "ssh://git@github.com/acme/backups.git",
        "git@github.com:acme/backups.git",
    ],
)
def test_remote_urls_are_git_sources(tmp_path: Path, url: str):
    """HTTPS, ssh:// and scp-like URLs are Git sources (nothing is fetched until checkout)."""
    settings = config.GitSettings(url=url)
    git_source = source.from_settings(settings, tmp_path / "state")
    assert isinstance(git_source, gitrepo.GitSource)
    assert isinstance(git_source, source.ReportSink)


def test_relative_file_url_is_refused(tmp_path: Path):
    """file://relative is a ConfigError asking for an absolute path."""
    with pytest.raises(ConfigError, match="relative file:// URL"):
        source.from_settings(config.GitSettings(url="file://repo"), tmp_path)


def test_report_branch_equal_to_watched_branch_is_refused(world: GitWorld):
    """A GitSource whose report branch is the watched branch cannot be built."""
    report = config.ReportSettings(branch="main")
    with pytest.raises(ConfigError, match="never pushes to the watched branch"):
        gitrepo.GitSource(world.settings(), world.state, report=report)


# -- signatures ----------------------------------------------------------------------------------


def test_ssh_signed_tip_is_applied(world: GitWorld):
    """A tip signed by a key in allowed_signers_file is served without a note."""
    key = ssh_key(world.root / "keys")
    signed = world.user.change(note="signed", signer=key.signer)
    world.user.push()
    settings = world.settings(verify_signatures=True, allowed_signers_file=str(key.allowed_signers))
    checkout = world.source(settings).checkout()
    assert (checkout.revision, checkout.tip, checkout.notes) == (signed, "", ())


def test_tip_signed_by_an_unknown_ssh_key_is_not_applied(world: GitWorld):
    """An untrusted tip leaves the last verified revision in place, and the note says why."""
    trusted, stranger = ssh_key(world.root / "keys"), ssh_key(world.root / "other", "stranger")
    good = world.user.change(note="good", signer=trusted.signer)
    world.user.push()
    settings = world.settings(
        verify_signatures=True, allowed_signers_file=str(trusted.allowed_signers)
    )
    git_source = world.source(settings)
    git_source.checkout()
    bad = world.user.change(note="bad", signer=stranger.signer)
    world.user.push()
    checkout = git_source.checkout()
    assert (checkout.revision, checkout.tip) == (good, bad)
    assert codes(checkout) == [SourceNoteCode.UNVERIFIED]
    assert checkout.notes[0].message.startswith(f"commit {bad} is not signed by a trusted key:")
    assert "is not in [git] allowed_signers_file" in checkout.notes[0].message
    assert "# bad" not in (checkout.manifests / "policy.yaml").read_text()


def test_trusted_commit_after_an_untrusted_one_is_applied(world: GitWorld):
    """Once a trusted commit lands on top of an untrusted one, it is served."""
    trusted, stranger = ssh_key(world.root / "keys"), ssh_key(world.root / "other", "stranger")
    world.user.change(note="good", signer=trusted.signer)
    world.user.push()
    settings = world.settings(
        verify_signatures=True, allowed_signers_file=str(trusted.allowed_signers)
    )
    git_source = world.source(settings)
    git_source.checkout()
    world.user.change(note="bad", signer=stranger.signer)
    world.user.push()
    assert codes(git_source.checkout()) == [SourceNoteCode.UNVERIFIED]
    fixed = world.user.change(note="fixed", signer=trusted.signer)
    world.user.push()
    checkout = git_source.checkout()
    assert (checkout.revision, checkout.tip, checkout.notes) == (fixed, "", ())


def test_unsigned_tip_with_nothing_verified_raises(world: GitWorld):
    """With no verified revision to fall back on, an unsigned tip is a GitError saying why."""
    key = ssh_key(world.root / "keys")
    settings = world.settings(verify_signatures=True, allowed_signers_file=str(key.allowed_signers))
    with pytest.raises(GitError, match=f"commit {world.first} .*it is not signed"):
        world.source(settings).checkout()


def test_ssh_signature_without_allowed_signers_is_explained(world: GitWorld):
    """An SSH-signed tip with no allowed_signers_file set says which setting is missing."""
    key = ssh_key(world.root / "keys")
    world.user.change(note="signed", signer=key.signer)
    world.user.push()
    with pytest.raises(GitError, match=r"\[git\] allowed_signers_file is not set"):
        world.source(verify_signatures=True).checkout()


def test_openpgp_signed_tip_is_applied(world: GitWorld):
    """A tip signed by a key of openpgp_keys_file is served, checked in a private keyring."""
    with gpg_key(world.root / "keys") as key:
        signed = world.user.change(note="pgp", signer=key.signer)
    world.user.push()
    settings = world.settings(verify_signatures=True, openpgp_keys_file=str(key.public))
    checkout = world.source(settings).checkout()
    assert (checkout.revision, checkout.notes) == (signed, ())
    assert (world.state / "gnupg" / "pubring.kbx").is_file()


def test_either_trusted_kind_passes(world: GitWorld):
    """With both kinds configured, an SSH-signed and then an OpenPGP-signed tip both pass."""
    ssh = ssh_key(world.root / "keys")
    with gpg_key(world.root / "keys") as pgp:
        settings = world.settings(
            verify_signatures=True,
            allowed_signers_file=str(ssh.allowed_signers),
            openpgp_keys_file=str(pgp.public),
        )
        git_source = world.source(settings)
        by_ssh = world.user.change(note="ssh", signer=ssh.signer)
        world.user.push()
        assert (git_source.checkout().revision, git_source.checkout().notes) == (by_ssh, ())
        by_pgp = world.user.change(note="pgp", signer=pgp.signer)
        world.user.push()
        assert (git_source.checkout().revision, git_source.checkout().notes) == (by_pgp, ())


def test_users_own_keyring_is_never_trusted(world: GitWorld, monkeypatch: pytest.MonkeyPatch):
    """A key only in $GNUPGHOME (not in openpgp_keys_file) does not make a commit trusted."""
    with gpg_key(world.root / "keys") as key, gpg_key(world.root / "other", "Other <o@x>") as other:
        world.user.change(note="pgp", signer=key.signer)
        world.user.push()
        monkeypatch.setenv("GNUPGHOME", str(key.home))
        settings = world.settings(verify_signatures=True, openpgp_keys_file=str(other.public))
        with pytest.raises(
            GitError, match=r"the signature cannot be checked: key [0-9A-F]+ is not"
        ):
            world.source(settings).checkout()


# -- credentials ---------------------------------------------------------------------------------

TOKEN = "ghp_Sup3rS3cretT0ken_4f9a1c"  # noqa: S105 (a test token, distinctive on purpose)


def _leaks(root: Path, *secrets: str) -> list[Path]:
    """Files under ``root`` that hold any of ``secrets``."""
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and any(s.encode() in path.read_bytes() for s in secrets)
    ]


@pytest.fixture
def https(world: GitWorld, monkeypatch: pytest.MonkeyPatch):
    """The world's remote served over HTTPS with TOKEN; git trusts the test certificate."""
    from support.githttp import GitHttpServer

    with GitHttpServer(world.root, token=TOKEN, certs=world.root / "tls") as server:
        monkeypatch.setenv("GIT_SSL_CAINFO", str(server.cert))
        yield server


def test_https_token_travels_in_a_header_only(world: GitWorld, https, tmp_path: Path):
    """Clone and fetch over HTTPS send the token as Basic auth; it is stored nowhere."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    git_source = world.source(url=https.url("remote.git"), token_file=str(token_file))
    assert git_source.checkout().revision == world.first
    second = world.user.change(note="second")
    world.user.push()
    checkout = git_source.checkout()
    assert checkout.revision == second
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert https.authorizations
    assert set(https.authorizations) == {f"Basic {basic}"}
    assert TOKEN not in (world.state / "repo" / ".git" / "config").read_text()
    assert _leaks(world.state, TOKEN, basic) == []
    assert TOKEN not in texts([checkout, git_source, *checkout.notes])


def test_https_token_from_the_credentials_directory(world: GitWorld, https, tmp_path: Path):
    """$CREDENTIALS_DIRECTORY/git_token is used when no token_file is set."""
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "git_token").write_text(TOKEN)
    settings = world.settings(url=https.url("remote.git"))
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}
    git_source = source.from_settings(settings, world.state, environ=environ)
    assert git_source.checkout().revision == world.first


def test_https_without_a_token_fails_without_prompting(world: GitWorld, https):
    """No token: the 401 becomes a GitError at once (git never asks for a password)."""
    with pytest.raises(GitError, match=r"cannot read main of https://127\.0\.0\.1") as caught:
        world.source(url=https.url("remote.git")).checkout()
    assert "terminal prompts disabled" in str(caught.value)
    assert https.authorizations[0] == ""


def test_secrets_never_appear_in_errors_or_notes(world: GitWorld, https, tmp_path: Path):
    """A wrong token, a URL with user:password, a dead server: no secret in any message."""
    wrong = tmp_path / "wrong"
    wrong.write_text("wr0ng-T0ken-zz81")
    with pytest.raises(GitError) as refused:
        world.source(url=https.url("remote.git"), token_file=str(wrong)).checkout()
    good = tmp_path / "good"
    good.write_text(TOKEN)
    git_source = world.source(url=https.url("remote.git"), token_file=str(good))
    git_source.checkout()
    https.stop()
    dead = git_source.checkout()
    assert codes(dead) == [SourceNoteCode.FETCH_FAILED]
    userinfo = "https://ada:pa55w0rd-in-url@127.0.0.1:1/remote.git"
    in_url_source = gitrepo.GitSource(world.settings(url=userinfo), tmp_path / "other")
    with pytest.raises(GitError) as in_url:
        in_url_source.checkout()
    said = texts([refused.value, dead, *dead.notes, in_url.value, in_url_source])
    for secret in ("wr0ng-T0ken-zz81", TOKEN, "pa55w0rd-in-url"):
        assert secret not in said
    assert "https://***@127.0.0.1:1/remote.git" in str(in_url.value)


@pytest.fixture
def ssh(world: GitWorld):
    """The world's remote over SSH; the client key lives in a directory with a space."""
    from support.gitssh import GitSshServer

    key = ssh_key(world.root / "ssh keys", "deploy")
    authorized = world.root / "authorized_keys"
    authorized.write_text(key.public.read_text())
    with GitSshServer(world.root, client_key=authorized) as server:
        yield server, key


def test_ssh_clone_and_fetch_check_the_host_key(world: GitWorld, ssh):
    """Over ssh://, clone and fetch work with the deploy key and a pinned known_hosts."""
    server, key = ssh
    known_hosts = server.known_hosts(world.root / "ssh keys" / "known_hosts")
    git_source = world.source(
        url=server.url("remote.git"),
        ssh_key_file=str(key.private),
        known_hosts_file=str(known_hosts),
    )
    assert git_source.checkout().revision == world.first
    second = world.user.change(note="over ssh")
    world.user.push()
    assert git_source.checkout().revision == second


def test_ssh_with_a_wrong_host_key_is_refused(world: GitWorld, ssh):
    """A known_hosts entry with another key: host key verification fails, clearly, no secret."""
    import asyncssh

    server, key = ssh
    impostor = asyncssh.generate_private_key("ssh-ed25519")
    known_hosts = server.known_hosts(world.root / "known_hosts", key=impostor)
    git_source = world.source(
        url=server.url("remote.git"),
        ssh_key_file=str(key.private),
        known_hosts_file=str(known_hosts),
    )
    with pytest.raises(GitError, match="Host key verification failed") as caught:
        git_source.checkout()
    private = key.private.read_text()
    body = "".join(private.splitlines()[1:-1])
    assert body[:40] not in str(caught.value)


def test_ssh_key_from_the_credentials_directory(world: GitWorld, ssh, tmp_path: Path):
    """$CREDENTIALS_DIRECTORY/git_ssh_key is the key when no ssh_key_file is set."""
    server, key = ssh
    creds = tmp_path / "creds"
    creds.mkdir()
    shutil.copy(key.private, creds / "git_ssh_key")
    (creds / "git_ssh_key").chmod(0o600)
    settings = world.settings(
        url=server.url("remote.git"),
        known_hosts_file=str(server.known_hosts(tmp_path / "known_hosts")),
    )
    environ = {"CREDENTIALS_DIRECTORY": str(creds)}
    git_source = source.from_settings(settings, world.state, environ=environ)
    assert git_source.checkout().revision == world.first
