"""The configuration text: types, ranges, hints, lines, secrets, overrides and paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitopsd import config
from gitopsd.core.backoff import RetryPolicy
from gitopsd.core.model import Mode
from gitopsd.errors import ConfigError

PATH = Path("/etc/gitopsd/gitopsd.toml")
URL = "https://github.com/acme/atlas-backups.git"
GIT = f'[git]\nurl = "{URL}"\n'
CANARY = "s3cr3t-Value-42"


def parse(text: str, environ: dict[str, str] | None = None) -> config.Settings:
    """Settings of a dedented text as if read from PATH, with only ``environ`` set."""
    return config.parse(textwrap.dedent(text), path=PATH, environ=environ or {})


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    """The lines of the ConfigError that ``text`` must raise."""
    with pytest.raises(ConfigError) as info:
        parse(text, environ)
    return str(info.value).splitlines()


def problem(text: str, environ: dict[str, str] | None = None) -> str:
    """The one problem of ``text``."""
    (only,) = problems(text, environ)
    return only


def test_a_file_with_only_the_url_takes_every_default():
    """[git] url alone is a complete configuration."""
    settings = parse(GIT)
    assert settings.path == PATH
    assert settings.git == config.GitSettings(url=URL)
    assert settings.atlas == config.AtlasSettings()
    assert settings.manifests == config.ManifestSettings()
    assert settings.reconcile == config.ReconcileSettings()
    assert settings.report == config.ReportSettings()
    assert settings.server == config.ServerSettings()
    assert settings.state == config.StateSettings()


def test_git_url_is_required():
    """Without [git] url there is nothing to watch; the message shows how to set it."""
    message = problem("[atlas]\nconcurrency = 4\n")
    assert message.startswith("/etc/gitopsd/gitopsd.toml: [git] url: required")
    assert "GITOPSD_GIT_URL" in message


def test_a_missing_url_is_placed_at_the_git_header():
    """When [git] is written without url, the message points at the header."""
    assert problem('\n[git]\nbranch = "main"\n').startswith(f"{PATH}:2: [git] url: required")


def test_unknown_key_suggests_the_nearest():
    """A misspelt key gets a did-you-mean hint."""
    message = problem(GIT + "[atlas]\nconcurency = 4\n")
    assert message == f"{PATH}:4: [atlas] concurency: unknown key; did you mean 'concurrency'?"


def test_unknown_section_suggests_the_nearest():
    """A misspelt section gets a did-you-mean hint."""
    assert (
        problem(GIT + "[atlass]\n") == f"{PATH}:3: [atlass]: unknown section; did you mean 'atlas'?"
    )


def test_unknown_section_lists_the_sections():
    """A section unlike any other lists the ones there are."""
    message = problem(GIT + "[webhooks]\nsecret_file = 'x'\n")
    assert message.endswith(
        "unknown section; expected one of: git, atlas, manifests, reconcile, report, server,"
        " state, forge"
    )


def test_a_key_in_the_wrong_section_names_its_section():
    """A real key under another header says where it belongs."""
    assert problem(GIT + "concurrency = 4\n").endswith("it belongs in [atlas]")


def test_a_key_outside_any_section_names_its_section():
    """A key above every header says which section takes it."""
    message, missing = problems(f'url = "{URL}"\n')
    assert missing.startswith(f"{PATH}: [git] url: required")
    assert message.startswith(f"{PATH}:1: url: a key outside any section; move it under [git]")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[atlas]\nconcurrency = "eight"', 'expected a whole number from 1 to 64, got "eight"'),
        ("[atlas]\nconcurrency = true", "expected a whole number from 1 to 64, got true"),
        ("[atlas]\nconcurrency = 8.5", "expected a whole number from 1 to 64, got 8.5"),
        ('[atlas]\nconcurrency = "8"', 'got "8" (write it without quotes)'),
        ("[atlas]\ntimeout_s = nan", "expected a number of seconds greater than 0, got nan"),
        ('poll_interval_s = "60s"', 'expected a number of seconds greater than 0, got "60s"'),
        ("branch = 5", 'expected a branch name, got 5 (write it in "quotes")'),
        ('[reconcile]\nallow_destructive = "yes"', 'expected true or false, got "yes"\n'),
        ('[reconcile]\nallow_destructive = "true"', 'got "true" (write it without quotes)'),
        ("[reconcile]\nallow_destructive = 1", "expected true or false, got 1\n"),
        ('[manifests]\nexclude = "drafts"', 'expected a list of relative paths, got "drafts"\n'),
        ("[manifests]\nexclude = [1]", "expected a list of relative paths, got [1]"),
        ("[server]\nlisten = 9187", 'expected HOST:PORT, e.g. "127.0.0.1:9187", got 9187'),
        ("[state]\ndir = []", "expected a directory, got []"),
    ],
)
def test_wrong_types_are_refused(text, expected):
    """A value of the wrong TOML type names what the key takes and what was written."""
    message = problem(GIT + text + "\n")
    assert message.startswith(f"{PATH}:")
    assert expected in message + "\n"


def test_a_whole_number_is_accepted_for_seconds():
    """An int in a float key becomes a float."""
    settings = parse(GIT + "[atlas]\ntimeout_s = 5\n")
    assert settings.atlas.timeout_s == 5.0
    assert isinstance(settings.atlas.timeout_s, float)


def test_mode_is_an_enum():
    """mode becomes Mode.OBSERVE, compared with is."""
    assert parse(GIT + '[reconcile]\nmode = "observe"\n').reconcile.mode is Mode.OBSERVE


@pytest.mark.parametrize(
    ("value", "hint"),
    [("Enforce", "; did you mean 'enforce'?"), ("dry-run", "")],
)
def test_bad_mode_is_refused_with_a_hint(value, hint):
    """mode is enforce or observe, with a hint for a near miss."""
    message = problem(GIT + f'[reconcile]\nmode = "{value}"\n')
    assert message == (
        f'{PATH}:4: [reconcile] mode: expected "enforce" or "observe", got "{value}"{hint}'
    )


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("atlas", "concurrency", "0", "expected a whole number from 1 to 64, got 0"),
        ("atlas", "concurrency", "65", "expected a whole number from 1 to 64, got 65"),
        ("atlas", "max_attempts", "0", "expected a whole number of at least 1, got 0"),
        ("atlas", "timeout_s", "0", "expected a number of seconds greater than 0, got 0.0"),
        ("atlas", "deadline_s", "-1.5", "expected a number of seconds greater than 0, got -1.5"),
        ("manifests", "max_file_bytes", "0", "expected a whole number of bytes, at least 1, got 0"),
        (
            "reconcile",
            "drift_interval_s",
            "-9",
            "expected a number of seconds greater than 0, got -9.0",
        ),
    ],
)
def test_out_of_range_numbers_are_refused(section, key, value, expected):
    """Numbers outside their range name the range and the value, at the key's line."""
    message = problem(GIT + f"[{section}]\n{key} = {value}\n")
    assert message == f"{PATH}:4: [{section}] {key}: {expected}"


