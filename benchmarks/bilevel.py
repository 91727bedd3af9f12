"""Bilevel benchmark: Kwon-penalty vs V-PBGD vs BOME on the toy problems.

Prints, per toy problem and method: the error to the known optimum (leader
variables, max-abs), |F - F*|, gradient (oracle) calls and time.  No timed
assertions.  Run: ``python benchmarks/bilevel.py``.
"""

from __future__ import annotations

import time

import torch

from problems.bilevel import toy_records
from solvers.bilevel.api import solve_bilevel

SETTINGS = {
    "kwon": {"sigma_every": 10, "inner_iters": 200},
    "vpbgd": {"gamma0": 1.0, "gamma_max": 1000.0, "gamma_growth": 1.05, "vpbgd_lr": 0.5,
              "outer_iters": 3000, "inner_iters": 50},
    "bome": {"bome_lr": 0.05, "outer_iters": 3000, "inner_iters": 20},
}  # fmt: skip


def _toys() -> dict[str, tuple]:
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


def main() -> None:
    """Print the comparison table."""
    names = {r["name"] for r in toy_records()}
    print(f"{'problem':28s} {'method':6s} {'|x-x*|':>10s} {'|F-F*|':>10s} {'grad calls':>10s} "
          f"{'time (s)':>8s}")  # fmt: skip
    for name, (f, g, x0, y0, box, xs, fs, base) in _toys().items():
        if name not in names:
            continue
        calls = {}
        for method, kw in SETTINGS.items():
            opts = {**base, **kw}
            if method != "kwon":
                opts.pop("outer_lr", None)
            t = time.perf_counter()
            res = solve_bilevel(f, g, x0, y0, x_bounds=box, method=method, seed=0, device="cpu",
                                **opts)  # fmt: skip
            dt = time.perf_counter() - t
            msg = res.diagnostics.message or ""
            nf = int(msg.split("f=")[1].split(",")[0])
            ng = int(msg.split("g=")[-1].split(";")[0])
            calls[method] = nf + ng
            print(f"{name:28s} {method:6s} {abs(res.values['x'][0] - xs):10.2e} "
                  f"{abs(res.objective - fs):10.2e} {nf + ng:10d} {dt:8.2f}")  # fmt: skip
        print(f"{'':28s} grad-call ratio kwon/vpbgd = {calls['kwon'] / calls['vpbgd']:.2f}")
    print(
        "aipod_lvhba_coupled_equality_toy: see the IR test (coupled constraint needs the IR "
        "projection); hyper-cleaning and the GPU ratio are not benchmarked yet"
    )


if __name__ == "__main__":
    main()
