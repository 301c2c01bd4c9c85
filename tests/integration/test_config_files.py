"""Configuration files on disk: the shipped example, relative paths, credentials, bad files."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest
from support.manifests import deployment, docs, policy, project, schedule
from support.world import PROJECT_NAME

from gitopsd import cli, config, credentials
from gitopsd.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "gitopsd.example.toml"
URL = "https://github.com/acme/atlas-backups.git"
CANARY = "s3cr3t-Value-42"


def write(path: Path, text: str) -> Path:
    """Write a dedented file, creating its directory; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_the_example_loads_and_documents_every_default():
    """Every value in the example equals the dataclass default it documents."""
    settings = config.load(EXAMPLE, environ={})
    assert settings.path == EXAMPLE
    assert settings.git == config.GitSettings(url=URL)
    assert settings.atlas == config.AtlasSettings()
    assert settings.manifests == config.ManifestSettings()
    assert settings.reconcile == config.ReconcileSettings()
    assert settings.report == config.ReportSettings()
    assert settings.server == config.ServerSettings()
    assert settings.state == config.StateSettings()


def test_the_example_writes_every_key_under_a_comment():
    """Each key of each section appears as `key = ...`, right below a one-line comment."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    sections = {
        "git": config.GitSettings,
        "atlas": config.AtlasSettings,
        "manifests": config.ManifestSettings,
        "reconcile": config.ReconcileSettings,
        "report": config.ReportSettings,
        "server": config.ServerSettings,
        "state": config.StateSettings,
    }
    keys = [f.name for cls in sections.values() for f in dataclasses.fields(cls)]
    keys += [f.name for f in dataclasses.fields(config.CredentialFiles)]
    keys = [key for key in keys if key not in {"credentials", "profiles"}]
    for key in keys:
        found = [i for i, line in enumerate(lines) if re.match(rf"{key} = ", line)]
        assert found, f"{key} is not in the example"
        assert lines[found[0] - 1].startswith("# "), f"{key} has no comment above it"
    assert "[atlas.profiles." in EXAMPLE.read_text(encoding="utf-8")


def test_a_minimal_file_loads(tmp_path):
    """A file with only [git] url loads with every default."""
    path = write(tmp_path / "gitopsd.toml", f'[git]\nurl = "{URL}"\n')
    settings = config.load(path, environ={})
    assert settings.git.url == URL
    assert settings.reconcile == config.ReconcileSettings()


def test_relative_paths_are_relative_to_the_file_not_the_working_directory(tmp_path, monkeypatch):
    """A local url, *_file keys (ca_file too) and [state] dir resolve against the config file."""
    monkeypatch.chdir(write(tmp_path / "elsewhere" / "x", "").parent)
    path = write(
        tmp_path / "etc" / "gitopsd.toml",
        """
        [git]
        url = "../manifests"
        ssh_key_file = "keys/id_ed25519"

        [atlas]
        client_id_file = "creds/id"
        ca_file = "tls/ca.pem"

        [state]
        dir = "state"
        """,
    )
    settings = config.load(path, environ={})
    etc = (tmp_path / "etc").resolve()
    assert settings.git.url == str(etc.parent / "manifests")
    assert settings.git.ssh_key_file == str(etc / "keys" / "id_ed25519")
    assert settings.atlas.credentials.client_id_file == str(etc / "creds" / "id")
    assert settings.atlas.ca_file == str(etc / "tls" / "ca.pem")
    assert settings.state.dir == str(etc / "state")


def test_profile_credentials_are_read_from_their_files(tmp_path):
    """CredentialFiles.load reads a profile's files, relative to the config file."""
    write(tmp_path / "prod" / "id", "mdb_sa_id_prod\n")
    write(tmp_path / "prod" / "secret", f"{CANARY}\n")
    path = write(
        tmp_path / "gitopsd.toml",
        f"""
        [git]
        url = "{URL}"

        [atlas.profiles.prod]
        client_id_file = "prod/id"
        client_secret_file = "prod/secret"
        """,
    )
    settings = config.load(path, environ={})
    files = settings.atlas.profile("prod")
    assert files is not None
    loaded = files.load(environ={})
    assert isinstance(loaded, credentials.ServiceAccount)
    assert loaded.client_id == "mdb_sa_id_prod"
    assert loaded.client_secret.reveal() == CANARY
    assert CANARY not in repr(settings)
    assert CANARY not in str(settings)
    assert CANARY not in repr(loaded)


