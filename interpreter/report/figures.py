"""Figures drawn from the tidy results table: PNG (dpi 150) and, for the grids, SVG.

Every function takes the `ResultsTable` (or, for `feature_grid`, arrays), writes into `out_dir`,
and returns the path(s) written. One module per figure family: figure_grids.py (Hayne et al.'s
heatmaps), figure_bars.py (per-class bars, selectivity histograms), figure_units.py (feature
visualisations, null distributions), figure_sweeps.py (curves and scatters over a swept
variable); figure_common.py holds what they share.
"""

from abl.interpreter.report.figure_bars import per_class_bars, selectivity_histograms
from abl.interpreter.report.figure_grids import grid_colormap, hayne_heatmaps, hayne_summary
from abl.interpreter.report.figure_units import feature_grid, null_distribution

__all__ = ["feature_grid", "grid_colormap", "hayne_heatmaps", "hayne_summary", "null_distribution",
           "per_class_bars", "selectivity_histograms"]
