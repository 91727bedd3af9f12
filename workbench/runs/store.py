"""The run store: SQLite in WAL mode, one transaction per finished item.

Readers (the app, ``workbench runs``) open their own connections and never
block the single writer (the batch runner's parent process).  A killed
process loses nothing that was committed, and an item is either recorded
whole or not at all.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.runs.schema import migrate

__all__ = [
    "ItemSpec",
    "Outcome",
    "RunNotFoundError",
    "RunStore",
    "default_store_path",
    "store_is_empty",
]


class RunNotFoundError(WorkbenchError, KeyError):
    """No run with that id in the store (a user error: the CLI exits 2)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "no such run"


def default_store_path() -> Path:
    """``$WORKBENCH_HOME/runs.db``, or ``~/.workbench/runs.db``."""
    home = os.environ.get("WORKBENCH_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".workbench"
    return base / "runs.db"


def store_is_empty(path: str | Path) -> bool:
    """True when *path* holds no runs yet: no file, an empty file, or a database without runs.

    Reads only (never creates the file); a file that is not an SQLite
    database is not "empty" (opening it reports the problem).
    """
    p = Path(path)
    if not p.is_file() or p.stat().st_size == 0:
        return True
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
        ).fetchone()
        if not row[0]:
            return True
        return conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None
    except sqlite3.Error:
        return False
    finally:
        conn.close()


