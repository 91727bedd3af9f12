"""The run store: schema versions, one transaction per item, readers beside a writer."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from workbench.runs.schema import SCHEMA_VERSION, current_version, migrate
from workbench.runs.store import ItemSpec, Outcome, RunStore


def _specs(n: int) -> list[ItemSpec]:
    return [ItemSpec(key=f"k{i:04d}", item_id=f"p{i}", dataset="d", backend="b") for i in range(n)]


def test_fresh_store_is_at_schema_version(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        assert current_version(store.conn) == SCHEMA_VERSION
        mode = store.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode.lower() == "wal"


def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with RunStore(db) as store:
        rid = store.create_run(_specs(3), name="first")
    with RunStore(db) as store:
        # migrate() reports the version it found: already current, nothing re-applied
        assert migrate(store.conn) == SCHEMA_VERSION
        assert store.run(rid)["name"] == "first"
        assert store.progress(rid) == {"pending": 3, "total": 3}
        rows = store.conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0]
        assert rows == 1


def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    RunStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match=r"newer than this workbench.*upgrade"):
        RunStore(db)


def test_record_twice_replaces_rows(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        rid = store.create_run(_specs(2))
        out = Outcome(
            "k0000", "done", 0.1, result={"termination": "optimal", "objective": 1.0},
            attempts=[{"index": 0, "status": "ok"}, {"index": 1, "status": "ok"}],
            llm_calls=[{"attempt": 0, "prompt": [], "response": "x", "prompt_tokens": 3}],
        )  # fmt: skip
        store.mark_running(rid, "k0000")
        store.record(rid, out)
        store.reopen_run(rid)
        store.mark_running(rid, "k0000")
        store.record(rid, out)
        for table, n in (("results", 1), ("attempts", 2), ("llm_calls", 1)):
            got = store.conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE run_id=? AND key='k0000'", (rid,)
            ).fetchone()[0]
            assert got == n, table
        item = store.items(rid)[0]
        assert item["tries"] == 2
        assert item["objective"] == 1.0
        assert store.unfinished(rid) == ["k0001"]
        with pytest.raises(KeyError, match="no item"):
            store.record(rid, Outcome("nope", "done"))


READER = textwrap.dedent(
    """
    import json, sys, time
    from workbench.runs.store import RunStore
    db, rid, n, readonly = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "ro"
    store = RunStore(db, readonly=readonly)
    last, polls, errors, backwards = -1, 0, [], 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            done = store.progress(rid).get("done", 0)
            items = store.items(rid)
            recorded = sum(1 for it in items if it["status"] == "done" and it["termination"])
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
            continue
        polls += 1
        backwards += done < last
        if recorded < done:  # an item marked done must have its result in the same snapshot
            errors.append(f"done={done} but only {recorded} results")
        last = max(last, done)
        if done >= n:
            break
    print(json.dumps({"polls": polls, "errors": errors, "last": last, "backwards": backwards}))
    """
)

WRITER = textwrap.dedent(
    """
    import sys
    from workbench.runs.store import Outcome, RunStore
    db, rid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = RunStore(db)
    for i in range(n):
        key = f"k{i:04d}"
        store.mark_running(rid, key)
        store.record(rid, Outcome(key, "done", 0.01,
            result={"termination": "optimal", "objective": float(i), "log": "x" * 2000},
            attempts=[{"index": 0, "status": "ok"}]))
    print("ok")
    """
)


def test_readers_poll_while_one_writer_records(tmp_path: Path) -> None:
    n = 300
    db = tmp_path / "runs.db"
    with RunStore(db) as store:
        rid = store.create_run(_specs(n))
    py = sys.executable
    readers = [
        subprocess.Popen(
            [py, "-c", READER, str(db), rid, str(n), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for mode in ("ro", "rw")
    ]
    time.sleep(0.3)  # let the readers start polling before the first write
    writer = subprocess.run([py, "-c", WRITER, str(db), rid, str(n)], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert writer.returncode == 0, writer.stderr
    for r in readers:
        stdout, stderr = r.communicate(timeout=120)
        assert r.returncode == 0, stderr
        report = json.loads(stdout)
        assert report["errors"] == []  # no 'database is locked', no torn reads
        assert report["backwards"] == 0
        assert report["last"] == n
        assert report["polls"] > 5
    with RunStore(db, readonly=True) as store:
        assert store.progress(rid) == {"done": n, "total": n}
