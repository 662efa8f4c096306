"""parquet-drift: notice when a Parquet schema changes, before your loader does.

The short version, from Python::

    from parquet_drift import check

    changes = check("accepted/schema.json", "landing/batch_0412.parquet")
    for change in changes:
        print(change.column, change.kind, change.severity)

``check`` accepts Parquet files (only the footer is read, so it is quick even
for large files) or JSON snapshots written by ``parquet-drift snapshot``.

Severity levels, from least to most worrying:

* ``info``      a column was added, or became NOT NULL
* ``warning``   a safe widening (int32 -> int64), or a column became nullable
* ``breaking``  a column was removed, or changed to an incompatible type

The rules are deliberately conservative. A pipeline that refuses to guess will
page you sometimes; a pipeline that guesses will page you later, with a bigger
problem.
"""

from __future__ import annotations

from pathlib import Path

from parquet_drift.compare import (
    Column,
    FieldChange,
    Severity,
    compare_columns,
    compare_files,
    flatten_schema,
    load_columns,
    snapshot,
    worst,
)

__version__ = "0.3.1"

__all__ = [
    "Column",
    "FieldChange",
    "Severity",
    "__version__",
    "check",
    "compare_columns",
    "compare_files",
    "flatten_schema",
    "is_breaking",
    "load_columns",
    "snapshot",
    "worst",
]


def check(old: str | Path, new: str | Path) -> list[FieldChange]:
    """Compare two schemas and return every change, sorted by column name."""
    return compare_files(old, new)


def is_breaking(old: str | Path, new: str | Path) -> bool:
    """True if loading ``new`` where ``old`` was expected could break readers."""
    return worst(compare_files(old, new)) == Severity.BREAKING
