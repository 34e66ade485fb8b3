"""Stimuli: the images and labels a plan's stimuli sets hold, loaded as tensors.

Owns the loaders of every source (embedded digits and MNIST subsets, image folders, the packaged
photos, derived sets), their splits and class filters, and corruptions (blur, noise). It may
import plan (the stimuli specs and the catalog) and the shared top-level modules; it never
imports models, run, report, results, cluster or cli."""
