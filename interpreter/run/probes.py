"""Linear probes (Alain & Bengio), the sound version: class-vs-rest logistic regression on a unit
group's activations, standardised features, balanced class weights, scored by balanced accuracy
on held-out images (or by stratified 5-fold cross-validation when no held-out set is given).
Chance is 0.5 whatever the class balance. Deterministic for a given seed. The probes of many
column subsets (a grid's cells) are solved together by probe_solver.py's batched Newton method;
subsets wider than its limit are fitted by scikit-learn, the reference both are tested against.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from abl.interpreter.seeding import seed32
from abl.interpreter.errors import RunError
from abl.interpreter.run.probe_solver import (MAX_BATCHED_COLUMNS, balanced_accuracy, fit_logistic, predict,
                           standardise)

MAX_ITER = 1000
FOLDS = 5


def _pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(),
                         LogisticRegression(class_weight="balanced", max_iter=MAX_ITER, solver="lbfgs"))


def _binary(labels, target_class: int, what: str) -> np.ndarray:
    y = (np.asarray(labels).reshape(-1) == target_class).astype(np.int64)
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        side = "no" if positives == 0 else "only"
        raise RunError(f"the {what} images contain {side} images of class {target_class}, "
                       "so a class-vs-rest probe cannot be fitted or scored",
                       help="use stimuli with images of the class and of other classes")
    return y


def _features(features, n: int, what: str) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] != n:
        raise ValueError(f"{what} features of shape {x.shape} do not match {n} labels")
    if x.shape[1] == 0:
        raise RunError("a probe needs at least one unit", help="select a non-empty unit set")
    if not np.isfinite(x).all():
        raise RunError("non-finite activations (NaN/inf) in the probe's features",
                       help="check the stimuli and the model weights")
    return x


def _fit_score(x_fit, y_fit, x_eval, y_eval) -> tuple[float, np.ndarray]:
    from sklearn.metrics import balanced_accuracy_score

    model = _pipeline()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning on separable data; the score stands
        model.fit(x_fit, y_fit)
        predicted = model.predict(x_eval)
    return float(balanced_accuracy_score(y_eval, predicted)), predicted


def _folds(y: np.ndarray, seed: int):
    from sklearn.model_selection import StratifiedKFold

    smallest = int(min(y.sum(), len(y) - y.sum()))
    if smallest < 2:
        raise RunError("cross-validating a probe needs at least 2 images of the class and 2 of the rest",
                       help="use more stimuli, or fit on one set and evaluate on another (`fit on`)")
    splitter = StratifiedKFold(n_splits=min(FOLDS, smallest), shuffle=True, random_state=seed32(seed))
    return list(splitter.split(np.zeros((len(y), 1)), y))


def probe_accuracy(train_features, train_labels, eval_features, eval_labels, target_class: int,
                   seed: int = 0) -> float:
    """Balanced accuracy of a class-vs-rest logistic-regression probe for `target_class`.

    With `eval_features` None: the mean balanced accuracy over stratified 5-fold cross-validation
    of the training set (fewer folds when the class has fewer than 5 images).
    """
    return probe_accuracies(train_features, train_labels, eval_features, eval_labels, target_class,
                            None, seed)[0]


def probe_accuracies(train_features, train_labels, eval_features, eval_labels, target_class: int,
                     subsets: Sequence[Sequence[int]] | None = None, seed: int = 0,
                     solver: str = "batched", predictions: list | None = None) -> list[float]:
    """`probe_accuracy` for many column subsets (e.g. grid cells) of one feature matrix.

    The labels, folds and checks are prepared once; `subsets=None` means all columns.
    `solver="sklearn"` fits every subset alone with scikit-learn (the reference). With held-out
    evaluation features, `predictions` (a list) receives (binary truth, predicted) per subset:
    what a bootstrap interval over the evaluation images resamples.
    """
    y_fit = _binary(train_labels, target_class, "probe's training")
    x_fit = _features(train_features, len(y_fit), "training")
    if eval_features is None:
        folds = _folds(y_fit, seed)
        x_eval = y_eval = None
    else:
        y_eval = _binary(eval_labels, target_class, "probe's evaluation")
        x_eval = _features(eval_features, len(y_eval), "evaluation")
        if x_eval.shape[1] != x_fit.shape[1]:
            raise ValueError("training and evaluation features have different units")
    columns = [list(range(x_fit.shape[1]))] if subsets is None else [list(s) for s in subsets]
    if any(not cols for cols in columns):
        raise RunError("a probe needs at least one unit", help="select a non-empty unit set")
    splits = [(x_fit, y_fit, x_eval, y_eval)] if x_eval is not None else \
        [(x_fit[tr], y_fit[tr], x_fit[te], y_fit[te]) for tr, te in folds]
    scores = np.zeros((len(splits), len(columns)))
    predicted_by: dict[int, np.ndarray] = {}
    batched = [i for i, cols in enumerate(columns)
               if solver == "batched" and len(cols) <= MAX_BATCHED_COLUMNS]
    alone = [i for i in range(len(columns)) if i not in set(batched)]
    for j, (xf, yf, xe, ye) in enumerate(splits):
        if batched:
            # the scaler is per column, so standardising all columns once serves every subset
            xf_std, xe_std = standardise(xf, xe)
            subset_columns = [columns[i] for i in batched]
            parameters = fit_logistic(xf_std, yf, subset_columns)
            for i, predicted in zip(batched, predict(xe_std, subset_columns, parameters)):
                scores[j, i] = balanced_accuracy(ye, predicted)
                predicted_by[i] = predicted
        for i in alone:
            scores[j, i], predicted_by[i] = _fit_score(xf[:, columns[i]], yf, xe[:, columns[i]], ye)
    if predictions is not None and x_eval is not None:
        predictions.extend((y_eval, np.asarray(predicted_by[i])) for i in range(len(columns)))
    return [float(np.mean(scores[:, i])) for i in range(len(columns))]

