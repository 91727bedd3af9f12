"""Typed, validated options of the ``neur2ro`` backend.

Built from ``SolveOptions.extra`` by :func:`neur2ro_options`; an unknown key or
a bad value is an :class:`~workbench.errors.OptionsError` naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, fields
from typing import Any

from workbench.errors import OptionsError

__all__ = ["EMBEDDINGS", "MAIN_FORMS", "Neur2roOptions", "neur2ro_options"]

EMBEDDINGS = ("bigm", "bigm_loose")
MAIN_FORMS = ("argmax", "max")
"""The ML-CCG main problem's forms (see :mod:`solvers.neur2ro.ccg`)."""
"""``bigm``: big-M with interval-arithmetic bounds; ``bigm_loose``: one constant M (the baseline)."""


@dataclass(frozen=True)
class Neur2roOptions:
    """Options of the neur2ro backend.

    Attributes
    ----------
    samples_per_instance
        Labelled (x, xi) pairs per instance when a model must be trained here.
    workers
        Worker processes for the labelling (``None``: the CPU count).
    phi_hidden, embed_dim, value_hidden
        Network sizes: per-item hidden layers, embedding width, value-head hidden layers.
    activation
        ``"relu"``; anything else cannot be embedded in a MILP and is refused.
    epochs, lr, batch_size, patience, val_fraction, train_time_limit
        Adam training with early stopping on validation MAE.
    embedding
        ``"bigm"`` (interval-arithmetic bounds; stable neurons need no binary) or
        ``"bigm_loose"`` (a constant ``loose_m`` for every neuron).
    loose_m
        The constant M of ``bigm_loose``.
    gap_tol
        ML-CCG stops when the adversary's ``Q̂`` exceeds the main problem's ``θ`` by
        at most ``gap_tol * max(1, |θ|)``.  Also the relative tolerance to which the
        exact evaluation of a first stage is proven (the result reports the
        conservative side of that interval) and at which a result counts as OPTIMAL.
    max_iterations
        ML-CCG iterations at most.
    mip_rel_gap
        HiGHS relative gap for the main and adversarial MILPs.
    subproblem_time_limit
        Seconds per main or adversarial MILP; at the limit the incumbent is used.
    model_path
        A trained model file (``.npz``) to use instead of the family cache.
    retrain
        Train even when a model for this family is cached.
    save
        Save a model trained here to the family cache.
    exact_eval
        Evaluate the chosen x exactly (``workbench.robust.evaluate_first_stage`` when
        installed; otherwise the worst case over the scenarios found).
    certify_rounds
        Rounds of the exact scenario master after ML-CCG (``0``: none).  The master
        over the learned scenarios plus the exact worst case is a valid lower bound;
        when it meets the exact value the result is OPTIMAL, otherwise its ``x`` is
        evaluated exactly, kept when better, and its worst scenario added.
        Needs ``exact_eval``.
    certify_time_limit
        Seconds for the certification in all (master solves and evaluations).
        Polishing is budgeted in time, so its result moves with machine load; on
        the 16-instance knapsack benchmark 10 s gave median errors of 0.45-1.18%
        over three runs, 15 s 0.37% and 0.44% over two.  Set it high enough for
        ``certify_rounds``/``polish_patience`` to end the polishing and the result
        repeats exactly.
    polish_radius
        Local-branching radius of the polishing rounds (flips of binary first-stage
        variables around the incumbent); it grows by one when a neighbourhood holds
        nothing better.
    polish_patience
        Polishing stops after this many rounds in a row without a better first stage.
    contract
        Train with per-item scenario inputs where they apply: when xi is one vector
        over a set ``S`` and item parameters ``p[item, S]`` exist (capital
        budgeting's ``phi``, ``psi``), each item sees ``p_i . xi`` (Neur2RO's
        per-item scenario features; ``z_mode="contract"``).  Off by default: it
        fits capital budgeting better (val MAE ~11% against ~15% of mean ``|Q|``)
        but embeds one network per item in the adversarial MILP, which HiGHS did
        not solve in 60 s at n = 30 with the default widths.  A cached model keeps
        its own mode (``retrain=True`` to switch).
    main_form
        ``"max"`` (the main problem pays the network's largest prediction; the
        default, measured better on the knapsack family) or ``"argmax"``
        (Neur2RO's: the network picks the worst scenario found so far and the
        main problem pays the exact recourse cost there, with one recourse copy
        per scenario).  The argmax form falls back to the max form when the
        recourse is not linear in x and y at a fixed scenario or has unbounded
        columns (``diagnostics.extra['main_form']`` says which ran).
    """

    samples_per_instance: int = 1500
    workers: int | None = None
    phi_hidden: tuple[int, ...] = (16,)
    embed_dim: int = 8
    value_hidden: tuple[int, ...] = (32,)
    activation: str = "relu"
    epochs: int = 300
    lr: float = 3e-3
    batch_size: int = 128
    patience: int = 20
    val_fraction: float = 0.2
    train_time_limit: float | None = None
    embedding: str = "bigm"
    loose_m: float = 1e4
    gap_tol: float = 1e-4
    max_iterations: int = 30
    mip_rel_gap: float = 1e-4
    subproblem_time_limit: float = 20.0
    model_path: str | None = None
    retrain: bool = False
    save: bool = True
    exact_eval: bool = True
    certify_rounds: int = 10
    certify_time_limit: float = 15.0
    polish_radius: int = 2
    polish_patience: int = 4
    main_form: str = "max"
    contract: bool = False


