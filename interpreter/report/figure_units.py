"""Figures of units and draws: feature visualisation panels and a control claim's null distribution."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from abl.interpreter.report.figure_common import _new_figure, _save

# ---- feature visualisations --------------------------------------------------------------------

def feature_grid(images: dict[str, np.ndarray], out_dir: Path | str, title: str) -> Path:
    """A grid of feature visualisations, one panel per unit titled by its name. Each image is
    (C, H, W) with C = 1 (grey) or 3 (RGB), values in [0, 1] (clipped); (H, W) is taken as grey."""
    if not images:
        raise ValueError("there are no feature visualisations to draw")
    prepared: list[tuple[str, np.ndarray]] = []
    for name, image in images.items():
        array = np.asarray(image, dtype=float)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[0] not in (1, 3, 4):
            raise ValueError(f"feature image `{name}` has shape {tuple(np.shape(image))}; "
                             f"expected (C, H, W) with C = 1 or 3")
        array = np.clip(np.nan_to_num(array), 0.0, 1.0).transpose(1, 2, 0)
        prepared.append((name, array[:, :, 0] if array.shape[2] == 1 else array[:, :, :3]))
    n_cols = min(len(prepared), max(1, math.ceil(math.sqrt(len(prepared)))), 8)
    n_rows = math.ceil(len(prepared) / n_cols)
    figure = _new_figure(0.4 + 1.9 * n_cols, 0.7 + 2.0 * n_rows)
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    shown = None
    for index, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if index < len(prepared):
            name, array = prepared[index]
            shown = ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0, vmax=1,
                              aspect="equal", interpolation="nearest")
            ax.set_title(name, fontsize=7)
    if shown is not None and prepared[-1][1].ndim == 2:
        bar = figure.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8)
        bar.set_label("pixel value (input scale 0..1)", fontsize=7)
    figure.suptitle(title + "\n(panel: unit; act: its activation on the start noise -> on the image)",
                    fontsize=9)
    return _save(figure, out_dir, "features")[0]


def null_distribution(verdict, out_dir: Path | str, title: str) -> Path:
    """A random-control claim: its control draws as a histogram, the observed value as a line,
    the claim's p (raw and Holm-adjusted) in the legend."""
    controls = np.asarray(verdict.controls, dtype=float)
    figure = _new_figure(5.8, 3.8)
    ax = figure.add_subplot()
    label = f"{len(controls)} random draws (mean {np.mean(controls):.3g})"
    values, counts = np.unique(np.round(controls, 12), return_counts=True)
    if len(values) <= 30:             # few distinct values (a drop in whole images): one bar each
        gaps = np.diff(np.append(values, [verdict.observed]))
        width = 0.8 * (np.min(gaps[gaps > 0]) if np.any(gaps > 0) else 1.0)
        ax.bar(values, counts, width=width, color="#1f77b4", alpha=0.75, label=label)
    else:
        ax.hist(controls, bins=30, color="#1f77b4", alpha=0.75, label=label)
    p_text = f"p = {verdict.p_value:.3g}" if verdict.p_value is not None else ""
    if verdict.p_adjusted is not None:
        p_text += f", Holm {verdict.p_adjusted:.3g}"
    ax.axvline(verdict.observed, color="#d62728", linewidth=2,
               label=f"observed {verdict.observed:.3g} ({p_text})")
    ax.set_xlabel("value under each random draw (a drop: baseline minus value)", fontsize=8)
    ax.set_ylabel("draws")
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    wrapped = verdict.text if len(verdict.text) <= 70 else verdict.text[:67] + "..."
    ax.set_title(f"{title}\nclaim {verdict.claim}: {wrapped} ({'PASS' if verdict.passed else 'FAIL'})",
                 fontsize=8)
    return _save(figure, out_dir, f"null-claim-{verdict.claim}")[0]