@pytest.mark.parametrize("value", ["1", "64"])
def test_concurrency_bounds_are_inclusive(value):
    """1 and 64 are both accepted."""
    assert parse(GIT + f"[atlas]\nconcurrency = {value}\n").atlas.concurrency == int(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9187", 'expected HOST:PORT, e.g. "127.0.0.1:9187", got "9187"'),
        (":9187", 'expected HOST:PORT, e.g. "127.0.0.1:9187", got ":9187"'),
        ("::1:9187", 'write an IPv6 address in brackets, e.g. "[::1]:9187"'),
        ("[::g]:9187", '"[::g]" is not an IPv6 address'),
        ("127.0.0.1:65536", 'the port "65536" is not a whole number from 0 to 65535'),
        ("127.0.0.1:http", 'the port "http" is not a whole number from 0 to 65535'),
        ("999.1.1.1:80", '"999.1.1.1" is not a host name or an IP address'),
        ("my host:80", '"my host" is not a host name or an IP address'),
    ],
)
def test_bad_listen_addresses_are_refused(value, expected):
    """listen is HOST:PORT with a port from 0 to 65535 and IPv6 in brackets."""
    assert problem(GIT + f'[server]\nlisten = "{value}"\n') == (
        f"{PATH}:4: [server] listen: {expected}"
    )


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("[::1]:9187", ("::1", 9187)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),  # noqa: S104 - a value under test, nothing binds it
        ("localhost:65535", ("localhost", 65535)),
    ],
)
def test_good_listen_addresses_split_into_host_and_port(value, address):
    """ServerSettings.address gives the host without brackets and the port as a number."""
    assert parse(GIT + f'[server]\nlisten = "{value}"\n').server.address() == address


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("feature branch", "it contains ' '"),
        ("a..b", "it contains '..' or '//'"),
        ("-x", "it starts with '-'"),
        ("x/", "it starts or ends with '/'"),
        ("x.lock", "a part ends with '.lock'"),
        ("a~1", "it contains '~'"),
        ("a^", "it contains '^'"),
        ("a:b", "it contains ':'"),
        ("a?", "it contains '?'"),
        ("a*", "it contains '*'"),
        ("a[1", "it contains '['"),
        ("a\\\\b", "it contains '\\\\'"),
        ("", "it is empty"),
        (".hidden", "a part starts with '.'"),
        ("HEAD", "git reserves '@', '@{' and 'HEAD'"),
    ],
)
def test_bad_branch_names_are_refused(value, reason):
    """Branch names follow git check-ref-format, with the reason given."""
    message = problem(f'[git]\nurl = "{URL}"\nbranch = "{value}"\n')
    assert message.startswith(f"{PATH}:3: [git] branch: ")
    assert message.endswith(f"is not a valid branch name: {reason}")