def test_default_credentials_fall_back_to_the_environment(tmp_path):
    """[atlas] without *_file keys reads GITOPSD_ATLAS_* through credentials.load."""
    path = write(tmp_path / "gitopsd.toml", f'[git]\nurl = "{URL}"\n')
    environ = {"GITOPSD_ATLAS_PUBLIC_KEY": "pub", "GITOPSD_ATLAS_PRIVATE_KEY": CANARY}
    settings = config.load(path, environ=environ)
    loaded = settings.atlas.credentials.load(environ=environ)
    assert isinstance(loaded, credentials.ApiKey)
    assert loaded.private_key.reveal() == CANARY


def test_a_profile_file_key_naming_no_file_is_named_without_its_value(tmp_path):
    """A secret pasted into a profile's *_file key: the key is named, the value is not shown."""
    path = write(
        tmp_path / "gitopsd.toml",
        f"""
        [git]
        url = "{URL}"
        [atlas.profiles.payments]
        public_key_file = "pub"
        private_key_file = "{CANARY}/x"
        """,
    )
    write(tmp_path / "pub", "public")
    files = config.load(path, environ={}).atlas.profile("payments")
    assert files is not None
    with pytest.raises(ConfigError) as info:
        files.load(environ={}, table="atlas.profiles.payments")
    message = str(info.value)
    assert message.startswith("[atlas.profiles.payments] private_key_file: cannot read ")
    assert f"{tmp_path}/… (" in message
    assert CANARY not in message


def test_a_file_key_naming_an_existing_but_unreadable_path_shows_it(tmp_path):
    """A path that names something (here a directory) is shown whole: it is not a secret."""
    (tmp_path / "tokens").mkdir()
    with pytest.raises(ConfigError) as info:
        credentials.read_secret("git_token", file=str(tmp_path / "tokens"), environ={})
    assert str(info.value).startswith(f"[git] token_file: cannot read {tmp_path}/tokens: ")


def test_a_file_key_with_a_nul_is_refused_in_one_line(tmp_path):
    """A NUL in a *_file value is a ConfigError naming the key, not a ValueError."""
    with pytest.raises(ConfigError, match=r"^\[forge\] token_file: cannot read .*not a usable"):
        credentials.read_secret("forge_token", file=f"{tmp_path}/a\0b", environ={})


