"""The run store's versioned schema and its migrations.

Each entry of :data:`MIGRATIONS` moves the database from version ``k`` to
``k + 1``; :func:`migrate` applies the missing ones in one transaction.
"""

from __future__ import annotations

import sqlite3

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "current_version", "migrate"]

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        updated REAL NOT NULL,
        suite TEXT NOT NULL DEFAULT '',
        pipeline TEXT NOT NULL DEFAULT 'solve',
        config TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'running',
        total INTEGER NOT NULL DEFAULT 0,
        host TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE items (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        item_id TEXT NOT NULL,
        dataset TEXT NOT NULL DEFAULT '',
        backend TEXT NOT NULL DEFAULT '',
        agent TEXT NOT NULL DEFAULT '',
        job TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'pending',
        started REAL,
        finished REAL,
        elapsed REAL,
        error TEXT,
        tries INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, key)
    );
    CREATE INDEX items_status ON items(run_id, status);
    CREATE TABLE results (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        termination TEXT,
        objective REAL,
        bound REAL,
        gap REAL,
        backend TEXT,
        reference REAL,
        correct INTEGER,
        rel_error REAL,
        solve_time REAL,
        tokens INTEGER NOT NULL DEFAULT 0,
        score TEXT NOT NULL DEFAULT '{}',
        result TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (run_id, key),
        FOREIGN KEY (run_id, key) REFERENCES items(run_id, key) ON DELETE CASCADE
    );
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        idx INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT '',
        error TEXT,
        feedback TEXT,
        model TEXT,
        code TEXT,
        elapsed REAL,
        created REAL NOT NULL,
        FOREIGN KEY (run_id, key) REFERENCES items(run_id, key) ON DELETE CASCADE
    );
    CREATE INDEX attempts_item ON attempts(run_id, key);
    CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        attempt INTEGER,
        model TEXT,
        prompt TEXT NOT NULL,
        response TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        latency REAL NOT NULL DEFAULT 0,
        cost REAL NOT NULL DEFAULT 0,
        cache_key TEXT,
        created REAL NOT NULL,
        FOREIGN KEY (run_id, key) REFERENCES items(run_id, key) ON DELETE CASCADE
    );
    CREATE INDEX llm_calls_item ON llm_calls(run_id, key);
    CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'text',
        content BLOB,
        created REAL NOT NULL,
        FOREIGN KEY (run_id, key) REFERENCES items(run_id, key) ON DELETE CASCADE
    );
    CREATE INDEX artifacts_item ON artifacts(run_id, key);
    CREATE TABLE llm_cache (
        key TEXT PRIMARY KEY,
        response TEXT NOT NULL,
        created REAL NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the database (0 for an empty one)."""
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if row is None:
        return 0
    got = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(got[0]) if got else 0


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`; return the version found before.

    Raises
    ------
    RuntimeError
        If the database was written by a newer version of the workbench.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = current_version(conn)
        if before > SCHEMA_VERSION:
            raise RuntimeError(
                f"the run store has schema version {before}, newer than this workbench "
                f"({SCHEMA_VERSION}); upgrade the workbench"
            )
        for version in range(before, SCHEMA_VERSION):
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (str(version + 1),),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return before