def test_report_branch_must_differ_from_the_watched_branch():
    """gitopsd never pushes to the watched branch, so the two must differ."""
    message = problem(GIT + 'branch = "main"\n[report]\nbranch = "main"\n')
    assert message.startswith(f'{PATH}:5: [report] branch: must differ from [git] branch ("main")')
    assert "never pushes to the watched branch" in message


def test_watching_the_default_report_branch_is_refused_at_the_git_branch():
    """With [report] branch left out, the clash is placed at [git] branch."""
    message = problem(GIT + 'branch = "gitopsd/drift"\n')
    assert message.startswith(f"{PATH}:3: [git] branch: must differ from [report] branch")


@pytest.mark.parametrize(
    ("section", "key", "where"),
    [
        ("atlas", "client_secret", "client_secret_file"),
        ("atlas", "private_key", "private_key_file"),
        ("git", "token", "token_file"),
        ("git", "password", "token_file or ssh_key_file"),
        ("git", "ssh_key", "ssh_key_file"),
        ("atlas", "api_token", "client_id_file"),
        ("atlas.profiles.prod", "client_secret", "client_secret_file"),
        ("server", "webhook_secret", "webhook_secret_file"),
    ],
)
def test_inline_secrets_are_refused_without_showing_them(section, key, where):
    """A secret written inline is an error that says where it goes and never echoes it."""
    header = "" if section == "git" else f"[{section}]\n"
    text = GIT + header + f'{key} = "{CANARY}"\n'
    if section.startswith("atlas.profiles"):
        text += 'client_id_file = "id"\nclient_secret_file = "key"\n'
    message = problem(text)
    assert CANARY not in message
    line = 3 if section == "git" else 4
    assert message.startswith(f"{PATH}:{line}: [{section}] {key}: secrets are never written")
    assert where in message


def test_an_inline_atlas_secret_names_the_directory_and_the_variable():
    """An inline Atlas secret points at all three places a secret may come from."""
    message = problem(GIT + f'[atlas]\nclient_secret = "{CANARY}"\n')
    assert "$CREDENTIALS_DIRECTORY/atlas_client_secret" in message
    assert "GITOPSD_ATLAS_CLIENT_SECRET" in message


@pytest.mark.parametrize("key", ["client_id", "public_key"])
def test_inline_atlas_ids_point_to_files_or_the_environment(key):
    """Ids are not secret, but they too come from a file or the environment."""
    message = problem(GIT + f'[atlas]\n{key} = "an-id"\n')
    assert "Atlas credentials are read from files or the environment" in message
    assert f"GITOPSD_ATLAS_{key.upper()}" in message
    assert "an-id" not in message


