"""Reading runs back: summaries, comparisons and per-item detail, as plain data.

Everything here reads a :class:`~workbench.runs.store.RunStore` and returns
dicts and lists; ``workbench runs`` (and the app) only render them.  Exports
(CSV, Parquet, SFT JSONL) and the standalone HTML report live in
:mod:`workbench.runs.export`.

How the numbers are defined
---------------------------
* An item *failed* when its job did not finish: status ``error``, ``timeout``
  or ``crashed``.  Pending and running items are not counted as finished.
* An item *executed* when its job finished (``done``) and produced a result
  whose termination is not ``error``.  *Execution rate* = executed / total.
* *Accuracy* (strict: relative error ``<= 1e-6``; rule: the dataset's own
  rule) = correct / scored.  An item is *scored* when its score has a verdict
  (it has a reference or an infeasible/unbounded label); when the run has any
  scored item, failed items are scored too and count as incorrect (a job that
  did not run cannot be right).  Runs without references have no accuracy.
* *Mean primal gap* is over items with a primal gap in their score (see
  :func:`workbench.scoring.primal_gap`); failed items count as gap 1 when the
  run has references.
* *Solved* means the backend proved an outcome: termination ``optimal``,
  ``infeasible``, ``unbounded`` or ``infeasible_or_unbounded``.  A
  ``locally_optimal`` answer (a local method on a model not proven convex)
  is executed and scored by its objective, but not solved.
* *Time* is the job's wall-clock seconds inside its worker (``elapsed``);
  ``solve_time`` is the backend's own total from the result's timings.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from workbench.runs.store import RunStore

__all__ = [
    "COMPARE_METRICS",
    "FAILED_STATUSES",
    "ROW_COLUMNS",
    "SOLVED_TERMINATIONS",
    "compare",
    "group_stats",
    "is_failed_row",
    "item_detail",
    "item_label",
    "item_rows",
    "list_runs",
    "resolve_item",
    "resolve_run",
    "summarize",
]

FAILED_STATUSES = frozenset({"error", "timeout", "crashed"})
"""Item statuses of jobs that did not finish."""

SOLVED_TERMINATIONS = frozenset({"optimal", "infeasible", "unbounded", "infeasible_or_unbounded"})
"""Terminations that prove an outcome."""

ROW_COLUMNS: tuple[str, ...] = (
    "run_id", "key", "item_id", "dataset", "backend", "agent", "status", "termination",
    "objective", "bound", "gap", "reference", "label", "rule", "correct", "correct_rule",
    "rel_error", "abs_error", "primal_gap", "executed", "solved", "elapsed", "solve_time",
    "tokens", "tries", "solver", "error",
)  # fmt: skip
"""The flat columns of :func:`item_rows` (and of the CSV/Parquet exports), in order."""

COMPARE_METRICS: tuple[str, ...] = (
    "accuracy", "accuracy_rule", "solved", "executed", "mean_primal_gap", "total_time", "tokens",
)  # fmt: skip
"""The summary metrics :func:`compare` reports for both runs, with ``b - a`` deltas."""

TIME_TIE_REL = 0.1
"""Relative time difference under which :func:`compare` calls two equal outcomes a tie."""

TIME_TIE_ABS = 0.05
"""Absolute seconds under which :func:`compare` calls two equal outcomes a tie."""

_ROW_SQL = (
    "SELECT i.run_id, i.key, i.item_id, i.dataset, i.backend, i.agent, i.status, i.elapsed, "
    "i.error, i.tries, r.termination, r.objective, r.bound, r.gap, r.backend AS solver, "
    "r.reference, r.correct, r.rel_error, r.solve_time, r.tokens, r.score{extra} "
    "FROM items i LEFT JOIN results r ON r.run_id=i.run_id AND r.key=i.key "
    "WHERE i.run_id=? ORDER BY i.rowid"
)


# --------------------------------------------------------------------- runs
def resolve_run(store: RunStore, ref: str) -> str:
    """The id of the run *ref* names.

    Parameters
    ----------
    store
        The run store.
    ref
        A run id, a unique prefix of one, or ``last``/``latest`` (the newest run).

    Returns
    -------
    str
        The run's full id.

    Raises
    ------
    KeyError
        If no run matches (the message lists recent ids) or a prefix is ambiguous.
    """
    conn = store.conn
    if ref in ("last", "latest"):
        row = conn.execute("SELECT id FROM runs ORDER BY created DESC LIMIT 1").fetchone()
        if row is None:
            raise KeyError(f"the run store {store.path} has no runs yet")
        return str(row[0])
    if conn.execute("SELECT 1 FROM runs WHERE id=?", (ref,)).fetchone():
        return ref
    if ref:
        like = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        ids = [
            str(r[0])
            for r in conn.execute(
                "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY created DESC", (like,)
            )
        ]
        if len(ids) == 1:
            return ids[0]
        if len(ids) > 1:
            raise KeyError(f"run id prefix {ref!r} is ambiguous: {', '.join(ids[:5])}")
    store.run(ref)  # raises KeyError with the store's hints
    return ref  # pragma: no cover - store.run raised


def _decode(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        out = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    score = _decode(row.pop("score", None))
    correct = row.get("correct")
    term = row.get("termination")
    flat = {
        "run_id": row["run_id"],
        "key": row["key"],
        "item_id": row["item_id"],
        "dataset": row["dataset"],
        "backend": row["backend"],
        "agent": row["agent"],
        "status": row["status"],
        "termination": term,
        "objective": row.get("objective"),
        "bound": row.get("bound"),
        "gap": row.get("gap"),
        "reference": row.get("reference"),
        "label": score.get("label"),
        "rule": score.get("rule"),
        "correct": None if correct is None else bool(correct),
        "correct_rule": None
        if score.get("correct_rule") is None
        else bool(score.get("correct_rule")),
        "rel_error": row.get("rel_error"),
        "abs_error": score.get("abs_error"),
        "primal_gap": score.get("primal_gap"),
        "executed": row["status"] == "done" and term is not None and term != "error",
        "solved": row["status"] == "done" and term in SOLVED_TERMINATIONS,
        "elapsed": row.get("elapsed"),
        "solve_time": row.get("solve_time"),
        "tokens": int(row.get("tokens") or 0),
        "tries": int(row.get("tries") or 0),
        "solver": row.get("solver"),
        "error": row.get("error"),
    }
    if "result" in row:
        flat["result"] = _decode(row["result"]) or None
    return flat


def item_rows(store: RunStore, run_id: str, *, with_result: bool = False) -> list[dict[str, Any]]:
    """One flat dict per item of a run, in the run's order.

    Parameters
    ----------
    store
        The run store.
    run_id
        The run (a full id; see :func:`resolve_run`).
    with_result
        Also decode each item's full ``Result.to_dict()`` into ``result``
        (``None`` when there is none).  Off by default: results can be large.

    Returns
    -------
    list of dict
        Keys :data:`ROW_COLUMNS` (plus ``result``).  ``correct`` and
        ``correct_rule`` are ``True``/``False``/``None`` (no verdict).
    """
    extra = ", r.result" if with_result else ""
    cur = store.conn.execute(_ROW_SQL.format(extra=extra), (run_id,))
    return [_flat(dict(r)) for r in cur.fetchall()]


def is_failed_row(row: dict[str, Any]) -> bool:
    """Whether an item did not pass: failed, no usable result, or judged incorrect."""
    if row["status"] in FAILED_STATUSES:
        return True
    if row["status"] == "done" and not row["executed"]:
        return True
    verdict = row["correct_rule"] if row["correct_rule"] is not None else row["correct"]
    return verdict is False


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _time_stats(xs: Sequence[float]) -> dict[str, float | None]:
    return {
        "n": float(len(xs)),
        "total": float(sum(xs)),
        "mean": _mean(xs),
        "median": statistics.median(xs) if xs else None,
        "min": min(xs) if xs else None,
        "max": max(xs) if xs else None,
    }


def group_stats(rows: Sequence[dict[str, Any]], *, has_refs: bool) -> dict[str, Any]:
    """Counts, accuracy, execution rate, gaps, times and tokens of some item rows.

    Parameters
    ----------
    rows
        Rows from :func:`item_rows`.
    has_refs
        Whether the run has any scored item; then failed items are scored
        as incorrect with primal gap 1 (see the module docstring).

    Returns
    -------
    dict
        ``total``, ``counts`` (by status), ``finished``, ``failed``,
        ``executed``, ``execution_rate``, ``solved``, ``scored``, ``correct``,
        ``correct_rule``, ``accuracy``, ``accuracy_rule``, ``gap_items``,
        ``mean_primal_gap``, ``time`` and ``solve_time`` (``n``, ``total``,
        ``mean``, ``median``, ``min``, ``max``), ``tokens`` and
        ``tokens_per_problem`` (over finished items).
    """
    total = len(rows)
    counts = dict(Counter(r["status"] for r in rows))
    failed = [r for r in rows if r["status"] in FAILED_STATUSES]
    finished = [r for r in rows if r["status"] == "done" or r["status"] in FAILED_STATUSES]
    executed = sum(1 for r in rows if r["executed"])
    solved = sum(1 for r in rows if r["solved"])
    judged = [r for r in rows if r["status"] == "done" and r["correct"] is not None]
    n_fail_scored = len(failed) if has_refs else 0
    scored = len(judged) + n_fail_scored
    correct = sum(1 for r in judged if r["correct"])
    correct_rule = sum(
        1 for r in judged if (r["correct_rule"] if r["correct_rule"] is not None else r["correct"])
    )
    gaps = [
        float(r["primal_gap"])
        for r in rows
        if r["status"] == "done" and r["primal_gap"] is not None
    ]
    gaps += [1.0] * n_fail_scored
    times = [float(r["elapsed"]) for r in finished if r["elapsed"] is not None]
    solve_times = [float(r["solve_time"]) for r in finished if r["solve_time"] is not None]
    tokens = sum(int(r["tokens"]) for r in rows)
    return {
        "total": total,
        "counts": counts,
        "finished": len(finished),
        "failed": len(failed),
        "executed": executed,
        "execution_rate": executed / total if total else None,
        "solved": solved,
        "scored": scored,
        "correct": correct,
        "correct_rule": correct_rule,
        "accuracy": correct / scored if scored else None,
        "accuracy_rule": correct_rule / scored if scored else None,
        "gap_items": len(gaps),
        "mean_primal_gap": _mean(gaps),
        "time": _time_stats(times),
        "solve_time": _time_stats(solve_times),
        "tokens": tokens,
        "tokens_per_problem": tokens / len(finished) if finished else None,
    }


def item_label(row: dict[str, Any]) -> str:
    """``backend`` or ``agent/backend``: what ran an item."""
    return f"{row['agent']}/{row['backend']}" if row["agent"] else (row["backend"] or "-")


def _has_refs(rows: Iterable[dict[str, Any]]) -> bool:
    return any(r["correct"] is not None for r in rows)


def summarize(
    store: RunStore, run_id: str, *, rows: Sequence[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Everything ``workbench runs show`` prints above its item table.

    Parameters
    ----------
    store
        The run store.
    run_id
        A full run id (see :func:`resolve_run`).
    rows
        The run's :func:`item_rows`, when the caller already has them.

    Returns
    -------
    dict
        ``run`` (the run's row, ``config`` decoded), the run-wide
        :func:`group_stats` keys, ``has_refs``, ``llm_calls`` (count) and
        ``by_backend`` / ``by_dataset`` / ``by_dataset_backend`` (label or
        ``(dataset, label)`` -> :func:`group_stats`).

    Raises
    ------
    KeyError
        If there is no such run.
    """
    run = store.run(run_id)
    rows = item_rows(store, run_id) if rows is None else rows
    has_refs = _has_refs(rows)
    out: dict[str, Any] = {"run": run, "has_refs": has_refs}
    out.update(group_stats(rows, has_refs=has_refs))
    n_calls = store.conn.execute(
        "SELECT COUNT(*) FROM llm_calls WHERE run_id=?", (run_id,)
    ).fetchone()[0]
    out["llm_calls"] = int(n_calls)
    by_backend: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_both: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_backend[item_label(r)].append(r)
        by_dataset[r["dataset"] or "-"].append(r)
        by_both[(r["dataset"] or "-", item_label(r))].append(r)
    out["by_backend"] = {k: group_stats(v, has_refs=has_refs) for k, v in by_backend.items()}
    out["by_dataset"] = {k: group_stats(v, has_refs=has_refs) for k, v in by_dataset.items()}
    out["by_dataset_backend"] = {k: group_stats(v, has_refs=has_refs) for k, v in by_both.items()}
    return out


