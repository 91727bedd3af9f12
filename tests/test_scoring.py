"""Scoring rules: strict, dataset rules, labels and primal gaps."""

from __future__ import annotations

import pytest

from workbench.scoring import parse_rule, primal_gap, score


def res(term: str = "optimal", obj: float | None = 10.0) -> dict:
    return {"termination": term, "objective": obj}


def test_strict_and_dataset_rules():
    s = score(res(obj=10.0 + 5e-6), reference=10.0, rule="orthought")
    assert s["correct"] is True and s["correct_rule"] is True  # 5e-6/10 <= 1e-6 relative
    s = score(res(obj=10.005), reference=10.0, rule="orthought")
    assert s["correct"] is False and s["correct_rule"] is True  # abs 0.005 < 0.01
    assert score(res(obj=10.02), reference=10.0, rule="orthought")["correct_rule"] is False
    assert score(res(obj=1000.05), reference=1000.0, rule="mamo")["correct_rule"] is True
    assert score(res(obj=1000.2), reference=1000.0, rule="rel<=1e-4")["correct_rule"] is False
    s = score(res(obj=0.5e-6), reference=0.0)
    assert s["correct"] is True and s["rel_error"] == pytest.approx(0.5e-6)  # max(1, |ref|) scale


def test_labels_and_failures():
    assert score(res("infeasible", None), reference=None, status="infeasible")["correct"] is True
    assert score(res("optimal", 3.0), reference=None, status="infeasible")["correct"] is False
    assert score(res("infeasible_or_unbounded", None), reference=None, status="unbounded")[
        "correct"
    ]
    s = score(None, reference=5.0)
    assert s["executed"] is False and s["correct"] is False and s["primal_gap"] == 1.0
    s = score(res("error", None), reference=5.0)
    assert s["executed"] is False and s["correct"] is False
    assert score(res(), reference=None, status="unknown")["correct"] is None


def test_primal_gap_and_rule_parsing():
    assert primal_gap(10.0, 10.0) == 0.0
    assert primal_gap(None, 10.0) == 1.0
    assert primal_gap(-1.0, 1.0) == 1.0
    assert primal_gap(9.0, 10.0) == pytest.approx(0.1)
    assert parse_rule("abs<0.01") == ("abs", 0.01, True)
    assert parse_rule("rel <= 1e-4") == ("rel", 1e-4, False)
    with pytest.raises(ValueError, match="unknown scoring rule"):
        parse_rule("close enough")


def test_best_known_reference_gives_gap_but_no_verdict():
    s = score(res(obj=212.0), reference=200.0, status="unknown")
    assert s["correct"] is None and s["primal_gap"] == pytest.approx(12 / 212)
    s = score(res("infeasible", None), reference=200.0, status="unknown")
    assert s["correct"] is None and s["primal_gap"] == 1.0


def test_every_published_rule_is_reported():
    s = score(res(obj=1000.05), reference=1000.0, rule="mamo")
    assert s["rules"] == {"strict": False, "mamo": True, "orthought": False, "orlm": True}
    s = score(res(obj=96.0), reference=100.4, rule="orlm")  # 96 vs round(100.4)=100: 4% off
    assert s["rules"]["orlm"] is True and s["correct_rule"] is True and s["rules"]["mamo"] is False
    assert score(res(obj=94.0), reference=100.0)["rules"]["orlm"] is False


def test_no_optimum_label_is_correct_only_for_no_optimum_outcomes():
    assert score(res("infeasible", None), reference=None, status="no_optimum")["correct"] is True
    assert score(res("unbounded", None), reference=None, status="no_optimum")["rules"]["orthought"]
    assert score(res("optimal", 5.0), reference=None, status="no_optimum")["correct"] is False
