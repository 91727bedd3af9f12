"""Two-stage robust capital budgeting (Subramanyam, Gounaris & Wiesemann 2020), as in Neur2RO.

- First stage: ``x`` in {0,1}^n, the projects started now.
- Uncertainty: ``xi`` in [-1,1]^4, the risk factors.
- Second stage: ``y`` in {0,1}^n, the projects started late (at revenue
  discount ``k = 0.8``), with ``x + y <= 1``.
- Costs ``c_i(xi) = (1 + phi_i.xi / 2) cbar_i`` and revenues
  ``r_i(xi) = (1 + psi_i.xi / 2) rbar_i``; budget ``sum c_i(xi) (x_i + y_i) <= B``
  for every scenario.  No loans.
- Objective (minimised, negative profit): ``- sum r_i(xi) (x_i + k y_i)``.

Instances (``seed n xi_dim budget max_loan``, then cbar, rbar, the n rows of
phi and the n rows of psi) are read from
``two_stage_ro/capital_budgeting/neur2ro_CB_eval_instances.tar.gz`` in place.
"""

from __future__ import annotations

import tarfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.errors import ModelError
from workbench.ir.io import model_from_dict
from workbench.ir.model import Model

__all__ = [
    "CB_TAR",
    "CapitalBudgetingInstance",
    "cb_model",
    "generate_cb",
    "iter_cb_instances",
    "parse_cb",
]

CB_TAR = "two_stage_ro/capital_budgeting/neur2ro_CB_eval_instances.tar.gz"
"""The instance archive, relative to the shared data directory."""

LATE_DISCOUNT = 0.8


@dataclass(frozen=True)
class CapitalBudgetingInstance:
    """One capital-budgeting instance: ``n`` projects, ``phi``/``psi`` of shape ``(n, xi_dim)``."""

    name: str
    budget: float
    cbar: np.ndarray
    rbar: np.ndarray
    phi: np.ndarray
    psi: np.ndarray
    k: float = LATE_DISCOUNT
    seed: int = 0

    @property
    def n(self) -> int:
        """Number of projects."""
        return int(self.cbar.size)

    @property
    def xi_dim(self) -> int:
        """Number of risk factors."""
        return int(self.phi.shape[1])


def parse_cb(text: str, name: str = "cb") -> CapitalBudgetingInstance:
    """Parse the Neur2RO capital-budgeting text format.

    Raises
    ------
    ModelError
        When the numbers do not fit the format (the message says where).
    """
    lines = [ln.split() for ln in text.strip().splitlines() if ln.strip()]
    try:
        head = [float(t) for t in lines[0]]
        seed, n, d, budget = int(head[0]), int(head[1]), int(head[2]), head[3]
        if len(lines) < 3 + 2 * n:
            raise ModelError(
                f"expected {3 + 2 * n} non-empty lines (header, cbar, rbar, {n} rows of phi "
                f"and {n} of psi for n={n}); got {len(lines)}",
                name,
            )
        cbar = np.array([float(t) for t in lines[1]])
        rbar = np.array([float(t) for t in lines[2]])
        phi = np.array([[float(t) for t in ln] for ln in lines[3 : 3 + n]])
        psi = np.array([[float(t) for t in ln] for ln in lines[3 + n : 3 + 2 * n]])
    except (IndexError, ValueError) as e:
        raise ModelError(f"not a capital-budgeting instance: {e}", name) from e
    if cbar.size != n or rbar.size != n or phi.shape != (n, d) or psi.shape != (n, d):
        raise ModelError(
            f"expected n={n} costs, revenues and {n} x {d} phi and psi rows; got "
            f"{cbar.size}, {rbar.size}, {phi.shape}, {psi.shape}",
            name,
        )
    return CapitalBudgetingInstance(name, budget, cbar, rbar, phi, psi, seed=seed)