@dataclass
class ItemSpec:
    """One item of a run: a problem run through one pipeline with one backend/agent."""

    key: str
    item_id: str
    dataset: str = ""
    backend: str = ""
    agent: str = ""
    job: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a finished job reports; written to the store in one transaction.

    Attributes
    ----------
    key
        The item key within its run.
    status
        ``done`` (it ran; see the result), ``error`` (an exception),
        ``timeout`` (killed at its wall-clock limit) or ``crashed`` (its
        process died, e.g. a segfault).
    elapsed
        Seconds the job took inside its worker (``None`` when it never reported).
    result
        ``Result.to_dict()`` of the final solve, when there is one.
    score
        Scoring fields: ``reference``, ``correct``, ``rel_error`` and dataset rules.
    attempts, llm_calls, artifacts
        Rows for those tables (dicts with their columns).
    """

    key: str
    status: str
    elapsed: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    score: dict[str, Any] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    llm_calls: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)


def _json(x: Any) -> str:
    return json.dumps(x, default=str, allow_nan=False) if x is not None else "null"


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


class RunStore:
    """Runs, items, attempts, LLM calls, results and artifacts in one SQLite file.

    Parameters
    ----------
    path
        The database file; default :func:`default_store_path`.  ``":memory:"``
        is accepted for tests.
    readonly
        Open for reading only (the app's view); never takes a write lock.
    """

    def __init__(self, path: str | Path | None = None, *, readonly: bool = False) -> None:
        self.path = (
            Path(path)
            if path not in (None, ":memory:")
            else (default_store_path() if path is None else Path(":memory:"))
        )
        self.readonly = readonly
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no run store at {self.path}")
            uri = f"file:{self.path}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None,
                                        check_same_thread=False)  # fmt: skip
        else:
            self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None,
                                        check_same_thread=False)  # fmt: skip
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            migrate(self.conn)
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.conn.row_factory = sqlite3.Row

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any error)."""
        if self.readonly:
            raise PermissionError("this run store was opened read-only")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ------------------------------------------------------------------ writes
    def create_run(
        self,
        items: Sequence[ItemSpec],
        *,
        name: str = "",
        suite: str = "",
        pipeline: str = "solve",
        config: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Create a run with all its items pending, in one transaction; return its id."""
        rid = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        now = time.time()
        keys = [it.key for it in items]
        if len(set(keys)) != len(keys):
            raise ValueError("item keys must be unique within a run")
        with self.transaction() as c:
            c.execute(
                "INSERT INTO runs(id, name, created, updated, suite, pipeline, config, status, total, host) "
                "VALUES(?,?,?,?,?,?,?,?,?,?)",
                (rid, name, now, now, suite, pipeline, _json(config or {}), "running", len(items),
                 socket.gethostname()),
            )  # fmt: skip
            c.executemany(
                "INSERT INTO items(run_id, key, item_id, dataset, backend, agent, job) "
                "VALUES(?,?,?,?,?,?,?)",
                [(rid, it.key, it.item_id, it.dataset, it.backend, it.agent, _json(it.job))
                 for it in items],
            )  # fmt: skip
        return rid

    def mark_running(self, run_id: str, key: str) -> None:
        """Record that an item started (live progress for the app)."""
        with self.transaction() as c:
            c.execute(
                "UPDATE items SET status='running', started=?, tries=tries+1 WHERE run_id=? AND key=?",
                (time.time(), run_id, key),
            )
            c.execute("UPDATE runs SET updated=? WHERE id=?", (time.time(), run_id))

    def record(self, run_id: str, out: Outcome) -> None:
        """Write one finished item (result, attempts, LLM calls, artifacts) in one transaction.

        Re-recording an item (after ``--resume``) replaces its earlier rows, so
        nothing is ever duplicated.
        """
        now = time.time()
        res = out.result or {}
        score = out.score or {}
        tokens = sum(
            int(c.get("prompt_tokens", 0)) + int(c.get("completion_tokens", 0))
            for c in out.llm_calls
        )
        with self.transaction() as c:
            for table in ("results", "attempts", "llm_calls", "artifacts"):
                c.execute(f"DELETE FROM {table} WHERE run_id=? AND key=?", (run_id, out.key))
            cur = c.execute(
                "UPDATE items SET status=?, finished=?, elapsed=?, error=? WHERE run_id=? AND key=?",
                (out.status, now, out.elapsed, out.error, run_id, out.key),
            )
            if cur.rowcount != 1:
                raise KeyError(f"run {run_id!r} has no item {out.key!r}")
            timings = res.get("timings") or {}
            c.execute(
                "INSERT INTO results(run_id, key, termination, objective, bound, gap, backend, reference, "
                "correct, rel_error, solve_time, tokens, score, result) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id, out.key, res.get("termination"), _num(res.get("objective")),
                    _num(res.get("bound")), _num(res.get("gap")), res.get("backend"),
                    _num(score.get("reference")),
                    None if score.get("correct") is None else int(bool(score["correct"])),
                    _num(score.get("rel_error")), _num(timings.get("total")), tokens,
                    _json(score), _json(res),
                ),
            )  # fmt: skip
            c.executemany(
                "INSERT INTO attempts(run_id, key, idx, status, error, feedback, model, code, elapsed, created) "
                "VALUES(?,?,?,?,?,?,?,?,?,?)",
                [(run_id, out.key, a.get("index", k), a.get("status", ""), a.get("error"),
                  a.get("feedback"), a.get("model"), a.get("code"), a.get("elapsed"), now)
                 for k, a in enumerate(out.attempts)],
            )  # fmt: skip
            c.executemany(
                "INSERT INTO llm_calls(run_id, key, attempt, model, prompt, response, prompt_tokens, "
                "completion_tokens, latency, cost, cache_key, created) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                [(run_id, out.key, call.get("attempt"), call.get("model"), _json(call.get("prompt")),
                  call.get("response") or "", int(call.get("prompt_tokens", 0)),
                  int(call.get("completion_tokens", 0)), float(call.get("latency", 0.0)),
                  float(call.get("cost", 0.0)), call.get("cache_key"), now)
                 for call in out.llm_calls],
            )  # fmt: skip
            c.executemany(
                "INSERT INTO artifacts(run_id, key, name, kind, content, created) VALUES(?,?,?,?,?,?)",
                [(run_id, out.key, a["name"], a.get("kind", "text"), a.get("content"), now)
                 for a in out.artifacts],
            )  # fmt: skip
            c.execute("UPDATE runs SET updated=? WHERE id=?", (now, run_id))

    def finish_run(self, run_id: str, status: str = "done") -> None:
        """Set a run's final status (``done``, ``interrupted`` or ``failed``)."""
        with self.transaction() as c:
            c.execute(
                "UPDATE runs SET status=?, updated=? WHERE id=?", (status, time.time(), run_id)
            )

    def reopen_run(self, run_id: str) -> list[str]:
        """Mark a run running again; return the keys still to do (missing or failed)."""
        keys = self.unfinished(run_id)
        with self.transaction() as c:
            c.execute(
                "UPDATE runs SET status='running', updated=? WHERE id=?", (time.time(), run_id)
            )
            c.executemany(
                "UPDATE items SET status='pending' WHERE run_id=? AND key=? AND status='running'",
                [(run_id, k) for k in keys],
            )
        return keys

    # ------------------------------------------------------------------- reads
    def run(self, run_id: str) -> dict[str, Any]:
        """One run's row (``config`` decoded).

        Raises
        ------
        KeyError
            If there is no such run (the message lists close ids).
        """
        row = self.conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            ids = [
                r["id"]
                for r in self.conn.execute("SELECT id FROM runs ORDER BY created DESC LIMIT 5")
            ]
            hint = f"; recent runs: {', '.join(ids)}" if ids else "; the store has no runs yet"
            raise RunNotFoundError(f"no run {run_id!r} in {self.path}{hint}")
        out = dict(row)
        out["config"] = json.loads(out["config"] or "{}")
        return out

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Recent runs, newest first, with their progress counts."""
        rows = self.conn.execute(
            "SELECT * FROM runs ORDER BY created DESC LIMIT ?", (limit,)
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["config"] = json.loads(d["config"] or "{}")
            d["progress"] = self.progress(d["id"])
            out.append(d)
        return out

    def progress(self, run_id: str) -> dict[str, int]:
        """Item counts by status, plus ``total``."""
        counts = {
            r[0]: r[1]
            for r in self.conn.execute(
                "SELECT status, COUNT(*) FROM items WHERE run_id=? GROUP BY status", (run_id,)
            )
        }
        counts["total"] = sum(counts.values())
        return counts

    def items(self, run_id: str) -> list[dict[str, Any]]:
        """Every item of a run joined with its result (``score``/``result`` decoded)."""
        rows = self.conn.execute(
            "SELECT i.*, r.termination, r.objective, r.bound, r.gap, r.reference, r.correct, "
            "r.rel_error, r.solve_time, r.tokens, r.score, r.result "
            "FROM items i LEFT JOIN results r ON r.run_id=i.run_id AND r.key=i.key "
            "WHERE i.run_id=? ORDER BY i.rowid",
            (run_id,),
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["job"] = json.loads(d["job"] or "{}")
            d["score"] = json.loads(d["score"]) if d.get("score") else {}
            d["result"] = json.loads(d["result"]) if d.get("result") else None
            out.append(d)
        return out

    def unfinished(self, run_id: str) -> list[str]:
        """Keys of items that are missing a result or failed (what ``--resume`` runs)."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT key FROM items WHERE run_id=? AND status NOT IN ('done') ORDER BY rowid",
                (run_id,),
            )
        ]

    def llm_calls(self, run_id: str, key: str | None = None) -> list[dict[str, Any]]:
        """LLM calls of a run (or of one item), in order."""
        sql = (
            "SELECT * FROM llm_calls WHERE run_id=?"
            + (" AND key=?" if key else "")
            + " ORDER BY id"
        )
        args: tuple[Any, ...] = (run_id, key) if key else (run_id,)
        out = []
        for r in self.conn.execute(sql, args):
            d = dict(r)
            d["prompt"] = json.loads(d["prompt"]) if d["prompt"] else None
            out.append(d)
        return out

    def attempts(self, run_id: str, key: str) -> list[dict[str, Any]]:
        """Attempts of one item, in order."""
        return [dict(r) for r in self.conn.execute(
            "SELECT * FROM attempts WHERE run_id=? AND key=? ORDER BY idx, id", (run_id, key))]  # fmt: skip

    def artifacts(self, run_id: str, key: str) -> list[dict[str, Any]]:
        """Artifacts of one item."""
        return [dict(r) for r in self.conn.execute(
            "SELECT * FROM artifacts WHERE run_id=? AND key=? ORDER BY id", (run_id, key))]  # fmt: skip

    # ------------------------------------------------------------- llm cache
    def cache_get(self, key: str) -> str | None:
        """A cached LLM response by request hash."""
        row = self.conn.execute("SELECT response FROM llm_cache WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def cache_put(self, key: str, response: str) -> None:
        """Store an LLM response under its request hash."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO llm_cache(key, response, created) VALUES(?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET response=excluded.response",
                (key, response, time.time()),
            )
