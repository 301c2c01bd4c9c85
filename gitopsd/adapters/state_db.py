"""gitopsd's memory between cycles: a SQLite database in the state directory.

Owns ``<state dir>/state.sqlite3`` and its schema, versioned with ``PRAGMA user_version`` and
migrated forward in place. It remembers:

- the clusters whose backup gitopsd turned on, so that the default schedule Atlas created then
  can be replaced later without the destructive-change guard mistaking it for protection
  someone asked for;
- per cluster, the desired state (a digest) and revision gitopsd last saw Atlas match: a change
  found later for the same desired state was made in Atlas, out of band (drift);
- the last report published and the last pull-request sync, so nothing is committed or sent
  twice;
- the corrections a cycle is about to write, until a published report shows them, so a cycle
  killed in between still gets its corrections reported by the next one;
- a bounded history of cycles.

Every write is its own transaction, so a crash never leaves half a record. It must not hold a
connection between calls: each call opens, works and closes, which keeps a long-running daemon
free of leaked handles.

A database SQLite finds corrupt ("file is not a database", "database disk image is
malformed") is moved aside to ``state.sqlite3.corrupt[.N]`` (kept for inspection) and made
afresh: everything in it can be relearned (the next cycles read Atlas again, and a cluster
first met out of sync is reported as pending, never as drift). The owner is told through
``on_rebuilt``; this module does not log. Other SQLite failures (a full disk, a read-only
file) are raised as ``StateError``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitopsd.errors import ConfigError, StateError

FILE_NAME = "state.sqlite3"
CORRUPT_SUFFIX = ".corrupt"
_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
SCHEMA_VERSION = 3
_MIGRATIONS = {
    1: """
CREATE TABLE IF NOT EXISTS fresh_default_schedule (
    cluster TEXT PRIMARY KEY,
    revision TEXT NOT NULL
);
""",
    2: """