def test_a_file_full_of_mistakes_reports_each_with_its_line(tmp_path):
    """Every problem of a real file is reported at once, at its line, secrets hidden."""
    path = write(
        tmp_path / "gitopsd.toml",
        f"""
        # gitopsd
        [git]
        url = "{URL}"
        branch = "main"

        [atlas]
        concurency = 16
        client_secret = "{CANARY}"

        [report]
        branch = "main"
        dir = "../up"
        """,
    )
    with pytest.raises(ConfigError) as info:
        config.load(path, environ={})
    found = str(info.value).splitlines()
    assert [line.split(": ", 2)[:2] for line in found] == [
        [f"{path}:7", "[atlas] concurency"],
        [f"{path}:8", "[atlas] client_secret"],
        [f"{path}:11", "[report] branch"],
        [f"{path}:12", "[report] dir"],
    ]
    assert CANARY not in str(info.value)


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    """A TOML syntax error is a ConfigError at tomllib's line."""
    path = write(tmp_path / "gitopsd.toml", f'[git]\nurl = "{URL}"\n\n[atlas\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:4: invalid TOML: "):
        config.load(path, environ={})


def test_a_missing_file_is_a_config_error(tmp_path):
    """A path that does not exist says so, naming it."""
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        config.load(path, environ={})


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    """Bytes that are not UTF-8 are refused without a traceback."""
    path = tmp_path / "gitopsd.toml"
    path.write_bytes(b'[git]\nurl = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(path, environ={})


def test_messages_name_the_path_as_given(tmp_path, monkeypatch):
    """A relative config path appears in messages as the user typed it."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "gitopsd.toml", "[git]\n")
    with pytest.raises(ConfigError, match=r"^gitopsd\.toml:1: \[git\] url: required"):
        config.load("gitopsd.toml", environ={})


def _plan(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run `gitopsd plan --config PATH`; return its exit code and stderr."""
    code = cli.main(["plan", "--config", str(path)])
    return code, capsys.readouterr().err


def test_an_unquoted_string_is_refused_with_the_quoted_form(tmp_path, capsys):
    """url = https://... without quotes: one line naming [git] url and how to write it."""
    path = write(tmp_path / "gitopsd.toml", f"[git]\nurl = {URL}\n")
    code, err = _plan(path, capsys)
    assert code == 1
    assert err == (
        f'gitopsd: {path}:2: invalid TOML: [git] url: text must be in quotes: url = "{URL}"\n'
    )


def test_an_unquoted_value_that_may_hold_a_token_is_not_shown(tmp_path, capsys):
    """A URL with a user and token, unquoted: the message does not repeat it."""
    path = write(tmp_path / "gitopsd.toml", f"[git]\nurl = https://x:{CANARY}@example.com/r\n")
    code, err = _plan(path, capsys)
    assert code == 1
    assert CANARY not in err
    assert err.endswith(
        '[git] url: text must be in quotes: url = "..." (the value is not shown in case it holds'
        " a token)\n"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "[reconcile]\ndrift_interval_s = 10m\n",
            (
                "[reconcile] drift_interval_s: 10m is not a number: expected a number of seconds"
                " greater than 0, written without quotes or units"
            ),
        ),
        (
            "[reconcile]\nallow_destructive = True\n",
            "[reconcile] allow_destructive: TOML booleans are lower case: allow_destructive = true",
        ),
        (
            "[report]\nbranch = True\n",
            '[report] branch: text must be in quotes: branch = "True"',
        ),
        (
            "[manifests]\nexclude = drafts\n",
            (
                "[manifests] exclude: expected a list of relative paths; write it in brackets, each"
                ' path in quotes: exclude = ["drafts"]'
            ),
        ),
    ],
)
def test_a_value_toml_cannot_read_says_how_to_write_it(tmp_path, capsys, text, problem):
    """A number with a unit, True for a flag or a name, a bare list: what the key's type needs."""
    path = write(tmp_path / "gitopsd.toml", f'[git]\nurl = "{URL}"\n' + text)
    code, err = _plan(path, capsys)
    assert code == 1
    assert err == f"gitopsd: {path}:4: invalid TOML: {problem}\n"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (
            '[atlas.profiles.a]\nclient_id_file = "a"\n[atlas.profiles.a]\n',
            5,
            (
                "[atlas.profiles.a] is written twice (first at line 3): put all its keys under one"
                " [atlas.profiles.a] header"
            ),
        ),
        (
            '[atlas]\nprofiles = {a = {client_id_file = "a"}}\n[atlas.profiles.b]\n',
            5,
            (
                "[atlas.profiles] was written whole (as an inline table) at line 4 and cannot be"
                " added to here: write all its keys in one place"
            ),
        ),
        (
            "[reconcile.x]\ny = 1\n[reconcile]\nx.z = 1\n",
            6,
            (
                "[reconcile.x] z: [reconcile.x] is already a table (line 3); write this key under"
                " its [reconcile.x] header"
            ),
        ),
    ],
)
def test_a_table_in_a_syntax_error_is_named_as_toml(tmp_path, capsys, text, line, problem):
    """Tables and keys written twice read as [section] names, never as Python tuples."""
    path = write(tmp_path / "gitopsd.toml", f'[git]\nurl = "{URL}"\n' + text)
    code, err = _plan(path, capsys)
    assert code == 1
    assert err == f"gitopsd: {path}:{line}: invalid TOML: {problem}\n"


def test_an_unusable_ca_file_stops_a_command_with_one_line(world, monkeypatch, tmp_path):
    """[atlas] ca_file naming no file: `gitopsd plan` says so in one line, before any request."""
    world.write(
        "a.yaml", docs(project(atlas_name=PROJECT_NAME), policy(), schedule(), deployment())
    )
    world.config()
    missing = tmp_path / "missing.pem"
    monkeypatch.setenv("GITOPSD_ATLAS_CA_FILE", str(missing))
    run = world.run("plan")
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        f"gitopsd: [atlas] ca_file: cannot read {missing}: no such file or directory; fix the"
        ' path, or set it to "" for the default CAs\n'
    )
    assert world.requests() == []