def iter_cb_instances(
    data_dir: str | Path, *, names: Collection[str] | None = None
) -> Iterator[CapitalBudgetingInstance]:
    """Yield the instances of the archive under *data_dir*, sorted by name, read in place.

    Parameters
    ----------
    data_dir
        The shared data directory.
    names
        Only these instance names (file names such as ``CB_n10_xi4_s0``);
        ``None`` for all.  Members are filtered by name before they are read,
        and the gzip stream is read once, front to back (reading members out
        of archive order makes gzip rewind and decompress again: minutes
        instead of a fraction of a second).

    Raises
    ------
    FileNotFoundError
        When the archive is missing.
    """
    path = Path(data_dir) / CB_TAR
    if not path.is_file():
        raise FileNotFoundError(f"no capital-budgeting archive at {path}; set WORKBENCH_DATA")
    wanted = None if names is None else set(names)
    texts: dict[str, str] = {}
    with tarfile.open(path, "r|gz") as tar:  # a stream: members in archive order
        for m in tar:
            base = m.name.rsplit("/", 1)[-1]
            if not m.isfile() or not base.startswith("CB_"):
                continue
            if wanted is not None and base not in wanted:
                continue
            f = tar.extractfile(m)
            if f is not None:
                texts[base] = f.read().decode()
    for base in sorted(texts):
        yield parse_cb(texts[base], base)


def cb_model(inst: CapitalBudgetingInstance) -> Model:
    """The instance as a two-stage robust IR model (objective: negative profit)."""
    n, d = inst.n, inst.xi_dim

    def mat(a: np.ndarray) -> dict[str, object]:
        return {"index": ["I", "F"], "values": [[float(v) for v in row] for row in a]}

    return model_from_dict(
        {
            "name": inst.name,
            "description": "two-stage robust capital budgeting (Subramanyam et al.); "
            "minimise negative profit",
            "sets": {"I": {"range": [1, n]}, "F": {"range": [1, d]}},
            "params": {
                "cbar": {"index": ["I"], "values": [float(v) for v in inst.cbar]},
                "rbar": {"index": ["I"], "values": [float(v) for v in inst.rbar]},
                "phi": mat(inst.phi),
                "psi": mat(inst.psi),
                "B": float(inst.budget),
                "k": float(inst.k),
            },
            "variables": {
                "x": {"index": ["I"], "domain": "binary"},
                "y": {"index": ["I"], "domain": "binary"},
                "xi": {"index": ["F"], "lb": -1, "ub": 1},
            },
            "objective": {
                "sense": "min",
                "expr": "-sum(rbar[i] * (1 + 0.5 * sum(psi[i, f] * xi[f] for f in F))"
                " * (x[i] + k * y[i]) for i in I)",
            },
            "constraints": [
                {
                    "name": "budget",
                    "expr": "sum(cbar[i] * (1 + 0.5 * sum(phi[i, f] * xi[f] for f in F))"
                    " * (x[i] + y[i]) for i in I) <= B",
                },
                {"name": "once", "for": "i in I", "expr": "x[i] + y[i] <= 1"},
            ],
            "robust": {
                "first_stage": ["x"],
                "second_stage": ["y"],
                "uncertain": ["xi"],
                "uncertainty_set": {"constraints": []},
            },
        }
    )


def generate_cb(n: int, seed: int, *, xi_dim: int = 4) -> CapitalBudgetingInstance:
    """A synthetic instance after Subramanyam et al.'s recipe, as Neur2RO's instances show it.

    ``cbar ~ U[0, 10]``, ``rbar = cbar / 5``, ``B = sum(cbar) / 2``; ``phi_i`` and
    ``psi_i`` are points of the unit simplex (uniform, Dirichlet(1)).  The
    archive's instances fit these relations (``rbar = cbar / 5``, ``B = sum/2``,
    rows summing to 1); the random generator itself differs, so instances with
    the same seed are not the published ones.
    """
    if n < 1 or xi_dim < 1:
        raise ValueError(f"n and xi_dim must be >= 1, got n={n}, xi_dim={xi_dim}")
    rng = np.random.default_rng(seed)
    cbar = rng.uniform(0.0, 10.0, n)
    return CapitalBudgetingInstance(
        f"CB_gen_n{n}_s{seed}",
        float(cbar.sum() / 2),
        cbar,
        cbar / 5,
        rng.dirichlet(np.ones(xi_dim), n),
        rng.dirichlet(np.ones(xi_dim), n),
        seed=seed,
    )
