"""How git meets credentials: what the environment carries, and what scrubbing removes."""

from __future__ import annotations

import base64

import pytest

from gitopsd.adapters.git_access import Access, scrub
from gitopsd.credentials import Secret

TOKEN = "ghp_UnitT0kenValue_93c1"  # noqa: S105 (a test token, distinctive on purpose)


def header_keys(env: dict[str, str]) -> dict[str, str]:
    """The GIT_CONFIG_* pairs of an environment, as key -> value."""
    count = int(env["GIT_CONFIG_COUNT"])
    return {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(count)}


def test_token_is_an_auth_header_scoped_to_the_origin():
    """Over HTTPS the token is a Basic header for that origin only, set through GIT_CONFIG_*."""
    access = Access(url="https://git.example.com:8443/acme/backups.git", token=Secret(TOKEN))
    pairs = header_keys(access.environment())
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert (
        pairs["http.https://git.example.com:8443/.extraHeader"] == f"Authorization: Basic {basic}"
    )
    assert pairs["credential.helper"] == ""


@pytest.mark.parametrize(
    "url",
    ["http://git.example.com/acme.git", "ssh://git@example.com/acme.git", "/srv/git/acme.git"],
)
def test_token_is_never_sent_unencrypted_or_off_https(url: str):
    """Plain HTTP (off loopback), SSH and local URLs never get the token header."""
    env = Access(url=url, token=Secret(TOKEN)).environment()
    assert not any(TOKEN in v or "Authorization" in v for v in env.values())


def test_git_never_prompts_and_reads_no_outside_config():
    """Prompts, askpass and the system/user configurations are all switched off."""
    env = Access(url="https://example.com/a.git").environment()
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert (env["GIT_ASKPASS"], env["SSH_ASKPASS"]) == ("", "")
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null"


def test_ssh_command_pins_the_key_and_the_known_hosts():
    """The SSH command uses only the given key and refuses unknown host keys; paths are quoted."""
    access = Access(
        url="git@example.com:acme.git",
        ssh_key_file="/run/creds/git ssh key",
        known_hosts_file="/etc/gitopsd/known hosts",
    )
    command = access.environment()["GIT_SSH_COMMAND"]
    assert "-o BatchMode=yes -o StrictHostKeyChecking=yes" in command
    assert "-i '/run/creds/git ssh key' -o IdentitiesOnly=yes" in command
    assert """'UserKnownHostsFile="/etc/gitopsd/known hosts"'""" in command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fatal: https://ada:pa55@host/r.git failed", "fatal: https://***@host/r.git failed"),
        ("ssh://git@host/r.git", "ssh://***@host/r.git"),
        ("no url here", "no url here"),
    ],
)
def test_scrub_removes_url_credentials(text: str, expected: str):
    """user:password@ in any URL of a text becomes ***@."""
    assert scrub(text) == expected


def test_scrub_removes_every_form_of_the_token():
    """The token and its Basic header value are replaced wherever they appear."""
    access = Access(url="https://host/r.git", token=Secret(TOKEN))
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    said = access.scrub(f"server echoed {TOKEN} and Basic {basic}")
    assert said == "server echoed *** and Basic ***"
    assert TOKEN not in repr(access)