CREATE TABLE IF NOT EXISTS settled (
    cluster TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    revision TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS published (
    what TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    reference TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cycle (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    revision TEXT NOT NULL,
    mode TEXT NOT NULL,
    counts TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    error TEXT NOT NULL
);
""",
    3: """
CREATE TABLE IF NOT EXISTS unreported (
    cluster TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
""",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """The last report (``what`` = "report") or pull-request sync ("forge") gitopsd made."""

    fingerprint: str
    reference: str
    at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleRecord:
    """One cycle in the history: when, from which revision, the counts and the report."""

    started_at: str
    finished_at: str
    revision: str
    mode: str
    counts: Mapping[str, int]
    fingerprint: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rebuilt:
    """A corrupt database was moved to ``kept`` and a new one made; ``reason`` is SQLite's."""

    kept: Path
    reason: str


class StateDB:
    """The state database under one directory; created on first write.

    Args:
        directory: ``[state] dir``.
        history: cycles kept in the history (``[state] history``).
        on_rebuilt: told each time a corrupt database was moved aside and made afresh.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        history: int = 1000,
        on_rebuilt: Callable[[Rebuilt], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self.history = history
        self._on_rebuilt = on_rebuilt

    def __repr__(self) -> str:
        return f"StateDB({str(self.directory)!r})"

    @contextlib.contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection | None]:
        if not create and not self.path.exists():
            yield None
            return
        connection = self._open()
        try:
            try:
                with connection:
                    _migrate(connection)
            except sqlite3.DatabaseError as exc:
                if not _corrupt(exc):
                    raise
                connection.close()
                self._set_aside(exc)
                connection = self._open()
                with connection:
                    _migrate(connection)
            with connection:
                yield connection
        except sqlite3.Error as exc:
            if _corrupt(exc):
                connection.close()
                kept = self._set_aside(exc)
                raise StateError(
                    f"the state database {self.path} was found corrupt ({exc}); it was moved"
                    f" to {kept} and is made afresh at its next use"
                ) from None
            raise StateError(
                f"the state database {self.path} cannot be used: {exc}; check that its file"
                " system has space and is writable"
            ) from None
        finally:
            connection.close()

    def _open(self) -> sqlite3.Connection:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            return sqlite3.connect(self.path, timeout=10)
        except (OSError, sqlite3.Error) as exc:
            message = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(
                f"[state] dir: cannot use the state directory {self.directory}: {message};"
                " point [state] dir at a directory gitopsd may write"
            ) from None

    def _set_aside(self, exc: sqlite3.Error) -> Path:
        """Move the corrupt database to the first free ``.corrupt[.N]`` name.

        A journal beside it needs no moving: SQLite, finding it no valid journal of that file,
        has deleted it by then.
        """
        n = 0
        while True:
            kept = self.path.with_name(FILE_NAME + CORRUPT_SUFFIX + (f".{n}" if n else ""))
            if not kept.exists():
                break
            n += 1
        try:
            self.path.replace(kept)
        except OSError as err:
            raise StateError(
                f"the state database {self.path} is corrupt ({exc}) and cannot be moved aside"
                f" ({err.strerror}); move or remove it: gitopsd relearns what it held"
            ) from None
        if self._on_rebuilt is not None:
            self._on_rebuilt(Rebuilt(kept=kept, reason=str(exc)))
        return kept

    def fresh_defaults(self) -> frozenset[str]:
        """Clusters (``ClusterKey`` text) whose schedule is still the default Atlas created."""
        with self._connect(create=False) as db:
            if db is None:
                return frozenset()
            rows = db.execute("SELECT cluster FROM fresh_default_schedule").fetchall()
        return frozenset(str(row[0]) for row in rows)

    def remember_fresh_default(self, cluster: str, revision: str) -> None:
        """Record that gitopsd turned backup on for ``cluster``, so Atlas gave it a default."""
        with self._connect(create=True) as db:
            assert db is not None
            db.execute(
                "INSERT OR REPLACE INTO fresh_default_schedule (cluster, revision) VALUES (?, ?)",
                (cluster, revision),
            )

    def forget_fresh_default(self, cluster: str) -> None:
        """The schedule of ``cluster`` was written (or backup went off): no default any more."""
        with self._connect(create=False) as db:
            if db is not None:
                db.execute("DELETE FROM fresh_default_schedule WHERE cluster = ?", (cluster,))

    def settled(self) -> Mapping[str, str]:
        """Cluster → digest of the desired state gitopsd last saw Atlas match."""
        with self._connect(create=False) as db:
            if db is None:
                return {}
            rows = db.execute("SELECT cluster, digest FROM settled").fetchall()
        return {str(cluster): str(digest) for cluster, digest in rows}

    def remember_settled(self, entries: Iterable[tuple[str, str]], revision: str, at: str) -> None:
        """Record (cluster, desired digest) pairs that Atlas matched at ``revision``."""
        rows = [(cluster, digest, revision, at) for cluster, digest in entries]
        if not rows:
            return
        with self._connect(create=True) as db:
            assert db is not None
            db.executemany(
                "INSERT OR REPLACE INTO settled (cluster, digest, revision, at)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )

    def unreported(self) -> Mapping[str, str]:
        """Cluster → the JSON record of a correction no published report has shown yet."""
        with self._connect(create=False) as db:
            if db is None:
                return {}
            rows = db.execute("SELECT cluster, record FROM unreported").fetchall()
        return {str(cluster): str(record) for cluster, record in rows}

    def remember_unreported(self, entries: Iterable[tuple[str, str]]) -> None:
        """Record (cluster, JSON record) corrections about to be written, in one transaction."""
        rows = list(entries)
        if not rows:
            return
        with self._connect(create=True) as db:
            assert db is not None
            db.executemany(
                "INSERT OR REPLACE INTO unreported (cluster, record) VALUES (?, ?)", rows
            )

    def forget_unreported(self, clusters: Iterable[str] | None = None) -> None:
        """A report showed these corrections (None: every one), or they were never made."""
        with self._connect(create=False) as db:
            if db is None:
                return
            if clusters is None:
                db.execute("DELETE FROM unreported")
            else:
                db.executemany("DELETE FROM unreported WHERE cluster = ?", [(c,) for c in clusters])

    def published(self, what: str) -> Published | None:
        """The last report ("report") or pull-request sync ("forge"), if any."""
        with self._connect(create=False) as db:
            if db is None:
                return None
            row = db.execute(
                "SELECT fingerprint, reference, at FROM published WHERE what = ?", (what,)
            ).fetchone()
        if row is None:
            return None
        return Published(fingerprint=str(row[0]), reference=str(row[1]), at=str(row[2]))

    def remember_published(self, what: str, record: Published) -> None:
        """Record a report published or a pull request synced."""
        with self._connect(create=True) as db:
            assert db is not None
            db.execute(
                "INSERT OR REPLACE INTO published (what, fingerprint, reference, at)"
                " VALUES (?, ?, ?, ?)",
                (what, record.fingerprint, record.reference, record.at),
            )

    def record_cycle(self, record: CycleRecord) -> None:
        """Append a cycle to the history, dropping the oldest beyond ``history``."""
        with self._connect(create=True) as db:
            assert db is not None
            db.execute(
                "INSERT INTO cycle (started_at, finished_at, revision, mode, counts, fingerprint,"
                " error) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.started_at,
                    record.finished_at,
                    record.revision,
                    record.mode,
                    json.dumps(dict(sorted(record.counts.items()))),
                    record.fingerprint,
                    record.error,
                ),
            )
            db.execute(
                "DELETE FROM cycle WHERE id <= (SELECT MAX(id) FROM cycle) - ?", (self.history,)
            )

    def cycles(self, limit: int | None = None) -> tuple[CycleRecord, ...]:
        """The history, newest first."""
        with self._connect(create=False) as db:
            if db is None:
                return ()
            rows = db.execute(
                "SELECT started_at, finished_at, revision, mode, counts, fingerprint, error"
                " FROM cycle ORDER BY id DESC LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return tuple(
            CycleRecord(
                started_at=row[0],
                finished_at=row[1],
                revision=row[2],
                mode=row[3],
                counts=json.loads(row[4]),
                fingerprint=row[5],
                error=row[6],
            )
            for row in rows
        )


def _corrupt(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file is not a database, or a damaged one."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _CORRUPT_CODES


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring the schema up to ``SCHEMA_VERSION``; a newer database than this code is refused."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"[state] dir: the state database was written by a newer gitopsd (schema {version},"
            f" this one knows {SCHEMA_VERSION}); upgrade gitopsd or point [state] dir elsewhere"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        connection.executescript(_MIGRATIONS[step])
        connection.execute(f"PRAGMA user_version = {step}")