def list_runs(store: RunStore, *, limit: int = 20) -> list[dict[str, Any]]:
    """Recent runs, newest first, each with its headline numbers.

    Parameters
    ----------
    store
        The run store.
    limit
        At most this many runs.

    Returns
    -------
    list of dict
        Each: ``id``, ``name``, ``suite``, ``pipeline``, ``status``,
        ``created``, ``total``, ``finished``, ``failed``, ``accuracy``,
        ``accuracy_rule``, ``median_time``, ``tokens``.
    """
    out = []
    for run in store.runs(limit=limit):
        rows = item_rows(store, run["id"])
        stats = group_stats(rows, has_refs=_has_refs(rows))
        out.append(
            {
                "id": run["id"], "name": run["name"], "suite": run["suite"],
                "pipeline": run["pipeline"], "status": run["status"], "created": run["created"],
                "total": stats["total"], "finished": stats["finished"], "failed": stats["failed"],
                "accuracy": stats["accuracy"], "accuracy_rule": stats["accuracy_rule"],
                "median_time": stats["time"]["median"], "tokens": stats["tokens"],
            }
        )  # fmt: skip
    return out


# -------------------------------------------------------------------- items
def resolve_item(store: RunStore, run_id: str, ref: str) -> str:
    """The key of the item *ref* names within a run.

    Parameters
    ----------
    ref
        A full item key (``item|backend|agent``) or an item id that is unique
        within the run.

    Raises
    ------
    KeyError
        If nothing matches, or the item id has several keys (they are listed).
    """
    conn = store.conn
    if conn.execute("SELECT 1 FROM items WHERE run_id=? AND key=?", (run_id, ref)).fetchone():
        return ref
    keys = [
        str(r[0])
        for r in conn.execute(
            "SELECT key FROM items WHERE run_id=? AND item_id=? ORDER BY rowid", (run_id, ref)
        )
    ]
    if len(keys) == 1:
        return keys[0]
    if keys:
        raise KeyError(f"item {ref!r} has {len(keys)} keys in run {run_id}: {', '.join(keys)}")
    raise KeyError(
        f"run {run_id} has no item {ref!r} (give a key item|backend|agent or an item id)"
    )