def test_a_secret_above_every_section_is_refused_without_showing_it():
    """An inline secret outside any section is still a secret."""
    message = problem(f'token = "{CANARY}"\n' + GIT)
    assert message.startswith(f"{PATH}:1: token: secrets are never written")
    assert CANARY not in message


def test_a_secret_in_the_git_url_is_refused_without_showing_it():
    """A token inside the URL would be printed and logged; refuse it and hide it."""
    message = problem(f'[git]\nurl = "https://x-access-token:{CANARY}@github.com/acme/b.git"\n')
    assert message.startswith(f"{PATH}:2: [git] url: holds a password or token (not shown)")
    assert CANARY not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://github.com/acme/b.git", "unsupported scheme http://"),
        ("git://github.com/acme/b.git", "unsupported scheme git://"),
        ("https:///acme/b.git", "names no host"),
        ("", 'expected a repository URL or a local directory, got ""'),
    ],
)
def test_unusable_git_urls_are_refused(url, expected):
    """Only https://, ssh://, file://, scp-like addresses and local paths are taken."""
    assert expected in problem(f'[git]\nurl = "{url}"\n')


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        (URL, URL),
        ("ssh://git@github.com/acme/b.git", "ssh://git@github.com/acme/b.git"),
        ("git@github.com:acme/b.git", "git@github.com:acme/b.git"),
        ("file:///srv/git/b.git", "file:///srv/git/b.git"),
        ("file://backups", "file://backups"),
        ("../manifests", "/etc/manifests"),
        ("./repo", "/etc/gitopsd/repo"),
        ("/srv/git/b", "/srv/git/b"),
    ],
)
def test_local_git_urls_are_resolved_and_remote_ones_kept(url, stored):
    """A local path is made absolute against the file's directory; URLs stay as written."""
    assert parse(f'[git]\nurl = "{url}"\n').git.url == stored


def test_relative_files_and_state_are_resolved_against_the_config_directory():
    """Every *_file key and [state] dir is made absolute; "" stays "" (not set)."""
    settings = parse(
        GIT
        + 'token_file = "secrets/token"\nknown_hosts_file = "/etc/ssh/known_hosts"\n'
        + '[atlas]\nclient_id_file = "id"\nprivate_key_file = "../key"\n'
        + '[state]\ndir = "state"\n'
    )
    assert settings.git.token_file == "/etc/gitopsd/secrets/token"  # noqa: S105 - a path
    assert settings.git.known_hosts_file == "/etc/ssh/known_hosts"
    assert settings.git.ssh_key_file == ""
    assert settings.atlas.credentials == config.CredentialFiles(
        client_id_file="/etc/gitopsd/id", private_key_file="/etc/key"
    )
    assert settings.state.dir == "/etc/gitopsd/state"


def test_a_file_key_problem_never_shows_its_value():
    """A *_file value that is refused is not echoed: it may be a secret pasted there."""
    message = problem(GIT + f'token_file = "~{CANARY}"\n')
    assert message.startswith(f"{PATH}:3: [git] token_file:")
    assert CANARY not in message


def test_home_directory_shorthand_is_refused():
    """Nothing would expand ~, so it is an error instead of a surprising path."""
    message = problem(GIT + 'ssh_key_file = "~/.ssh/id_ed25519"\n')
    assert message.startswith(f"{PATH}:3: [git] ssh_key_file:")
    assert "'~', which is not expanded" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'path = "../elsewhere"',
            "[git] path: \"../elsewhere\" leaves the repository through '..'",
        ),
        ('path = "/srv/manifests"', '[git] path: "/srv/manifests" is absolute'),
        ('[report]\ndir = "a/../../x"', '[report] dir: "a/../../x" leaves the report branch'),
        ('[report]\ndir = "/tmp/x"', '[report] dir: "/tmp/x" is absolute'),
        ('[manifests]\nexclude = ["ok", "../b"]', '[manifests] exclude: "../b" leaves'),
    ],
)
def test_paths_may_not_escape_their_directory(text, expected):
    """Repository paths stay inside the repository; '..' may not climb out."""
    assert expected in problem(GIT + text + "\n")


