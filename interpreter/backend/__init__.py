"""The PyTorch forward-hooks backend: running many conditions through one network at once.

Owns the data types of a condition (conditions.py: activation and weight edits), the hooks that
record layer statistics and apply edits, the batched condition runner (prefix reuse, replicated
rows), weight edits restored after each use, unit axes, and the memory budget of rows in flight.
It imports only its own data types, the shared errors, torch and numpy: it never sees a plan,
a spec or a parse tree.
"""
