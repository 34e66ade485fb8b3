"""The plan: what a run will load, select, measure, decide and show, as plain frozen data.

Owns the planner (the checked program -> Plan: families expanded, names bound, classes resolved
to indices), the plan's types (MeasureItem, the claim variants, ReportItem, the unit-set and
intervention variants of units.py), the specs of stimuli sets and models, the catalog of what a
stimuli set holds (class names, shapes; no pixel loaded), the recording requirements and the
division of a plan into shards. It may import abl.spec and the shared top-level modules
(errors, progress, ...), never torch and no other subpackage: everything else reads the plan."""
