"""Networks: built, loaded, trained and checked, with their layer names.

Owns the built-in mlp/cnn, the torchvision and timm zoos and their weights policy, files and
Python factories, training (with the selectivity regulariser) and its cache, the checks of a
model against its stimuli, layer-name resolution and the module tree `abl layers` shows. It may
import plan (model specs), data (input statistics of image folders), backend (hooks for the
regulariser) and the shared top-level modules; never run, report, results, cluster or cli."""
