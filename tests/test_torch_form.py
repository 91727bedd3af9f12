"""TorchForm: values, conventions and gradients agree with direct computation."""

from __future__ import annotations

import numpy as np
import pytest

import workbench

torch = pytest.importorskip("torch")
from workbench.compile.torch_form import compile_torch  # noqa: E402

NLP = """
sets: {I: {range: [1, 3]}}
params: {a: {index: [I], values: [1.0, 2.0, 0.5]}}
variables:
  x: {index: [I], lb: -2, ub: 3, init: 0.5}
  y: {lb: 0.1, init: 1}
objective: {sense: max, expr: "sum(a[i] * log(x[i] + 3) for i in I) - y**2 + exp(-y) * sqrt(y)"}
constraints:
  - {name: ball, expr: "sum(x[i]**2 for i in I) <= 4"}
  - {name: eq, expr: "x[1] + 2 * x[2] == y"}
  - {name: box, for: "i in I", expr: "-1 <= x[i] - y <= 1"}
"""


def direct(xv: np.ndarray):
    x, y = xv[:3], xv[3]
    a = np.array([1.0, 2.0, 0.5])
    obj = (a * np.log(x + 3)).sum() - y**2 + np.exp(-y) * np.sqrt(y)
    return (
        obj,
        np.array([x[0] + 2 * x[1] - y]),
        np.concatenate([[np.sum(x**2) - 4], x - y - 1, -1 - (x - y)]),
    )


def test_values_match_numpy_and_conventions():
    tf = compile_torch(workbench.load_model(NLP), device="cpu")
    assert tf.n == 4 and tf.sense == "max" and tf.device == "cpu"
    np.testing.assert_allclose(tf.x0.numpy(), [0.5, 0.5, 0.5, 1.0])
    xv = np.array([0.3, -0.4, 1.2, 0.7])
    x = torch.tensor(xv, dtype=torch.float64)
    obj, ceq, cin = direct(xv)
    assert float(tf.objective(x)) == pytest.approx(obj)
    assert float(tf.f(x)) == pytest.approx(-obj)  # minimisation form
    np.testing.assert_allclose(tf.c_eq(x).numpy(), ceq)
    np.testing.assert_allclose(tf.c_ineq(x).numpy(), cin)
    np.testing.assert_array_equal(tf.lb.numpy(), [-2, -2, -2, 0.1])


def test_gradient_matches_finite_differences():
    tf = compile_torch(workbench.load_model(NLP), device="cpu")
    xv = np.array([0.3, -0.4, 1.2, 0.7])
    x = torch.tensor(xv, dtype=torch.float64, requires_grad=True)
    tf.f(x).backward()
    eps = 1e-6
    fd = np.array(
        [(direct(xv + eps * e)[0] - direct(xv - eps * e)[0]) / (2 * eps) for e in np.eye(4)]
    )
    np.testing.assert_allclose(x.grad.numpy(), -fd, rtol=1e-6, atol=1e-8)
    jac = torch.autograd.functional.jacobian(tf.c_ineq, x.detach())
    assert jac.shape == (7, 4)
    np.testing.assert_allclose(jac[0].numpy(), 2 * np.r_[xv[:3], 0])


def test_values_by_variable_and_masks():
    tf = compile_torch(workbench.load_model(NLP), device="auto")
    vals = tf.values_by_variable(torch.arange(4, dtype=torch.float64))
    assert vals == {"x": {1: 0.0, 2: 1.0, 3: 2.0}, "y": 3.0}
    assert tf.mask(["y"]).tolist() == [False, False, False, True]


def test_bilevel_pieces():
    m = workbench.load_model(
        "variables: {x: {lb: 0, ub: 2}, y: {lb: 0}}\nobjective: {expr: '(x - 1)**2 + y**2'}\n"
        "lower_level: {variables: [y], objective: {sense: max, expr: '-(y - x)**2'}, "
        "constraints: [{name: ycap, expr: 'y <= 3'}]}"
    )
    tf = compile_torch(m, device="cpu")
    x = torch.tensor([1.5, 0.5], dtype=torch.float64)
    assert float(tf.g(x)) == pytest.approx(1.0)  # min form of max -(y-x)^2
    np.testing.assert_allclose(tf.lower_c_ineq(x).numpy(), [0.5 - 3])


@pytest.mark.gpu
def test_runs_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    tf = compile_torch(workbench.load_model(NLP), device="cuda")
    x = tf.x0.clone().requires_grad_(True)
    tf.f(x).backward()
    assert x.grad.device.type == "cuda"


def test_first_evaluation_inside_torch_func_transform_is_safe():
    """Functional transforms (jacrev, hessian) work, and plain calls still work after them."""
    tf = compile_torch(workbench.load_model(NLP), device="cpu")
    x = torch.tensor([0.3, -0.4, 1.2, 0.7], dtype=torch.float64)
    jac = torch.func.jacrev(tf.c_ineq)(x)
    hess = torch.func.hessian(tf.f)(x)
    assert jac.shape == (7, 4) and hess.shape == (4, 4)
    assert torch.allclose(hess, hess.T)
    again = tf.c_ineq(x)  # the cached tensors must not be tied to the transform
    assert again.shape == (7,)
