"""TorchForm on CPU and on CUDA, side by side: objective, constraints and a gradient.

Builds the dense transport model (the one in ``benchmarks/modeling.py``) with
``--nnz`` constraint nonzeros, compiles it once to a :class:`TorchForm` per
device and times ``f(x)``, ``c_ineq(x)`` and the gradient of
``f(x) + ||max(c_ineq(x), 0)||^2`` (a penalty step, as the gradient-based
backends use).  Prints seconds per evaluation and the CPU/GPU ratio; it asserts
nothing.

Run: ``python benchmarks/torch_form.py [--nnz 1000000] [--repeat 20]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import modeling  # noqa: E402  (the transport generator, shared with the modelling benchmark)


def bench(device: str, nnz: int, repeat: int) -> tuple[float, float]:
    import torch

    from workbench.compile.torch_form import compile_torch

    ni, nj = modeling.dims(nnz)
    cost, supply, demand = modeling.data(ni, nj)
    t0 = time.perf_counter()
    tf = compile_torch(modeling.ir_model(cost, supply, demand), device=device)
    build = time.perf_counter() - t0
    x = torch.full((tf.n,), 0.01, dtype=tf.dtype, device=tf.device, requires_grad=True)

    def step() -> None:
        if x.grad is not None:
            x.grad = None
        loss = tf.f(x) + torch.clamp(tf.c_ineq(x), min=0).pow(2).sum()
        loss.backward()

    for _ in range(3):
        step()
    if tf.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeat):
        step()
    if tf.device.startswith("cuda"):
        torch.cuda.synchronize()
    return build, (time.perf_counter() - t0) / repeat


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nnz", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}; devices: {', '.join(devices)}; nnz {args.nnz:,}")
    times = {}
    for d in devices:
        build, per = bench(d, args.nnz, args.repeat)
        times[d] = per
        print(f"{d:>5}: build {build:.3f} s, one f + c_ineq + backward {per * 1000:.2f} ms")
    if "cuda" in times:
        print(f"CPU/GPU ratio per evaluation: {times['cpu'] / times['cuda']:.1f}x")
    else:
        print("no CUDA device here: run it on a GPU machine for the ratio")


if __name__ == "__main__":
    main()
