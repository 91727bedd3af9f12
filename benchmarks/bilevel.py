"""Bilevel benchmark: Kwon-penalty vs V-PBGD vs BOME on the toys, and data hyper-cleaning.

Part ``toys``: per toy problem (Shen–Chen 1-D, BOME's non-singleton follower,
the LV-HBA coupled-equality toy) and method, the error to the known optimum
(leader variables, max-abs), |F − F*|, gradient (oracle) calls and time.
Part ``hc``: the hyper-cleaning task (:mod:`problems.bilevel.hypercleaning`),
validation accuracy against upper-level steps, the fraction of corrupted
samples down-weighted, the device and the time per upper step.  No assertions.

Run ``python benchmarks/bilevel.py`` (a few minutes on 2 CPU cores), or e.g.
``python benchmarks/bilevel.py --part hc --device cuda --n-train 1000`` on a GPU.
The ``hc`` part imports only numpy/torch-side modules (no MILP solver).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

SETTINGS: dict[str, dict[str, Any]] = {
    "kwon": {"sigma_every": 10, "inner_iters": 200},
    "vpbgd": {"gamma0": 1.0, "gamma_max": 1000.0, "gamma_growth": 1.05, "vpbgd_lr": 0.5,
              "outer_iters": 3000, "inner_iters": 50},
    "bome": {"bome_lr": 0.05, "outer_iters": 3000, "inner_iters": 20},
}  # fmt: skip
METHODS = ("kwon", "vpbgd", "bome")


def _calls(msg: str) -> int:
    nf = int(msg.split("f=")[1].split(",")[0])
    ng = int(msg.split("g=")[-1].split(";")[0])
    return nf + ng


def _api_toys() -> dict[str, tuple[Any, ...]]:
    shen_f = lambda x, y: (torch.cos(4 * y + 2) / (1 + torch.exp(2 - 4 * x))  # noqa: E731
                           + 0.5 * torch.log((4 * x - 2) ** 2 + 1)).sum()  # fmt: skip
    shen_g = lambda x, y: ((x + y) ** 2 + x * torch.sin(x + y) ** 2).sum()  # noqa: E731
    bome_f = lambda w, y: 0.5 * (w[0] - y[1]) ** 2 + 0.5 * (y[0] - 1) ** 2  # noqa: E731
    bome_g = lambda w, y: 0.5 * y[0] ** 2 - w[0] * y[0]  # noqa: E731
    return {
        "shen_chen_toy_1d": (shen_f, shen_g, [1.0], [0.0], (0.0, 3.0), 1.21514548, 0.19991089,
                             {"inner_lr": 0.05, "outer_lr": 0.05}),
        "bome_toy_nonsingleton_ll": (bome_f, bome_g, [3.0], [0.0, 0.0], (-100.0, 100.0), 1.0,
                                     0.0, {"inner_lr": 1.0, "outer_lr": 0.5}),
    }  # fmt: skip


def _row(name: str, method: str, err: float, ferr: float, calls: int, dt: float) -> None:
    print(f"{name:34s} {method:6s} {err:10.2e} {ferr:10.2e} {calls:10d} {dt:8.2f}")


def run_toys(lvhba_n: int, methods: tuple[str, ...]) -> None:
    """Print the toy table (problems whose shared record is absent are skipped)."""
    from problems.bilevel import toy_records
    from solvers.bilevel.api import solve_bilevel

    names = {r["name"] for r in toy_records()}
    print(f"{'problem':34s} {'method':6s} {'|x-x*|':>10s} {'|F-F*|':>10s} {'grad calls':>10s} "
          f"{'time (s)':>8s}")  # fmt: skip
    for name, (f, g, x0, y0, box, xs, fs, base) in _api_toys().items():
        if name not in names:
            continue
        for method in methods:
            opts = {**base, **SETTINGS[method]}
            if method != "kwon":
                opts.pop("outer_lr", None)
            t = time.perf_counter()
            res = solve_bilevel(f, g, x0, y0, x_bounds=box, method=method, seed=0, device="cpu",
                                **opts)  # fmt: skip
            _row(name, method, abs(res.values["x"][0] - xs), abs(res.objective - fs),
                 _calls(res.diagnostics.message or ""), time.perf_counter() - t)  # fmt: skip
    if "aipod_lvhba_coupled_equality_toy" in names:
        _lvhba(lvhba_n, methods)


def _lvhba(n: int, methods: tuple[str, ...]) -> None:
    import workbench
    from problems.bilevel.models import IR_MODELS
    from workbench.backends.registry import backend_names, register_backend

    if "bilevel_penalty" not in backend_names():
        register_backend("bilevel_penalty", "solvers.bilevel:BilevelPenaltyBackend")
    model = IR_MODELS["aipod_lvhba_coupled_equality_toy"](n=n)
    base = {"inner_lr": 0.5}
    kw = {"kwon": {"outer_lr": 0.1, "sigma_every": 10},
          "vpbgd": {k: v for k, v in SETTINGS["vpbgd"].items() if k != "inner_iters"},
          "bome": {"bome_lr": 0.1, "outer_iters": 3000, "inner_iters": 20}}  # fmt: skip
    for method in methods:
        t = time.perf_counter()
        res = workbench.solve(model, backend="bilevel_penalty", seed=0, device="cpu",
                              method=method, **base, **kw[method])  # fmt: skip
        err = max(abs(v + 0.3) for v in res.values["x"].values())
        _row(f"aipod_lvhba_coupled_eq (n={n})", method, err,
             abs((res.objective or 0.0) - 0.05 * n), _calls(res.diagnostics.message or ""),
             time.perf_counter() - t)  # fmt: skip


HC_SETTINGS: dict[str, dict[str, Any]] = {
    "kwon": {"outer_lr": 30.0, "momentum": 0.5},
    "vpbgd": {"gamma0": 1.0, "gamma_max": 100.0, "gamma_growth": 1.05, "vpbgd_lr": 1.0},
    "bome": {"bome_lr": 1.0, "inner_iters": 20},
}


def run_hc(args: argparse.Namespace) -> None:
    """Print the hyper-cleaning table: validation accuracy against upper-level steps."""
    from problems.bilevel.hypercleaning import (
        accuracy,
        cleaning_report,
        hypercleaning_problem,
        make_hypercleaning_data,
        train_weighted,
    )
    from solvers.bilevel.api import solve_bilevel
    from workbench.devices import resolve_device

    dev = resolve_device(args.device)
    name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu"
    data = make_hypercleaning_data(n_train=args.n_train, n_val=args.n_val,
                                   n_features=args.n_features, n_classes=args.n_classes,
                                   corruption=args.corruption, seed=args.seed, device=dev)  # fmt: skip
    base = accuracy(data, train_weighted(data))
    clean = accuracy(data, train_weighted(data, (~data.corrupted).to(data.x_train.dtype)))
    print(f"hyper-cleaning on {dev} ({name}): n_train={args.n_train}, n_val={args.n_val}, "
          f"d={args.n_features}, K={args.n_classes}, corrupted={args.corruption:.0%}, "
          f"batch={args.batch_size}, variant={args.variant}")  # fmt: skip
    print(f"val accuracy: unweighted {base:.3f}, trained on the clean samples only {clean:.3f}")
    every = max(1, args.outer_iters // 6)
    steps = list(range(every, args.outer_iters + 1, every))
    print(f"{'method':6s} " + " ".join(f"{'k=' + str(k):>7s}" for k in steps)
          + f" {'down':>6s} {'kept':>6s} {'s/step':>8s} {'grads':>8s}")  # fmt: skip
    for method in args.methods:
        accs: dict[int, float] = {}

        def cb(k: int, x: Any, y: Any, accs: dict[int, float] = accs) -> None:
            if k % every == 0:
                accs[k] = accuracy(data, y)

        if dev.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        spec = hypercleaning_problem(data, outer_iters=args.outer_iters, variant=args.variant,
                                     **HC_SETTINGS[method])  # fmt: skip
        res = solve_bilevel(**spec, method=method, batch_size=args.batch_size, seed=args.seed,
                            callback=cb)  # fmt: skip
        if dev.startswith("cuda"):
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t) / max(res.iterations, 1)
        x = torch.tensor(list(res.values["x"].values()), device=dev, dtype=data.x_train.dtype)
        rep = cleaning_report(data, x)
        print(f"{method:6s} " + " ".join(f"{accs.get(k, float('nan')):7.3f}" for k in steps)
              + f" {rep['corrupted_down']:6.2f} {rep['clean_kept']:6.2f} {dt:8.4f}"
              f" {_calls(res.diagnostics.message or ''):8d}")  # fmt: skip
    print("down = fraction of corrupted samples with weight < 0.5; kept = clean samples >= 0.5")


def main(argv: list[str] | None = None) -> None:
    """Parse the options and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("all", "toys", "hc"), default="all")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--lvhba-n", type=int, default=100, help="dimension of the LV-HBA toy")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--n-train", type=int, default=500)
    ap.add_argument("--n-val", type=int, default=200)
    ap.add_argument("--n-features", type=int, default=10)
    ap.add_argument("--n-classes", type=int, default=3)
    ap.add_argument("--corruption", type=float, default=0.4)
    ap.add_argument("--outer-iters", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--variant", choices=("double_loop", "single_loop"), default="single_loop")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.part in ("all", "toys"):
        run_toys(args.lvhba_n, tuple(args.methods))
    if args.part in ("all", "hc"):
        run_hc(args)


if __name__ == "__main__":
    main()