def test_paths_that_climb_back_inside_are_accepted():
    """'a/../b' stays inside and is kept as written."""
    settings = parse(GIT + 'path = "a/../b"\n[manifests]\nexclude = ["./drafts/"]\n')
    assert settings.git.path == "a/../b"
    assert settings.manifests.exclude == ("./drafts/",)


def test_default_namespace_must_be_a_label():
    """default_namespace is a DNS-1123 label, like a Kubernetes namespace."""
    message = problem(GIT + '[reconcile]\ndefault_namespace = "Team_A"\n')
    assert message.startswith(
        f'{PATH}:4: [reconcile] default_namespace: "Team_A" is not a DNS-1123'
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("http://127.0.0.1:8089", True),
        ("http://localhost:8089/", True),
        ("https://cloud.mongodb.com", True),
        ("http://cloud.mongodb.com", False),
        ("ftp://cloud.mongodb.com", False),
        ("https://cloud.mongodb.com/?x=1", False),
    ],
)
def test_base_url_is_https_or_loopback_http(value, ok):
    """Plain http:// is accepted only on loopback, for the emulator."""
    text = GIT + f'[atlas]\nbase_url = "{value}"\n'
    if ok:
        assert parse(text).atlas.base_url == value
    else:
        assert problem(text).startswith(f"{PATH}:4: [atlas] base_url: ")


def test_a_password_in_base_url_is_not_shown():
    """Credentials in base_url are refused and not echoed."""
    message = problem(GIT + f'[atlas]\nbase_url = "https://u:{CANARY}@cloud.mongodb.com"\n')
    assert CANARY not in message
    assert "not shown" in message


def test_all_problems_are_reported_at_once_in_file_order():
    """One ConfigError lists every problem, a line each, sorted by line; env ones last."""
    text = """\
        [reconcile]
        mode = "watch"

        [git]
        url = "https://github.com/acme/atlas-backups.git"
        branch = "a b"

        [atlas]
        concurrency = 0
        concurency = 3
        """
    found = problems(text, {"GITOPSD_SERVER_LISTEN": "nowhere"})
    assert [line.split(": ", 2)[:2] for line in found] == [
        [f"{PATH}:2", "[reconcile] mode"],
        [f"{PATH}:6", "[git] branch"],
        [f"{PATH}:9", "[atlas] concurrency"],
        [f"{PATH}:10", "[atlas] concurency"],
        [str(PATH), "[server] listen from GITOPSD_SERVER_LISTEN"],
    ]


def test_lines_are_found_for_dotted_keys_and_inline_tables():
    """Keys written as dotted keys or in inline tables are placed on their line."""
    found = problems('atlas.concurrency = 0\nserver = { listen = "x" }\n' + GIT)
    assert found[0].startswith(f"{PATH}:1: [atlas] concurrency:")
    assert found[1].startswith(f"{PATH}:2: [server] listen:")


def test_lines_skip_multi_line_strings():
    """A line inside a multi-line string that looks like a key is not mistaken for one."""
    text = 'notes = """\nconcurrency = 1\n"""\n' + GIT + "[atlas]\nconcurrency = 0\n"
    found = problems(text)
    assert found[0].startswith(f"{PATH}:1: notes:")
    assert found[1].startswith(f"{PATH}:7: [atlas] concurrency:")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[git]\nurl = "x"\nbranch = main\n',
            f'{PATH}:3: invalid TOML: [git] branch: text must be in quotes: branch = "main"',
        ),
        (
            '[git]\nurl = "x"\nurl = "y"\n',
            f"{PATH}:3: invalid TOML: [git] url is set twice (first at line 2): keep one",
        ),
        (
            '[git]\nurl = "x"\n\n[git]\n',
            (
                f"{PATH}:4: invalid TOML: [git] is written twice (first at line 1): put all its"
                " keys under one [git] header"
            ),
        ),
    ],
)
def test_toml_syntax_errors_carry_their_line(text, expected):
    """tomllib's position becomes file:line; a repeated key is found by scanning."""
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert str(info.value).startswith(expected)


def test_a_syntax_error_does_not_show_an_unquoted_secret():
    """An unquoted secret is a syntax error whose message does not repeat it."""
    with pytest.raises(ConfigError) as info:
        parse(GIT + f"[atlas]\nclient_secret = {CANARY}\n")
    assert CANARY not in str(info.value)


