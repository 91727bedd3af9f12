"""IR versions of the bilevel test problems (written here; the toy data stay in the shared folder).

Each builder returns a model dict for :func:`workbench.ir.model_from_dict`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IR_MODELS", "LINEAR_CLASSICS"]


def shen_chen_toy_1d(x0: float = 1.0) -> dict[str, Any]:
    """Shen & Chen's V-PBGD toy: y*(x) = -x, global minimum at x = 1.21514548."""
    return {
        "name": "shen_chen_toy_1d",
        "variables": {"x": {"lb": 0, "ub": 3, "init": x0}, "y": {}},
        "objective": {"expr": "cos(4*y + 2) / (1 + exp(2 - 4*x)) + 0.5*log((4*x - 2)**2 + 1)"},
        "lower_level": {
            "variables": ["y"],
            "objective": {"expr": "(x + y)**2 + x*sin(x + y)**2"},
        },
    }


def bome_toy_nonsingleton_ll() -> dict[str, Any]:
    """BOME's toy with a non-singleton lower-level solution set; optimum F = 0 at w = 1."""
    return {
        "name": "bome_toy_nonsingleton_ll",
        "variables": {"w": {"lb": -100, "ub": 100, "init": 3.0}, "x1": {}, "x2": {}},
        "objective": {"expr": "0.5*(w - x2)**2 + 0.5*(x1 - 1)**2"},
        "lower_level": {"variables": ["x1", "x2"], "objective": {"expr": "0.5*x1**2 - w*x1"}},
    }


def aipod_lvhba_coupled_equality_toy(n: int = 100) -> dict[str, Any]:
    """The LV-HBA toy with a coupled lower-level equality; x* = -0.3, y1* = 0.7, y2* = -0.4."""
    return {
        "name": "aipod_lvhba_coupled_equality_toy",
        "sets": {"I": {"range": [1, n]}},
        "variables": {"x": {"index": ["I"]}, "y1": {"index": ["I"]}, "y2": {"index": ["I"]}},
        "objective": {"expr": "sum(0.5*(x[i] - y2[i])**2 + 0.5*(y1[i] - 1)**2 for i in I)"},
        "lower_level": {
            "variables": ["y1", "y2"],
            "objective": {"expr": "sum(0.5*y1[i]**2 - x[i]*y1[i] + y2[i] for i in I)"},
            "constraints": [
                {"name": "coupling", "expr": "sum(x[i] + y1[i] + y2[i] for i in I) == 0"}
            ],
        },
    }


def bard_textbook() -> dict[str, Any]:
    """Bard (1998, Practical Bilevel Optimization, Example 5.1.1): (x, y) = (4, 4), F = -12."""
    return {
        "name": "bard_linear",
        "variables": {"x": {"lb": 0}, "y": {"lb": 0}},
        "objective": {"expr": "x - 4*y"},
        "lower_level": {
            "variables": ["y"],
            "objective": {"expr": "y"},
            "constraints": [
                {"name": "c1", "expr": "-x - y <= -3"},
                {"name": "c2", "expr": "-2*x + y <= 0"},
                {"name": "c3", "expr": "2*x + y <= 12"},
                {"name": "c4", "expr": "3*x - 2*y <= 4"},
            ],
        },
    }


def candler_townsley() -> dict[str, Any]:
    """Candler & Townsley (1982): x = (0, 0.9), y = (0, 0.6, 0.4), F = -29.2."""
    return {
        "name": "candler_townsley",
        "sets": {"I": {"range": [1, 2]}, "J": {"range": [1, 3]}},
        "variables": {"x": {"index": ["I"], "lb": 0}, "y": {"index": ["J"], "lb": 0}},
        "objective": {"expr": "-8*x[1] - 4*x[2] + 4*y[1] - 40*y[2] - 4*y[3]"},
        "lower_level": {
            "variables": ["y"],
            "objective": {"expr": "x[1] + 2*x[2] + y[1] + y[2] + 2*y[3]"},
            "constraints": [
                {"name": "r1", "expr": "-y[1] + y[2] + y[3] <= 1"},
                {"name": "r2", "expr": "2*x[1] - y[1] + 2*y[2] - 0.5*y[3] <= 1"},
                {"name": "r3", "expr": "2*x[2] + 2*y[1] - y[2] - 0.5*y[3] <= 1"},
            ],
        },
    }


def linear_tent() -> dict[str, Any]:
    """A small linear bilevel problem written here: y*(x) = min(x, 4 - x); x = y = 2, F = -2."""
    return {
        "name": "linear_tent",
        "variables": {"x": {"lb": 0, "ub": 4, "init": 0.5}, "y": {"lb": 0}},
        "objective": {"expr": "x - 2*y"},
        "lower_level": {
            "variables": ["y"],
            "objective": {"sense": "max", "expr": "y"},
            "constraints": [
                {"name": "below_x", "expr": "y <= x"},
                {"name": "below_4_minus_x", "expr": "y <= 4 - x"},
            ],
        },
    }


IR_MODELS = {
    "shen_chen_toy_1d": shen_chen_toy_1d,
    "bome_toy_nonsingleton_ll": bome_toy_nonsingleton_ll,
    "aipod_lvhba_coupled_equality_toy": aipod_lvhba_coupled_equality_toy,
}
"""Toy problem name (as in the shared JSON) -> IR builder."""

LINEAR_CLASSICS = {
    "bard_linear": (bard_textbook, -12.0, {"x": 4.0, "y": 4.0}),
    "linear_tent": (linear_tent, -2.0, {"x": 2.0, "y": 2.0}),
    "candler_townsley": (
        candler_townsley,
        -29.2,
        {"x": {1: 0.0, 2: 0.9}, "y": {1: 0.0, 2: 0.6, 3: 0.4}},
    ),
}
"""Linear classics: builder, known optimum, known solution."""
