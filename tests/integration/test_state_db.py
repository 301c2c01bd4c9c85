"""The state database on disk: migrations, settled states, publications and the bounded history."""

from __future__ import annotations

import sqlite3

import pytest

from gitopsd.adapters import state_db
from gitopsd.errors import ConfigError


def record(n: int) -> state_db.CycleRecord:
    """The n-th cycle of a made-up history."""
    return state_db.CycleRecord(
        started_at=f"2026-11-24T10:{n:02d}:00+00:00",
        finished_at=f"2026-11-24T10:{n:02d}:05+00:00",
        revision=f"{n:040x}",
        mode="enforce",
        counts={"in-sync": n, "drifted": 1},
        fingerprint=f"sha256:{n:064x}",
    )


def test_a_version_1_database_is_migrated_and_keeps_its_rows(tmp_path):
    """A database written before settled states existed gains the new tables, keeping its data."""
    path = tmp_path / state_db.FILE_NAME
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE fresh_default_schedule"
            " (cluster TEXT PRIMARY KEY, revision TEXT NOT NULL);"
            "INSERT INTO fresh_default_schedule VALUES ('Production/orders-db', 'dir:1');"
            "PRAGMA user_version = 1;"
        )
    db_ = state_db.StateDB(tmp_path)
    assert db_.fresh_defaults() == frozenset({"Production/orders-db"})
    db_.remember_settled([("Production/orders-db", "sha256:a")], "abc", "2026-11-24T10:00:00Z")
    assert db_.settled() == {"Production/orders-db": "sha256:a"}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == state_db.SCHEMA_VERSION


def test_a_newer_database_is_refused_with_advice(tmp_path):
    """A schema from a newer gitopsd is not guessed at: the error says to upgrade."""
    with sqlite3.connect(tmp_path / state_db.FILE_NAME) as db:
        db.execute(f"PRAGMA user_version = {state_db.SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="written by a newer gitopsd"):
        state_db.StateDB(tmp_path).settled()


def test_settled_states_replace_older_ones_per_cluster(tmp_path):
    """The last desired digest Atlas matched wins; other clusters are kept."""
    db = state_db.StateDB(tmp_path)
    assert db.settled() == {}
    db.remember_settled([("p/a", "sha256:1"), ("p/b", "sha256:2")], "r1", "t1")
    db.remember_settled([("p/a", "sha256:3")], "r2", "t2")
    assert db.settled() == {"p/a": "sha256:3", "p/b": "sha256:2"}


def test_reading_never_creates_the_database(tmp_path):
    """A plan on a new machine reads nothing and writes nothing to the state directory."""
    directory = tmp_path / "state"
    db = state_db.StateDB(directory)
    assert db.settled() == {}
    assert db.published("report") is None
    assert db.cycles() == ()
    assert not directory.exists()


def test_publications_are_remembered_per_kind(tmp_path):
    """The report and the pull request each keep their own last fingerprint."""
    db = state_db.StateDB(tmp_path)
    report = state_db.Published(fingerprint="sha256:r", reference="c0ffee", at="t1")
    forge = state_db.Published(fingerprint="sha256:f", reference="https://x/pr/1", at="t2")
    db.remember_published("report", report)
    db.remember_published("forge", forge)
    assert db.published("report") == report
    assert db.published("forge") == forge


def test_the_history_keeps_only_the_newest_cycles(tmp_path):
    """Past ``history`` cycles the oldest are dropped; newest come first."""
    db = state_db.StateDB(tmp_path, history=3)
    for n in range(1, 6):
        db.record_cycle(record(n))
    kept = db.cycles()
    assert [c.revision for c in kept] == [f"{n:040x}" for n in (5, 4, 3)]
    assert kept[0] == record(5)
    assert db.cycles(limit=1) == (record(5),)


def test_an_unwritable_state_directory_names_the_key(tmp_path):
    """A state directory that is a file is a configuration problem naming [state] dir."""
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=r"\[state\] dir: cannot use the state directory"):
        state_db.StateDB(blocker).record_cycle(record(1))


def test_a_corrupt_database_is_kept_aside_and_made_afresh(tmp_path):
    """Not a database: it moves to .corrupt, the owner is told why, and the call goes on."""
    (tmp_path / state_db.FILE_NAME).write_bytes(b"not a database" * 100)
    told: list[state_db.Rebuilt] = []
    db = state_db.StateDB(tmp_path, on_rebuilt=told.append)
    db.record_cycle(record(1))
    assert [r.kept.name for r in told] == [state_db.FILE_NAME + ".corrupt"]
    assert told[0].reason == "file is not a database"
    assert told[0].kept.read_bytes() == b"not a database" * 100
    assert [c.revision for c in db.cycles()] == [record(1).revision]


def test_a_second_corrupt_database_keeps_the_first_one_kept(tmp_path):
    """Each corrupt copy gets its own name: .corrupt, then .corrupt.1."""
    db = state_db.StateDB(tmp_path)
    for _ in range(2):
        (tmp_path / state_db.FILE_NAME).write_bytes(b"not a database" * 100)
        assert db.settled() == {}
    kept = sorted(p.name for p in tmp_path.iterdir() if ".corrupt" in p.name)
    assert kept == [state_db.FILE_NAME + ".corrupt", state_db.FILE_NAME + ".corrupt.1"]