def test_environment_overrides_win_over_the_file():
    """GITOPSD_<SECTION>_<KEY> replaces the file's value, converted to the key's type."""
    settings = parse(
        GIT + "[atlas]\nconcurrency = 4\n",
        {
            "GITOPSD_ATLAS_CONCURRENCY": "16",
            "GITOPSD_ATLAS_TIMEOUT_S": "2.5",
            "GITOPSD_RECONCILE_MODE": "observe",
            "GITOPSD_RECONCILE_ALLOW_DESTRUCTIVE": "yes",
            "GITOPSD_MANIFESTS_EXCLUDE": "drafts, old/ ,",
            "GITOPSD_GIT_URL": "git@github.com:acme/other.git",
        },
    )
    assert settings.atlas.concurrency == 16
    assert settings.atlas.timeout_s == 2.5
    assert settings.reconcile.mode is Mode.OBSERVE
    assert settings.reconcile.allow_destructive is True
    assert settings.manifests.exclude == ("drafts", "old/")
    assert settings.git.url == "git@github.com:acme/other.git"


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("YES", True), ("0", False), ("no", False)]
)
def test_environment_booleans(value, expected):
    """Booleans from the environment are true/false/1/0/yes/no."""
    settings = parse(GIT, {"GITOPSD_RECONCILE_ALLOW_DESTRUCTIVE": value})
    assert settings.reconcile.allow_destructive is expected


def test_an_empty_environment_list_clears_the_file_list():
    """GITOPSD_MANIFESTS_EXCLUDE= empties the list."""
    text = GIT + '[manifests]\nexclude = ["a"]\n'
    assert parse(text, {"GITOPSD_MANIFESTS_EXCLUDE": ""}).manifests.exclude == ()


def test_the_environment_provides_a_missing_url():
    """GITOPSD_GIT_URL alone is enough."""
    assert parse("", {"GITOPSD_GIT_URL": URL}).git.url == URL


def test_an_environment_value_replaces_a_bad_file_value():
    """The environment wins, so the file's value is not checked."""
    assert parse(GIT + '[atlas]\nconcurrency = "x"\n', {"GITOPSD_ATLAS_CONCURRENCY": "2"})


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("GITOPSD_ATLAS_CONCURRENCY", "eight", 'expected a whole number from 1 to 64, got "eight"'),
        ("GITOPSD_ATLAS_CONCURRENCY", "99", "expected a whole number from 1 to 64, got 99"),
        ("GITOPSD_RECONCILE_ALLOW_DESTRUCTIVE", "maybe", 'expected true or false, got "maybe"'),
        ("GITOPSD_RECONCILE_MODE", "observer", "did you mean 'observe'?"),
        ("GITOPSD_GIT_POLL_INTERVAL_S", "1m", 'got "1m"'),
        ("GITOPSD_REPORT_BRANCH", "main", "must differ from [git] branch"),
    ],
)
def test_a_bad_environment_value_names_the_variable(var, value, expected):
    """An override's problem names the variable, with no line of the file."""
    message = problem(GIT, {var: value})
    assert message.startswith(f"{PATH}: [")
    assert f" from {var}: " in message
    assert message.endswith(expected) or expected in message


def test_credential_variables_are_not_config_keys():
    """GITOPSD_ATLAS_CLIENT_ID and friends are credential values, not overrides or errors."""
    environ = {
        "GITOPSD_ATLAS_CLIENT_ID": "id",
        "GITOPSD_ATLAS_CLIENT_SECRET": CANARY,
        "GITOPSD_ATLAS_PUBLIC_KEY": "pub",
        "GITOPSD_ATLAS_PRIVATE_KEY": CANARY,
    }
    settings = parse(GIT, environ)
    assert settings.atlas.credentials == config.CredentialFiles()
    assert CANARY not in repr(settings)


def test_unknown_gitopsd_variables_are_ignored():
    """Other GITOPSD_* variables (a typo, a profile) are neither keys nor errors."""
    environ = {
        "GITOPSD_ATLAS_CONCURENCY": "2",
        "GITOPSD_FORGE_KINDS": "github",
        "GITOPSD_ATLAS_PROFILES": "x",
        "GITOPSD_ATLAS_PROFILES_PROD_CLIENT_ID_FILE": "/id",
    }
    settings = parse(GIT, environ)
    assert settings.atlas == config.AtlasSettings()


