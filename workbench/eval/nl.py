"""Natural-language optimisation datasets (NL4Opt, MAMO, NLP4LP, OptiBench, OptMATH).

Rows follow the JSONL schema of ``../shared/datasets/nl/README.md``: ``id``,
``dataset``, ``description``, ``ground_truth`` (``null`` when the source says
there is no optimum), ``ground_truth_raw``, ``ground_truth_status`` and the
source's other fields.  Files are read from a path the user sets
(``path=``, ``WORKBENCH_NL_DATA`` or ``WORKBENCH_DATA/nl``); they are never
copied into the project.  Each file's SHA-256 is checked against the
registry so that silently changed labels are noticed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from workbench.datasets import Problem, shared_data_dir
from workbench.errors import WorkbenchError

__all__ = [
    "NL_DATASETS",
    "USER_DATASET",
    "NLDataset",
    "load_jsonl",
    "load_nl",
    "nl_dataset_path",
    "suspect_reason",
]

USER_DATASET = "jsonl"
"""The dataset name under which a user's own JSONL file runs (``path=FILE``)."""


@dataclass(frozen=True)
class NLDataset:
    """One registered dataset: where it comes from and how it is scored."""

    name: str
    filename: str
    sha256: str
    source: str
    licence: str
    rule: str
    rows: int


NL_DATASETS: dict[str, NLDataset] = {
    d.name: d
    for d in (
        NLDataset("nl4opt", "nl4opt.jsonl",
                  "fceb3a9e821fc48c0ae408a517d67230022801a8c5d5524df98b7b25ef8ddfbe",
                  "https://github.com/antgroup/LLMOPT (data/testset/nl4opt_test.jsonl)", "MIT",
                  "strict", 230),
        NLDataset("mamo_easylp", "mamo_easylp.jsonl",
                  "b74c0b1d6241c18204dbfbc5e4e5e6d1fa34fd5183cb216b3e63008d8dd4afc8",
                  "https://github.com/Cardinal-Operations/SIRL (test_data/MAMO_EasyLP_fixed.jsonl)",
                  "CC-BY-SA-4.0", "mamo", 642),
        NLDataset("mamo_complexlp", "mamo_complexlp.jsonl",
                  "9f637d8f4c376f9378032cf85a7902c25399b83603764124d5d6b55ef1849d2c",
                  "https://github.com/Cardinal-Operations/SIRL (test_data/MAMO_ComplexLP_fixed.jsonl)",
                  "CC-BY-SA-4.0", "mamo", 203),
        NLDataset("nlp4lp", "nlp4lp.jsonl",
                  "80d25f449a0a0f99bbabaf0c5998f1f24d25be44bed1593826bfafb581aa998e",
                  "https://github.com/ZJU-TSELab/ORThought (datasets/processed/NLP4LP)",
                  "CC-BY-NC-4.0", "orthought", 264),
        NLDataset("optibench", "optibench.jsonl",
                  "04b342c972eb83210afa563cc22f9afc156475b47f2bb257676795705d149c9c",
                  "https://github.com/yangzhch6/ReSocratic (data/OptiBench.json)", "Apache-2.0",
                  "rel<=1e-4", 605),
        NLDataset("optmath_bench", "optmath_bench.jsonl",
                  "095bfc6486ec5bb0a40601b997f949030878f59d31ad73007a8ceaf75e3bc22f",
                  "https://github.com/Cardinal-Operations/SIRL (test_data/OptMATH_Bench_166.jsonl)",
                  "unknown", "strict", 166),
    )
}  # fmt: skip


def nl_dataset_path(name: str, path: str | Path | None = None) -> Path:
    """Where dataset *name* is read from.

    Order: *path* (a file, or a folder holding the file), ``WORKBENCH_NL_DATA``,
    then ``<shared data>/nl``.

    Raises
    ------
    WorkbenchError
        If the dataset is unknown or its file cannot be found (the message
        says where it looked and where the data comes from).
    """
    if name not in NL_DATASETS:
        raise WorkbenchError(f"unknown NL dataset {name!r}; known: {', '.join(NL_DATASETS)}")
    ds = NL_DATASETS[name]
    looked: list[Path] = []
    for base in (path, os.environ.get("WORKBENCH_NL_DATA")):
        if base:
            p = Path(base).expanduser()
            cand = p if p.is_file() else p / ds.filename
            looked.append(cand)
            if cand.is_file():
                return cand
    shared = shared_data_dir()
    if shared is not None:
        cand = shared / "nl" / ds.filename
        looked.append(cand)
        if cand.is_file():
            return cand
    where = ", ".join(str(p) for p in looked) or "no folder (set WORKBENCH_DATA)"
    raise WorkbenchError(
        f"dataset {name!r} not found (looked in {where}); its source is {ds.source} "
        f"({ds.licence}); put {ds.filename} in a folder and pass --path or set WORKBENCH_NL_DATA"
    )


