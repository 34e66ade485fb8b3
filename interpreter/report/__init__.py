"""Views of the results table: the terminal report and the figures.

Owns the rich report (plan tree, verdict table, per-class tables, mean grids, sweeps), the
figure families (bars, heatmaps, histograms, scatter, curves, feature visualisations, null
distributions) and the function that draws a run's `report` statements into a folder. It may
import plan and run (the table and the statistics it shows); never results, cluster or cli:
whoever holds a finished run calls it."""