def item_detail(store: RunStore, run_id: str, key: str) -> dict[str, Any]:
    """One item whole: its row, job, full result, score, attempts, LLM calls and artifacts.

    Parameters
    ----------
    store
        The run store.
    run_id
        A full run id.
    key
        A key or unique item id (see :func:`resolve_item`).

    Returns
    -------
    dict
        ``row`` (as in :func:`item_rows`), ``job``, ``result``, ``score``,
        ``attempts``, ``llm_calls`` (prompt decoded) and ``artifacts``
        (``content`` decoded to text where it is bytes).

    Raises
    ------
    KeyError
        If the item is unknown.
    """
    key = resolve_item(store, run_id, key)
    raw = store.conn.execute(
        "SELECT i.job, r.score, r.result FROM items i LEFT JOIN results r "
        "ON r.run_id=i.run_id AND r.key=i.key WHERE i.run_id=? AND i.key=?",
        (run_id, key),
    ).fetchone()
    row = next(r for r in item_rows(store, run_id) if r["key"] == key)
    artifacts = []
    for a in store.artifacts(run_id, key):
        content = a.get("content")
        if isinstance(content, bytes):
            a["content"] = content.decode("utf-8", errors="replace")
        artifacts.append(a)
    return {
        "row": row,
        "job": _decode(raw["job"]),
        "result": _decode(raw["result"]) or None,
        "score": _decode(raw["score"]),
        "attempts": store.attempts(run_id, key),
        "llm_calls": store.llm_calls(run_id, key),
        "artifacts": artifacts,
    }