def _int(name: str, v: Any, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise OptionsError(f"neur2ro option {name!r} must be an integer >= {minimum}, got {v!r}")
    return v


def _pos(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        raise OptionsError(f"neur2ro option {name!r} must be a positive number, got {v!r}")
    return float(v)


def _sizes(name: str, v: Any) -> tuple[int, ...]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = (v,)
    if not isinstance(v, list | tuple) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in v
    ):
        raise OptionsError(
            f"neur2ro option {name!r} must be a list of positive layer widths, got {v!r}"
        )
    return tuple(v)


def neur2ro_options(extra: dict[str, Any]) -> Neur2roOptions:
    """Validate ``SolveOptions.extra`` into :class:`Neur2roOptions`.

    Raises
    ------
    OptionsError
        An unknown key (with close names) or a bad value (quoted), naming the fix.
    """
    known = {f.name for f in fields(Neur2roOptions)}
    for key in extra:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise OptionsError(f"unknown neur2ro option {key!r}{hint}")
    v = dict(extra)
    for k in ("samples_per_instance", "epochs", "batch_size", "max_iterations", "embed_dim"):
        if k in v:
            v[k] = _int(k, v[k], 1)
    if "certify_rounds" in v:
        v["certify_rounds"] = _int("certify_rounds", v["certify_rounds"], 0)
    for k in ("polish_radius", "polish_patience"):
        if k in v:
            v[k] = _int(k, v[k], 1)
    if "patience" in v:
        v["patience"] = _int("patience", v["patience"], 1)
    if v.get("workers") is not None:
        v["workers"] = _int("workers", v["workers"], 1)
    for k in ("phi_hidden", "value_hidden"):
        if k in v:
            v[k] = _sizes(k, v[k])
    for k in (
        "lr",
        "loose_m",
        "gap_tol",
        "mip_rel_gap",
        "subproblem_time_limit",
        "certify_time_limit",
    ):
        if k in v:
            v[k] = _pos(k, v[k])
    if v.get("train_time_limit") is not None:
        v["train_time_limit"] = _pos("train_time_limit", v["train_time_limit"])
    if "val_fraction" in v:
        vf = v["val_fraction"]
        if not isinstance(vf, int | float) or not 0 < vf < 1:
            raise OptionsError(f"neur2ro option 'val_fraction' must be in (0, 1), got {vf!r}")
    if "activation" in v and v["activation"] != "relu":
        raise OptionsError(
            f"neur2ro option 'activation' is {v['activation']!r}, but only a ReLU network can be "
            "embedded in the main and adversarial MILPs; use activation='relu'"
        )
    if "embedding" in v and v["embedding"] not in EMBEDDINGS:
        raise OptionsError(
            f"neur2ro option 'embedding' must be one of {', '.join(EMBEDDINGS)}; "
            f"got {v['embedding']!r}"
        )
    if "main_form" in v and v["main_form"] not in MAIN_FORMS:
        raise OptionsError(
            f"neur2ro option 'main_form' must be one of {', '.join(MAIN_FORMS)}; "
            f"got {v['main_form']!r}"
        )
    for k in ("retrain", "save", "exact_eval", "contract"):
        if k in v and not isinstance(v[k], bool):
            raise OptionsError(f"neur2ro option {k!r} must be true or false, got {v[k]!r}")
    if v.get("model_path") is not None and not isinstance(v["model_path"], str):
        raise OptionsError(f"neur2ro option 'model_path' must be a path, got {v['model_path']!r}")
    return dataclasses.replace(Neur2roOptions(), **v)
