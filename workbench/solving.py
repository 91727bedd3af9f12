"""``workbench.solve``: send a model to the backend its class calls for."""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from workbench.backends.base import Backend, Capability, SolveOptions
from workbench.backends.registry import BACKENDS, availability, backend_names, get_backend
from workbench.classification import (
    Classification,
    classify_linear_form,
    classify_structure,
    covers,
)
from workbench.compile.from_pyomo import is_pyomo_model, read_pyomo
from workbench.compile.linear_form import LinearForm
from workbench.compile.structure import CompiledModel, compile_structure
from workbench.errors import (
    BackendUnavailableError,
    ModelError,
    UnsupportedProblemError,
    WorkbenchError,
)
from workbench.ir.io import load_model, model_from_dict
from workbench.ir.model import Model
from workbench.racing import race, rivals
from workbench.reformulating import (
    GLOBAL_BACKENDS,
    Prepared,
    ReformulateOpt,
    keep_native_indicators,
    map_back,
    native_indicators,
    prepare,
    strengthen,
)
from workbench.result import Diagnostics, Result, Termination

__all__ = ["choose_backend", "read_model_file", "solve"]

_NO_ANSWER = (Termination.INFEASIBLE, Termination.UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED)
_MATRIX_SUFFIXES = (".mps", ".lp", ".mps.gz", ".lp.gz", ".mps.bz2", ".free-mps", ".qps")


def read_model_file(path: str | Path) -> Model | LinearForm:
    """Read an IR file (.yaml/.yml/.json) as a Model, or an MPS/LP file as a LinearForm.

    Raises
    ------
    ModelError
        If the file is missing, unreadable or malformed.
    """
    p = Path(path)
    name = p.name.lower()
    if name.endswith(_MATRIX_SUFFIXES):
        if not p.exists():
            raise ModelError(f"no such file: {p}")
        from workbench.compile.mps import read_mps

        return read_mps(p)
    if name.endswith((".yaml", ".yml", ".json")):
        return load_model(p)
    raise ModelError(
        f"cannot tell the format of {p.name!r}: use .yaml/.yml/.json for IR models or .mps/.lp for matrices"
    )


def _coerce(model: Any) -> Model | LinearForm | CompiledModel:
    if isinstance(model, Model | LinearForm | CompiledModel):
        return model
    if isinstance(model, dict):
        return model_from_dict(model)
    if isinstance(model, Path) or (
        isinstance(model, str) and "\n" not in model and Path(model).suffix
    ):
        return read_model_file(model)
    if isinstance(model, str):
        return load_model(model)
    raise TypeError(
        "solve() takes a Model, a dict, YAML text, a path, a LinearForm or a Pyomo "
        f"ConcreteModel, not {type(model).__name__}"
    )


def choose_backend(cls: Classification, *, matrix: bool = False) -> str:
    """The best available backend for a problem of this classification.

    Raises
    ------
    UnsupportedProblemError
        Naming the problem class and what each candidate lacks.
    """
    reasons: list[str] = []
    candidates: list[tuple[int, str, Any]] = []
    for name in backend_names():
        try:
            bcls = BACKENDS.load(name)
        except Exception as e:
            reasons.append(f"{name}: cannot be imported ({e})")
            continue
        if not covers(bcls.capabilities, cls):
            continue
        if matrix and not hasattr(bcls, "solve_linear"):
            continue
        candidates.append((_nlp_rank(cls, name, bcls.rank), name, bcls))
    # best first, and only as far as needed: checking a backend can import a heavy
    # package (Pyomo takes over a second), which a MILP that HiGHS takes never needs
    for _rank, name, bcls in sorted(candidates, key=lambda c: (c[0], c[1])):
        av = availability(name)
        if not av.ok:
            reasons.append(f"{name}: {av.reason}")
            continue
        supports = getattr(bcls, "supports", None)
        if supports is not None:
            fit = supports(cls)
            if not fit.ok:
                reasons.append(f"{name}: {fit.reason}")
                continue
        return name
    why = ("; ".join(reasons)) if reasons else "no registered backend handles this class"
    raise UnsupportedProblemError(
        f"no available backend can solve a {cls.summary()}{_pip_hint(cls)}: {why}"
    )