# ------------------------------------------------------------------ compare
MatchMode = Literal["auto", "key", "item"]


def _index(rows: Sequence[dict[str, Any]], mode: str, run_id: str) -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = {}
    for r in rows:
        k = (r["item_id"], r["backend"], r["agent"]) if mode == "key" else r["item_id"]
        if k in out:
            raise ValueError(
                f"run {run_id} has several items for {r['item_id']!r} "
                f"({item_label(out[k])}, {item_label(r)}); compare with --match key"
            )
        out[k] = r
    return out


def _quality(row: dict[str, Any]) -> tuple[int, int, int, float]:
    verdict = row["correct_rule"] if row["correct_rule"] is not None else row["correct"]
    gap = row["primal_gap"]
    return (
        int(row["executed"]),
        int(bool(verdict)),
        int(row["solved"]),
        -(1.0 if gap is None else float(gap)) if row["executed"] else -1.0,
    )


def _duel(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
    """``('a'|'b'|'tie', why)``: which of two outcomes of one item is better."""
    qa, qb = _quality(a), _quality(b)
    names = ("ran", "correct", "solved", "primal gap")
    for name, x, y in zip(names, qa, qb):
        if x != y:
            return ("a" if x > y else "b"), name
    if not a["executed"]:
        return "tie", "both failed"
    ta, tb = a["elapsed"], b["elapsed"]
    if ta is None or tb is None:
        return "tie", "same outcome"
    if abs(ta - tb) <= max(TIME_TIE_ABS, TIME_TIE_REL * max(ta, tb)):
        return "tie", "same outcome and time"
    return ("a" if ta < tb else "b"), "time"


def compare(
    store: RunStore, run_a: str, run_b: str, *, match: MatchMode = "auto"
) -> dict[str, Any]:
    """Compare two runs item by item, on the items both have.

    Parameters
    ----------
    store
        The run store holding both runs.
    run_a, run_b
        Full run ids.
    match
        ``key`` pairs items by (item id, backend, agent); ``item`` by item id
        alone (each run must then have one item per item id, e.g. two runs
        of one backend each); ``auto`` uses ``key`` when the runs share any
        (item id, backend, agent), else ``item``.

    Returns
    -------
    dict
        ``a``, ``b`` (the runs' rows), ``match`` (the mode used),
        ``pairs`` (each ``{"item", "a", "b", "winner", "why"}`` with the
        two :func:`item_rows` rows; ``winner`` is ``a``, ``b`` or ``tie``),
        ``only_a``/``only_b`` (counts of unmatched items), ``metrics``
        (name -> ``{"a", "b", "delta"}`` with ``delta = b - a``, over the
        matched items only: ``accuracy``, ``accuracy_rule``, ``solved``,
        ``executed``, ``mean_primal_gap``, ``total_time``, ``tokens``) and
        ``wins`` (``{"a", "b", "ties"}``).

        An item is better when it ran, then when it is correct, then when
        it is solved, then by a lower primal gap; equal outcomes are won by
        the faster job unless the times are within 10 % or 0.05 s (a tie).

    Raises
    ------
    KeyError
        If a run is unknown.
    ValueError
        For an unknown *match*, or ``item`` matching on a run with several
        items per item id.
    """
    if match not in ("auto", "key", "item"):
        raise ValueError(f"unknown match {match!r}; use 'auto', 'key' or 'item'")
    ra, rb = store.run(run_a), store.run(run_b)
    rows_a, rows_b = item_rows(store, run_a), item_rows(store, run_b)
    mode: str = match
    if mode == "auto":
        keys_a = {(r["item_id"], r["backend"], r["agent"]) for r in rows_a}
        keys_b = {(r["item_id"], r["backend"], r["agent"]) for r in rows_b}
        mode = "key" if keys_a & keys_b else "item"
    ia, ib = _index(rows_a, mode, run_a), _index(rows_b, mode, run_b)
    common = [k for k in ia if k in ib]
    pairs = []
    wins = {"a": 0, "b": 0, "ties": 0}
    for k in common:
        winner, why = _duel(ia[k], ib[k])
        wins["ties" if winner == "tie" else winner] += 1
        item = ia[k]["key"] if mode == "key" else str(k)
        pairs.append({"item": item, "a": ia[k], "b": ib[k], "winner": winner, "why": why})
    has_refs = _has_refs(rows_a) or _has_refs(rows_b)
    sa = group_stats([ia[k] for k in common], has_refs=has_refs)
    sb = group_stats([ib[k] for k in common], has_refs=has_refs)
    metrics: dict[str, dict[str, Any]] = {}
    for name in COMPARE_METRICS:
        va = sa["time"]["total"] if name == "total_time" else sa[name]
        vb = sb["time"]["total"] if name == "total_time" else sb[name]
        delta = None if va is None or vb is None else vb - va
        metrics[name] = {"a": va, "b": vb, "delta": delta}
    return {
        "a": ra,
        "b": rb,
        "match": mode,
        "pairs": pairs,
        "only_a": len(ia) - len(common),
        "only_b": len(ib) - len(common),
        "metrics": metrics,
        "wins": wins,
    }