def test_a_relative_path_from_the_environment_is_resolved_too():
    """An override is resolved against the config file's directory, like the file's value."""
    settings = parse(GIT, {"GITOPSD_ATLAS_CLIENT_SECRET_FILE": "secret"})
    assert settings.atlas.credentials.client_secret_file == "/etc/gitopsd/secret"  # noqa: S105


PROFILES = """\
    [git]
    url = "https://github.com/acme/atlas-backups.git"

    [atlas.profiles.team-b]
    public_key_file = "b/public"
    private_key_file = "/run/credentials/gitopsd.service/b_private"

    [atlas.profiles.team-a]
    client_id_file = "a/id"
    client_secret_file = "a/secret"
    """


def test_profiles_are_sorted_and_resolved():
    """[atlas.profiles.NAME] become CredentialFiles, sorted by name, paths absolute."""
    atlas = parse(PROFILES).atlas
    assert [name for name, _ in atlas.profiles] == ["team-a", "team-b"]
    assert atlas.profile("team-a") == config.CredentialFiles(
        client_id_file="/etc/gitopsd/a/id",
        client_secret_file="/etc/gitopsd/a/secret",  # noqa: S106 - a path, not a secret
    )
    assert atlas.profile("team-b") == config.CredentialFiles(
        public_key_file="/etc/gitopsd/b/public",
        private_key_file="/run/credentials/gitopsd.service/b_private",
    )
    assert atlas.profile("team-c") is None
    assert atlas.credentials == config.CredentialFiles()


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('[atlas.profiles.Team_A]\nclient_id_file = "i"', 'the profile name "Team_A" is not'),
        ('[atlas.profiles.a]\nclient_id_file = "i"', "names no client_secret_file"),
        ("[atlas.profiles.a]", "names no credential files"),
        (
            '[atlas.profiles.a]\nclient_id_fil = "i"',
            "[atlas.profiles.a] client_id_fil: unknown key; did you mean 'client_id_file'?",
        ),
        ("[atlas]\nprofiles = 3", "[atlas] profiles: expected tables, one per profile"),
        ("[atlas.profiles]\na = 1", "[atlas.profiles.a]: expected a table of client_id_file"),
        ('[atlas.profiles.a]\nbase_url = "https://x"', "unknown key; expected one of"),
    ],
)
def test_bad_profiles_are_refused(table, expected):
    """A profile has a DNS-1123 name and both files of at least one credential kind."""
    found = problems(GIT + table + "\n")
    assert any(expected in message for message in found), found
    assert all(message.startswith((f"{PATH}:3: [atlas", f"{PATH}:4: [atlas")) for message in found)


def test_half_a_second_kind_in_a_profile_is_refused():
    """A profile may not mix a complete kind with half of the other (it would borrow a secret)."""
    text = PROFILES + 'public_key_file = "a/public"\n'
    assert problem(text) == (
        f"{PATH}:8: [atlas.profiles.team-a]: names no private_key_file: a profile needs"
        " client_id_file and client_secret_file (service account) or public_key_file and"
        " private_key_file (API key)"
    )


def test_retry_policy_comes_from_the_atlas_section():
    """max_attempts and deadline_s make the RetryPolicy; the rest keeps its defaults."""
    atlas = parse(GIT + "[atlas]\nmax_attempts = 3\ndeadline_s = 10\n").atlas
    assert atlas.retry_policy() == RetryPolicy(max_attempts=3, deadline_s=10.0)


def test_load_options_carry_the_manifest_settings():
    """max_file_bytes and exclude go to LoadOptions; a root prefixes the excludes."""
    manifests = parse(GIT + '[manifests]\nmax_file_bytes = 10\nexclude = ["drafts"]\n').manifests
    assert manifests.load_options().max_file_bytes == 10
    assert manifests.load_options().exclude == ("drafts",)
    assert manifests.load_options(root="/repo/m").exclude == ("/repo/m/drafts",)


