"""`report exemplars`: a grid with one row per unit and its top-N images, each titled with the
unit's activation on it and the image's label."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abl.interpreter.report.figure_common import _new_figure, _save, _slug


def _displayable(image: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) -> an image scaled to [0, 1] for imshow (each image by its own range)."""
    array = np.nan_to_num(np.asarray(image, dtype=float))
    if array.ndim == 3:
        array = array[0] if array.shape[0] == 1 else array[:3].transpose(1, 2, 0)
    low, high = float(array.min()), float(array.max())
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def exemplar_grid(exemplars: list[tuple[dict, np.ndarray]], out_dir: Path | str, title: str) -> list[Path]:
    """One figure per report: rows are units, columns their top images, best first."""
    if not exemplars:
        raise ValueError("there are no exemplars to draw")
    by_report: dict[str, list[tuple[dict, np.ndarray]]] = {}
    for record, images in exemplars:
        by_report.setdefault(record["report"], []).append((record, images))
    written = []
    for report, units in by_report.items():
        n_cols = max(len(record["images"]) for record, _ in units)
        figure = _new_figure(0.6 + 1.3 * n_cols, 0.8 + 1.5 * len(units))
        axes = figure.subplots(len(units), n_cols, squeeze=False)
        for row, (record, images) in enumerate(units):
            for col, ax in enumerate(axes[row]):
                ax.set_xticks([])
                ax.set_yticks([])
                if col >= len(record["images"]):
                    ax.set_axis_off()
                    continue
                shown = _displayable(images[col])
                ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, interpolation="nearest")
                ax.set_title(f"#{record['images'][col]} {record['labels'][col]}\nact {record['activations'][col]:.3g}",
                             fontsize=6)
                if col == 0:
                    ax.set_ylabel(f"{record['layer']}:{record['unit']}", fontsize=7)
        first = units[0][0]
        figure.suptitle(f"{title}: exemplars of {first['units']} on {first['stimuli']}\n"
                        "(row: unit; panel: image index, label, the unit's activation)", fontsize=9)
        written += _save(figure, out_dir, f"exemplars-{_slug(first['units'])}")
    return written