def _nlp_rank(cls: Classification, name: str, rank: int) -> int:
    """A continuous NLP: the global solver first unless the model is proven convex.

    Proven convex, a local method's optimum is global (and faster); otherwise a
    local method may stop at a local optimum, so a global solver goes first.
    """
    if cls.problem_class != Capability.NLP:
        return rank
    convex = getattr(cls, "convex", None) is True
    if name in GLOBAL_BACKENDS:
        return rank + 1000 if convex else rank - 1000
    return rank


def _pip_hint(cls: Classification) -> str:
    if cls.problem_class in (Capability.MIQP, Capability.NLP, Capability.MINLP, Capability.QP):
        return "; a global solver takes it: pip install pyscipopt (adds the scip backend)"
    return ""


def _fitting_backends(cls: Classification) -> str:
    """``"; backends for it: a, b"``: the registered backends whose capabilities fit, best first."""
    fits: list[tuple[int, str]] = []
    for other in backend_names():
        try:
            bcls = BACKENDS.load(other)
        except Exception:  # a backend that cannot be imported is not a suggestion
            continue
        if covers(bcls.capabilities, cls):
            fits.append((bcls.rank, other))
    return f"; backends for it: {', '.join(n for _, n in sorted(fits))}" if fits else ""


def route(
    model: Model | CompiledModel, backend: str = "auto", reformulate: ReformulateOpt = "auto"
) -> tuple[str, Prepared]:
    """The backend ``solve`` would use for *model* and the (reformulated) model it would get.

    Runs the passes of :func:`solve` up to the backend call: compile, reformulate,
    choose the backend (for ``"auto"``, by the reformulated class), keep indicators
    for a backend that takes them, and strengthen for a global solver.

    Returns
    -------
    tuple
        ``(backend name, Prepared)``; ``Prepared.reform`` holds the rewrites (or ``None``).
    """
    original = model if isinstance(model, CompiledModel) else compile_structure(model)
    cls0 = classify_structure(original)
    if backend != "auto" and backend not in backend_names():
        get_backend(backend)  # an unknown name: the registry's error
    prep = prepare(original, cls0, backend, reformulate)
    name = backend
    if backend == "auto":
        name = choose_backend(prep.cls)
        prep = keep_native_indicators(original, cls0, prep, name)
    return name, strengthen(prep, name, reformulate)


