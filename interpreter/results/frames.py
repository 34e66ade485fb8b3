"""The results table as a pandas DataFrame, and as Parquet with the run's provenance.

Columns are results.csv's: `measure, stimuli, model, class, layer, units, cell, intervention,
repeat, value, ci_low, ci_high, n, fit_on, claim`, then one column per sweep variable (and
`seed` for replicated models). Types: `value`, `ci_low`, `ci_high` float64 (NaN: no interval);
`repeat`, `n`, `claim` int64; text columns pandas' `string`; a sweep variable's column is Int64
when every value is a whole number, float64 when every value is a number, else `string` (a row
without the variable holds NA).
"""

from __future__ import annotations

import json
from pathlib import Path

from abl.interpreter.run.table import COLUMNS, ResultsTable

FLOATS = ("value", "ci_low", "ci_high")
INTEGERS = ("repeat", "n", "claim")
PROVENANCE_KEY = b"abl"          # the Parquet file's metadata key holding the run's provenance


def results_frame(table: ResultsTable):
    import pandas as pd

    dims = table.dim_names()
    records = [row.as_record() for row in table]
    columns = list(COLUMNS) + dims
    frame = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(columns=columns)
    return typed(frame, dims)


def typed(frame, dims: list[str]):
    """The documented dtypes, from a frame of Python values or of results.csv's strings."""
    import pandas as pd

    frame = frame.copy()
    for column in frame.columns:
        if column in FLOATS:
            frame[column] = pd.to_numeric(frame[column].replace("", None), errors="coerce").astype("float64")
        elif column in INTEGERS:
            frame[column] = pd.to_numeric(frame[column]).astype("int64")
        elif column in dims:
            frame[column] = _dimension(frame[column])
        else:
            frame[column] = frame[column].fillna("").astype(str).astype("string")
    return frame.reset_index(drop=True)


def _dimension(series):
    import pandas as pd

    text = series.astype("string").replace("", pd.NA)
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.isna().equals(text.isna()):          # every present value is a number
        present = numbers.dropna()
        if len(present) and (present == present.round()).all() and not text.dropna().str.contains(r"[.eE]").any():
            return numbers.astype("Int64")
        return numbers.astype("float64")
    return text


def write_parquet(frame, path: Path, provenance: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from abl.interpreter.atomic import atomic_path

    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(metadata)
    with atomic_path(path) as temporary:
        pq.write_table(table, str(temporary))


def read_parquet(path: Path):
    """(frame, provenance) of a results.parquet."""
    import pyarrow.parquet as pq

    table = pq.read_table(str(path))
    provenance = json.loads((table.schema.metadata or {}).get(PROVENANCE_KEY, b"{}"))
    return table.to_pandas(), provenance