_OBJECTIVE_WORDS = re.compile(r"max|min|objective|total|profit|cost|revenue|optimal", re.I)


def _number(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _literal(x: Any) -> Any:
    if isinstance(x, str) and x[:1] in "{[":
        try:
            return ast.literal_eval(x)  # data only (literals), never code
        except (ValueError, SyntaxError):
            return None
    return x


def suspect_reason(row: dict[str, Any]) -> str | None:
    """Why a row's label looks wrong: another reference shipped with it disagrees.

    The sources carry second opinions: OptiBench's ``results`` and the
    ``answer_llmopt``/``answer_sirl`` relabels, NLP4LP's ``answer_json``.
    A label differing from one of them by more than 1e-4 (relative) is suspect.
    """
    gt = _number(row.get("ground_truth"))
    raw_extra = row.get("extra")
    extra: dict[str, Any] = raw_extra if isinstance(raw_extra, dict) else {}
    fields = {**extra, **{k: v for k, v in row.items() if k.startswith(("answer", "results"))}}
    others: list[tuple[str, float]] = []
    for key in ("answer_llmopt", "answer_sirl"):
        v = _number(fields.get(key))
        if v is not None:
            others.append((key, v))
    aj = _literal(fields.get("answer_json"))
    if isinstance(aj, dict) and _number(aj.get("obj")) is not None:
        others.append(("answer_json.obj", float(aj["obj"])))
    res = _literal(fields.get("results"))
    if isinstance(res, dict) and res:
        # OptiBench lists every asked quantity; only objective-like entries are comparable,
        # and the label is fine when any asked quantity equals it.
        values = [_number(v) for v in res.values()]
        matched = gt is not None and any(
            v is not None and abs(v - gt) <= 1e-4 * max(1.0, abs(gt)) for v in values
        )
        for key, v in zip(res, values):
            if not matched and v is not None and _OBJECTIVE_WORDS.search(str(key)):
                others.append((f"results[{key!r}]", v))
                break
    for key, v in others:
        if gt is None:
            return f"label says no optimum but {key} = {v:g}"
        if abs(v - gt) > 1e-4 * max(1.0, abs(gt)):
            return f"label {gt:g} but {key} = {v:g}"
    return None


def load_nl(name: str, *, path: str | Path | None = None, verify: bool = True) -> list[Problem]:
    """Load an NL dataset as :class:`~workbench.datasets.Problem` rows.

    Parameters
    ----------
    name
        A key of :data:`NL_DATASETS`.
    path
        A file or folder overriding the default location.
    verify
        Check the file's SHA-256 against the registry (a mismatch is an error
        naming both digests; pass ``verify=False`` for a deliberately edited copy).
    """
    ds = NL_DATASETS.get(name)
    file = nl_dataset_path(name, path)
    data = file.read_bytes()
    if verify and ds is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != ds.sha256:
            raise WorkbenchError(
                f"{file}: SHA-256 {digest[:12]}... differs from the registered {ds.sha256[:12]}...; "
                "the labels may have changed (pass verify=False to use it anyway)"
            )
    out: list[Problem] = []
    for k, line in enumerate(data.decode("utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise WorkbenchError(f"{file}:{k + 1}: not valid JSON ({e.msg})") from None
        gt = _number(row.get("ground_truth"))
        status = (
            "optimal"
            if str(row.get("ground_truth_status", "optimal")) == "optimal"
            else "no_optimum"
        )
        meta = {
            key: v for key, v in row.items() if key not in ("id", "description", "ground_truth")
        }
        meta["rule"] = ds.rule if ds else "strict"
        reason = suspect_reason(row)
        if reason:
            meta["suspect"] = reason
        out.append(
            Problem(
                id=str(row.get("id", k)), title=f"{name} #{row.get('id', k)}",
                text=str(row.get("description", "")), optimum=gt if status == "optimal" else None,
                status=status, category=name, path=file, meta=meta,
            )
        )  # fmt: skip
    return out


def _located(file: Path, line: int, field: str, what: str) -> WorkbenchError:
    return WorkbenchError(f"{file}:{line}: field {field!r}: {what}")


def _user_row(row: Any, file: Path, line: int) -> tuple[str, str, float | None, str | None]:
    """Check one row of a user's file: ``(id, description, ground_truth, rule)``."""
    if not isinstance(row, dict):
        raise WorkbenchError(
            f"{file}:{line}: a row must be a JSON object with id, description and ground_truth"
        )
    for need in ("id", "description", "ground_truth"):
        if need not in row:
            raise _located(file, line, need, "missing (write null for a ground_truth that is "
                           "unknown or when the problem has no optimum)"
                           if need == "ground_truth" else "missing")  # fmt: skip
    rid = row["id"]
    if isinstance(rid, bool) or not isinstance(rid, str | int) or not str(rid).strip():
        raise _located(file, line, "id", f"must be a non-empty string or an integer, got {rid!r}")
    text = row["description"]
    if not isinstance(text, str) or not text.strip():
        raise _located(file, line, "description", f"must be non-empty text, got {text!r:.60}")
    gt_raw = row["ground_truth"]
    gt: float | None = None
    if gt_raw is not None:
        gt = None if isinstance(gt_raw, bool) else _number(gt_raw)
        if gt is None:
            raise _located(file, line, "ground_truth",
                           f"must be a finite number, or null for no optimum; got {gt_raw!r:.60}")  # fmt: skip
    rule = row.get("rule")
    if rule is not None:
        from workbench.scoring import parse_rule

        try:
            parse_rule(str(rule))
        except (ValueError, WorkbenchError) as e:
            raise _located(file, line, "rule", str(e)) from None
    return str(rid).strip(), text, gt, None if rule is None else str(rule)


def load_jsonl(path: str | Path) -> list[Problem]:
    """Load a user's own JSONL file of natural-language problems; no registration needed.

    One JSON object per line, with ``id`` (unique), ``description`` (the
    problem text), ``ground_truth`` (the optimal objective value, or ``null``
    when the problem has no optimum) and an optional ``rule`` (how answers
    are scored: ``abs<0.01``, ``rel<=1e-4``, a named rule; default strict).
    Other fields are kept as the row's metadata.  Blank lines are skipped.

    Raises
    ------
    WorkbenchError
        For a missing or unreadable file, or a malformed row: the message
        names the file, the line and the field.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise WorkbenchError(f"{file}: no such file (give a JSONL file of problems)")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise WorkbenchError(f"{file}: cannot be read as UTF-8 text ({e})") from None
    out: list[Problem] = []
    seen: dict[str, int] = {}
    for k, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise WorkbenchError(
                f"{file}:{k}: not valid JSON ({e.msg} at column {e.colno})"
            ) from None
        rid, text, gt, rule = _user_row(row, file, k)
        if rid in seen:
            raise _located(file, k, "id", f"{rid!r} is already the id of line {seen[rid]}")
        seen[rid] = k
        meta = {
            key: v for key, v in row.items() if key not in ("id", "description", "ground_truth")
        }
        meta["rule"] = rule or "strict"
        out.append(
            Problem(
                id=rid, title=f"{file.stem} #{rid}", text=text, optimum=gt,
                status="optimal" if gt is not None else "no_optimum", category=file.stem,
                path=file, meta=meta,
            )
        )  # fmt: skip
    if not out:
        raise WorkbenchError(f"{file}: no problems (one JSON object per line is expected)")
    return out


nl4opt = partial(load_nl, "nl4opt")
mamo_easylp = partial(load_nl, "mamo_easylp")
mamo_complexlp = partial(load_nl, "mamo_complexlp")
nlp4lp = partial(load_nl, "nlp4lp")
optibench = partial(load_nl, "optibench")
optmath_bench = partial(load_nl, "optmath_bench")