def test_an_invalid_watched_branch_is_not_also_compared():
    """A bad [git] branch is reported once, not again as equal to [report] branch."""
    message = problem(GIT + 'branch = "a b"\n[report]\nbranch = "main"\n')
    assert message.startswith(f"{PATH}:3: [git] branch:")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[git]\nurl = "x"\nurl = "y"',
            f"{PATH}:3: invalid TOML: [git] url is set twice (first at line 2): keep one",
        ),
        (
            '[git]\nurl = "x',
            (
                f"{PATH}: invalid TOML: a string is not closed at the end of the file: add its"
                " closing quote"
            ),
        ),
    ],
)
def test_errors_tomllib_places_at_the_end_of_the_document(text, expected):
    """Without a trailing newline tomllib gives no line; a repeated key is still found."""
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert str(info.value).startswith(expected)


def test_a_section_written_as_an_array_of_tables_is_refused():
    """[[git]] is a list of tables, not the [git] table."""
    message, missing = problems(f'[[git]]\nurl = "{URL}"\n')
    assert message == f"{PATH}:1: [git]: expected a table: write [git] above its keys"
    assert "[git] url: required" in missing


def test_a_profile_file_of_the_wrong_type_is_refused():
    """Profile keys are paths, written as strings."""
    assert problem(GIT + "[atlas.profiles.a]\nclient_id_file = 5\n") == (
        f'{PATH}:4: [atlas.profiles.a] client_id_file: expected a file path, or "" for none,'
        ' got a number (write it in "quotes")'
    )


@pytest.mark.parametrize(
    "text",
    [
        f'[git]\nurl = "https://x:{CANARY}@[::g/b.git"\n',
        GIT + f'[atlas]\nbase_url = "https://x:{CANARY}@[::g/"\n',
    ],
)
def test_an_unparsable_url_is_refused_without_showing_it(text):
    """A URL that cannot be split might hold a token, so it is not shown."""
    message = problem(text)
    assert "is not a valid URL" in message
    assert CANARY not in message


def test_forge_is_off_unless_a_kind_is_set():
    """Without [forge] no pull request is managed; a kind takes the service's API by default."""
    assert not parse(GIT).forge.enabled
    settings = parse(GIT + "[forge]\nkind = 'gitlab'\nrepo = 'group/sub/backups'\n")
    assert settings.forge.enabled
    assert settings.forge.url == "https://gitlab.com/api/v4"
    assert settings.forge.repo == "group/sub/backups"


def test_a_forge_kind_needs_a_repository():
    """A kind without a repo names the missing key and shows an example."""
    message = problem(GIT + "[forge]\nkind = 'github'\n")
    assert message.startswith(f"{PATH}:4: [forge] repo: required with [forge] kind")


def test_a_forge_kind_is_one_of_three():
    """A misspelt kind gets a did-you-mean hint."""
    message = problem(GIT + "[forge]\nkind = 'gitub'\nrepo = 'a/b'\n")
    assert message.endswith(
        '[forge] kind: expected "github", "gitlab", "gitea" or "" for none,'
        " got \"gitub\"; did you mean 'github'?"
    )


def test_the_forge_api_url_follows_the_atlas_url_rules():
    """Plain http:// is for loopback only, as for Atlas."""
    message = problem(
        GIT + "[forge]\nkind = 'gitea'\nrepo = 'a/b'\napi_url = 'http://git.example'\n"
    )
    assert "[forge] api_url:" in message
    assert "plain http:// is only for loopback" in message


def test_verifying_signatures_needs_trusted_keys():
    """verify_signatures without a signers file or keys file is refused before anything runs."""
    message = problem("[git]\nurl = '/srv/repo'\nverify_signatures = true\n")
    assert "[git] verify_signatures: is true but no key is trusted" in message
    settings = parse(
        "[git]\nurl = '/srv/repo'\nverify_signatures = true\nallowed_signers_file = 'signers'\n"
    )
    assert settings.git.allowed_signers_file == "/etc/gitopsd/signers"


def test_report_author_email_is_checked():
    """A report author e-mail must look like one."""
    message = problem(GIT + "[report]\nauthor_email = 'gitopsd'\n")
    assert message.endswith(
        '[report] author_email: "gitopsd" is not an e-mail address, e.g. gitopsd@example.com'
    )
