"""Train the shipped neur2ro models: two-stage robust knapsack and capital budgeting.

``--family cb`` trains the capital-budgeting model instead, on instances
generated after Subramanyam et al.'s recipe (:func:`problems.robust.generate_cb`:
``cbar ~ U[0, 10]``, ``rbar = cbar / 5``, ``B = sum(cbar) / 2``, simplex rows
``phi``/``psi``, four risk factors), never on the benchmark's instances.

Training instances are *generated* (never the benchmark's instances), with
the generator of Arslan & Detienne as read off their instance files: weights
``c ~ U{1..R}``; nominal profits by correlation type (UN: ``U{1..R}``, WC:
``c ± R/10``, ASC: ``c + R/10 ± R/500``, SC: ``c + R/10``); degradations
``phat = pbar · U(a, a + 0.5)``; repair weights ``t = c · U(0, 1)``; outsourcing
costs ``f = pbar · U(1.1, 1.5)``; capacity ``h · sum(c)`` with ``h`` in {0.4, 0.8};
budget ``Gamma = n · {0.1, 0.15, 0.2}``.  Each instance gets sampled (x, xi)
pairs labelled by HiGHS over worker processes; the network trains on
``--device`` and the script prints the data-generation and training time.

Run (about a minute on 16 cores; several on 2)::

    python benchmarks/neur2ro_train.py --instances 96 --samples 150 --device auto

The shipped model (datagen 145.5 s + training 693.2 s on 2 shared CPU cores)::

    python benchmarks/neur2ro_train.py --strategy targeted --sizes 20 40 60 80 \
        --instances 80 --samples 120 --seed 1 --train-time-limit 690 \
        --opts '{"phi_hidden":[32],"embed_dim":16,"value_hidden":[64],"batch_size":256}'

``--data-cache FILE`` keeps the labelled pairs (a pickle this script wrote) to
train again without a new datagen.  ``--opts '{"contract": true}'`` trains capital
budgeting with the per-item contractions ``phi_i . xi``, ``psi_i . xi``
(``z_mode="contract"``) instead of xi as one global vector.
    python benchmarks/neur2ro_train.py --device cuda --compare-cpu   # GPU/CPU training ratio
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import numpy as np

from problems.robust.capital_budgeting import cb_model, generate_cb
from problems.robust.knapsack import KnapsackInstance, knapsack_model
from solvers.neur2ro import store
from solvers.neur2ro.datagen import generate
from solvers.neur2ro.options import neur2ro_options
from solvers.neur2ro.train import train

CORRELATIONS = ("UN", "WC", "ASC", "SC")
PRETRAINED = Path(__file__).resolve().parents[1] / "solvers" / "neur2ro" / "pretrained"
OUT = {"knapsack": PRETRAINED / "knapsack.npz", "cb": PRETRAINED / "capital_budgeting.npz"}


def generate_instance(
    rng: np.random.Generator, n: int, corr: str, R: int = 1000
) -> KnapsackInstance:
    """One synthetic knapsack instance of the Arslan–Detienne distribution."""
    c = rng.integers(1, R + 1, n).astype(float)
    if corr == "UN":
        pbar = rng.integers(1, R + 1, n).astype(float)
    elif corr == "WC":
        pbar = np.maximum(1.0, c + rng.integers(-R // 10, R // 10 + 1, n))
    elif corr == "ASC":
        pbar = c + R // 10 + rng.integers(-R // 500, R // 500 + 1, n)
    else:
        pbar = c + R // 10
    a = rng.uniform(0.0, 0.5)
    phat = np.round(pbar * rng.uniform(a, a + 0.5, n))
    t = np.maximum(1.0, np.round(c * rng.uniform(0.0, 1.0, n)))
    f = np.round(pbar * rng.uniform(1.1, 1.5, n))
    h = rng.choice([0.4, 0.8])
    gamma = n * rng.choice([0.1, 0.15, 0.2])
    name = f"GEN_{corr}_n{n}_{int(rng.integers(1 << 30))}"
    return KnapsackInstance(name, float(np.round(h * c.sum())), float(gamma), pbar, phat, t, c, f)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=96, help="generated training instances")
    ap.add_argument("--samples", type=int, default=150, help="labelled pairs per instance")
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 30, 40, 50, 60, 70, 80])
    ap.add_argument("--workers", type=int, default=None, help="labelling processes (default: all)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument(
        "--strategy",
        default="targeted",
        choices=["uniform", "targeted"],
        help="datagen sampling (targeted: near-good x, scenarios aimed at the chosen items)",
    )
    ap.add_argument("--train-time-limit", type=float, default=None, help="seconds of training")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--family", default="knapsack", choices=sorted(OUT))
    ap.add_argument("--out", type=Path, default=None, help="default: the shipped model's file")
    ap.add_argument(
        "--data-cache",
        type=Path,
        default=None,
        help="pickle of the labelled data: read when it exists (no datagen), else written",
    )
    ap.add_argument(
        "--compare-cpu", action="store_true", help="also train on the CPU, print the ratio"
    )
    ap.add_argument(
        "--opts",
        action="append",
        default=None,
        help="JSON of neur2ro options (network sizes, lr); repeat to compare, best kept",
    )
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    if args.family == "cb":
        seeds = rng.integers(1 << 30, size=args.instances)
        models = [
            cb_model(generate_cb(args.sizes[k % len(args.sizes)], int(seeds[k])))
            for k in range(args.instances)
        ]
    else:
        insts = [
            generate_instance(
                rng, args.sizes[k % len(args.sizes)], CORRELATIONS[(k // len(args.sizes)) % 4]
            )
            for k in range(args.instances)
        ]
        models = [knapsack_model(i) for i in insts]
    if args.data_cache is not None and args.data_cache.exists():
        with args.data_cache.open("rb") as fh:
            data = pickle.load(fh)  # your own cache file from an earlier run
        print(f"datagen: read {args.data_cache} (its datagen time is the recorded one)")
    else:
        data = generate(models, samples_per_instance=args.samples, seed=args.seed,
                        workers=args.workers, strategy=args.strategy)  # fmt: skip
        if args.data_cache is not None:
            with args.data_cache.open("wb") as fh:
                pickle.dump(data, fh)
    print(
        f"datagen: {data.labels.size} labelled pairs from {len(models)} instances in "
        f"{data.seconds:.1f} s on {data.workers} worker(s) ({data.infeasible} infeasible)"
    )
    best = None
    for text in args.opts or ["{}"]:
        base: dict[str, object] = {"epochs": args.epochs}
        if args.train_time_limit is not None:
            base["train_time_limit"] = args.train_time_limit
        opts = neur2ro_options({**base, **json.loads(text)})
        net, stats = train(data, opts, seed=args.seed, device=args.device)
        print(
            f"train {text}: {stats.seconds:.1f} s on {stats.device}, {stats.epochs} epochs, "
            f"val MAE {stats.val_mae:.2f} ({100 * stats.val_rel_mae:.2f}% of mean |Q|)"
        )
        if best is None or stats.val_mae < best[1].val_mae:
            best = (net, stats, opts)
    assert best is not None
    net, stats, opts = best
    if args.compare_cpu and stats.device != "cpu":
        t0 = time.perf_counter()
        _, cpu = train(data, opts, seed=args.seed, device="cpu")
        print(
            f"train on cpu: {cpu.seconds:.1f} s, {cpu.epochs} epochs "
            f"({time.perf_counter() - t0:.1f} s wall); per-epoch ratio cpu/{stats.device} = "
            f"{(cpu.seconds / cpu.epochs) / (stats.seconds / stats.epochs):.2f}"
        )
    key = store.family_key(models[0])
    net.meta.update(
        datagen_s=data.seconds, train_s=stats.seconds, train_device=stats.device,
        instances=len(models), samples=int(data.labels.size),
        generator="subramanyam_like" if args.family == "cb" else "arslan_detienne_like",
        strategy=args.strategy, sizes=list(args.sizes),
    )  # fmt: skip
    path = store.save_model(net, args.out or OUT[args.family], family=key)
    print(f"saved {path} ({path.stat().st_size / 1024:.0f} KiB), family {key}")


if __name__ == "__main__":
    main()
