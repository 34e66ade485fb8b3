"""Many class-vs-rest logistic-regression probes at once, by batched Newton's method.

The probes of a grid (16 cells of one class and layer) share their images, labels and
standardisation and differ only in which columns they see. Each is the same problem as
scikit-learn's `LogisticRegression(class_weight="balanced")` (L2 penalty with C = 1 on the
weights, unpenalised intercept, lbfgs) on `StandardScaler`-ed features:

    minimise  sum_i s_i * (softplus(z_i) - y_i z_i) + 0.5 * ||w||^2,   z = X w + b,
    s_i = n / (2 n_{y_i})                                               (balanced weights)

The objective is strictly convex in w (and in b where both classes occur), so it has one
minimiser; Newton's method with a backtracking line search reaches it to ~1e-10 in a few
steps, for all cells in one batched solve (cells padded to the largest with zero columns, which
the penalty keeps at 0). scikit-learn stops lbfgs at tol 1e-4, so predictions can differ on
images that lie on the decision boundary; the scores agree to within 0.01 balanced accuracy on
every example cell (tests/test_probes.py).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

MAX_NEWTON_STEPS = 60
GRAD_TOLERANCE = 1e-9
MAX_BATCHED_COLUMNS = 1024     # larger cells go to scikit-learn's lbfgs (a Newton step is cubic in width)


def standardise(fit: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """StandardScaler: centre and scale by the fit rows' mean and (population) standard deviation;
    constant columns are only centred."""
    mean = fit.mean(axis=0)
    scale = fit.std(axis=0)
    scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))] = 1.0
    return [(x - mean) / scale for x in (fit,) + others]


def _objective(design, theta, y, weights, penalty):
    z = torch.einsum("gnk,gk->gn", design, theta)
    loss = (weights * (torch.nn.functional.softplus(z) - y * z)).sum(1)
    return loss + 0.5 * (penalty * theta * theta).sum(1), z


def fit_logistic(x: np.ndarray, y: np.ndarray, subsets: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """One (len(subset) + 1,) parameter vector (weights, then intercept) per column subset of the
    standardised features `x` (N, U), for binary labels `y` (N,) with balanced class weights."""
    labels = torch.as_tensor(y, dtype=torch.float64)
    n = len(y)
    positives = float(labels.sum())
    weights = torch.where(labels > 0, n / (2 * positives), n / (2 * (n - positives)))
    features = torch.as_tensor(x, dtype=torch.float64)
    if any(len(s) > MAX_BATCHED_COLUMNS for s in subsets):
        raise ValueError(f"batched probes take at most {MAX_BATCHED_COLUMNS} columns a subset")
    width = max(len(columns) for columns in subsets)
    design = torch.zeros(len(subsets), n, width + 1, dtype=torch.float64)
    for row, columns in enumerate(subsets):
        design[row, :, :len(columns)] = features[:, list(columns)]
    design[:, :, width] = 1.0                  # the intercept's column, unpenalised
    penalty = torch.ones(width + 1, dtype=torch.float64)
    penalty[width] = 0.0
    theta = _newton(design, labels, weights, penalty)
    return [np.concatenate([theta[row, :len(columns)].numpy(), theta[row, width:].numpy()])
            for row, columns in enumerate(subsets)]


def _newton(design, y, weights, penalty) -> torch.Tensor:
    groups, _, width = design.shape
    theta = torch.zeros(groups, width, dtype=torch.float64)
    eye = torch.diag(penalty)
    value, z = _objective(design, theta, y, weights, penalty)
    for _ in range(MAX_NEWTON_STEPS):
        p = torch.sigmoid(z)
        grad = torch.einsum("gnk,gn->gk", design, weights * (p - y)) + penalty * theta
        if float(grad.abs().max()) < GRAD_TOLERANCE * max(1.0, float(value.abs().max())):
            break
        curvature = weights * p * (1 - p)
        hessian = torch.einsum("gnk,gn,gnl->gkl", design, curvature, design) + eye
        hessian = hessian + 1e-12 * torch.eye(width, dtype=torch.float64)   # saturated probabilities
        # the Hessian is symmetric positive definite: Cholesky, not LU (MKL's batched LU fails
        # with "Pivots given to lu_solve" once torch.set_num_threads(n >= 2) has been called)
        step = torch.cholesky_solve(grad.unsqueeze(-1), torch.linalg.cholesky(hessian)).squeeze(-1)
        decrease = (grad * step).sum(1)
        size = torch.ones(groups, dtype=torch.float64)
        for _ in range(40):
            candidate = theta - size[:, None] * step
            new_value, new_z = _objective(design, candidate, y, weights, penalty)
            # Armijo, with slack for rounding once the objective is flat to machine precision
            ok = new_value <= value - 1e-4 * size * decrease + 1e-12 * value.abs()
            if bool(ok.all()):
                break
            size = torch.where(ok, size, size / 2)
        theta, value, z = candidate, new_value, new_z
    return theta


def predict(x: np.ndarray, subsets: Sequence[Sequence[int]], parameters: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Class-1 predictions (decision > 0, as scikit-learn's `predict`) per subset."""
    return [(x[:, list(columns)] @ theta[:-1] + theta[-1]) > 0 for columns, theta in zip(subsets, parameters)]


def balanced_accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the recalls of class 1 and class 0 (both classes present)."""
    positive = y == 1
    return float((np.mean(predicted[positive] == 1) + np.mean(predicted[~positive] == 0)) / 2)