def solve(
    model: Model | LinearForm | dict[str, Any] | str | Path | Any,
    backend: str = "auto",
    *,
    time_limit: float | None = None,
    seed: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    rel_gap: float | None = None,
    verbose: bool = False,
    reformulate: ReformulateOpt = "auto",
    **options: Any,
) -> Result:
    """Solve a model with the named backend, or the best one for its class.

    Parameters
    ----------
    model
        An IR :class:`~workbench.ir.model.Model`, its dict or YAML text, a
        path to a .yaml/.json/.mps/.lp file, a :class:`LinearForm`, or a
        Pyomo ``ConcreteModel`` (values then come back keyed by its
        component names and indices; see :meth:`Result.load_into`).
    backend
        A registered backend name, or ``"auto"`` to choose by capability.
    time_limit
        Seconds; ``None`` for no limit.
    seed
        Seed for every random choice the backend makes.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"`` for torch backends.
    threads, rel_gap, verbose
        Common solver options.
    reformulate
        Exact rewrites of ``max``/``min``/``abs``, binary products and
        indicators into linear rows: ``"auto"`` when the backend cannot take
        the original (with ``backend="auto"``, always, and the backend is
        chosen by the reformulated class; indicators stay for a backend that takes
        them natively); ``True`` always, every rule; ``False`` never.
        Results name only the user's variables; what was rewritten is in
        ``result.diagnostics.extra["reformulations"]``.  With ``backend="auto"``,
        a model the rewrite left a MILP is raced on HiGHS and SCIP (see
        :mod:`workbench.racing`; not with ``threads=1``, ``verbose`` or
        backend options): the first proof wins, ``result.backend`` names it.
    **options
        Backend-specific options, validated by the backend.

    Returns
    -------
    Result
        Non-optimal outcomes (infeasible, unbounded, limits) are values;
        a backend crash is ``termination=ERROR`` with the message.

    Raises
    ------
    ModelError
        If the model is malformed (with its location).
    UnsupportedProblemError
        If no available backend (or not the named one) handles the model's class.
    BackendUnavailableError
        If the named backend is unknown or not installed.
    """
    if reformulate not in ("auto", True, False):
        raise ValueError(f"reformulate must be 'auto', True or False, not {reformulate!r}")
    if is_pyomo_model(model):  # read it, solve that, and name the answer in Pyomo's terms
        read = read_pyomo(model, backend)
        inner = solve(
            read.form, backend, time_limit=time_limit, seed=seed, device=device,
            threads=threads, rel_gap=rel_gap, verbose=verbose, reformulate=reformulate,
            **options,
        )  # fmt: skip
        return read.translate(inner)
    t0 = time.perf_counter()
    obj = _coerce(model)
    structure: CompiledModel | None = None
    prep: Prepared | None = None
    if isinstance(obj, LinearForm):
        cls = classify_linear_form(obj)
        name = choose_backend(cls, matrix=True) if backend == "auto" else backend
    else:
        name, prep = route(obj, backend, reformulate)
        structure, cls = prep.structure, prep.cls
    build = time.perf_counter() - t0
    be: Backend = get_backend(name)
    if structure is not None and not native_indicators(name):
        fam = next((r for r in structure.rows if r.indicator is not None), None)
        if fam is not None:  # a backend that ignored 'when' would solve another problem
            raise UnsupportedProblemError(
                f"{fam.where}.when: backend {name!r} has no native indicator constraints and "
                "this one was not rewritten (reformulate=False, or its body is not affine); "
                "use reformulate=True, backend 'cpsat', or install a global solver: "
                "pip install pyscipopt"
            )
    if backend != "auto":
        av = availability(name)
        if not av.ok:
            raise BackendUnavailableError(f"backend {name!r} is not available: {av.reason}")
        if not covers(be.capabilities, cls):
            caps = ", ".join(sorted(c.value for c in be.capabilities))
            raise UnsupportedProblemError(
                f"backend {name!r} handles {caps}, but this is a {cls.summary()}"
                + (
                    "; CP-SAT needs every variable integer with finite bounds"
                    if name == "cpsat"
                    else _fitting_backends(cls)
                )
            )
    opts = SolveOptions(
        time_limit=time_limit,
        seed=seed,
        device=device,
        threads=threads,
        rel_gap=rel_gap,
        verbose=verbose,
        extra=dict(options),
        structure=structure,
        feas_tol=None if prep is None or prep.reform is None else prep.reform.feas_tol,
    )
    try:
        if isinstance(obj, LinearForm):
            solve_linear = getattr(be, "solve_linear", None)
            if solve_linear is None:
                raise UnsupportedProblemError(
                    f"backend {name!r} cannot take a matrix (MPS/LP) model"
                )
            result: Result = solve_linear(obj, opts)
        else:
            assert structure is not None and prep is not None
            racers = rivals(backend, name, prep, opts)
            if racers:
                sense = structure.model.objective.sense
                result = race(racers, structure.model, opts, sense)
            else:
                result = be.solve(structure.model, opts)
    except WorkbenchError:
        raise
    except Exception as e:  # a crashed backend is a value, not a traceback
        result = Result(
            termination=Termination.ERROR,
            diagnostics=Diagnostics(message=f"{type(e).__name__}: {e}"),
            log=traceback.format_exc(),
        )
    result.backend = result.backend or name
    if result.termination in _NO_ANSWER:
        # a point from an infeasible or unbounded run is not an answer
        result.objective = None
        result.gap = None
        result.values = {}
        result.duals = None
    result.timings.build += build
    if prep is not None:
        map_back(result, prep.reform)
    if structure is not None:
        for w in structure.warnings:
            if w not in result.diagnostics.warnings:
                result.diagnostics.warnings.append(w)
    return result
