"""Schema comparison for parquet-drift.

Everything here works on a flat mapping of column name to ``Column``.
Parquet files and JSON snapshots are both turned into that mapping first,
so the comparison logic never has to care where a schema came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Type changes that old readers can usually survive. Everything else is breaking.
SAFE_WIDENINGS = {
    ("int8", "int16"), ("int8", "int32"), ("int8", "int64"),
    ("int16", "int32"), ("int16", "int64"), ("int32", "int64"),
    ("uint8", "uint16"), ("uint16", "uint32"), ("uint32", "uint64"),
    ("float", "double"), ("halffloat", "float"), ("halffloat", "double"),
    ("string", "large_string"), ("binary", "large_binary"),
}


class Severity(IntEnum):
    """How worried a consumer of the data should be about a change."""

    INFO = 1
    WARNING = 2
    BREAKING = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Column:
    """One (possibly nested) column: its Arrow type as a string, and nullability."""

    type: str
    nullable: bool


@dataclass(frozen=True)
class FieldChange:
    """A single difference between two schemas."""

    column: str
    kind: str  # "added", "removed", "type_changed" or "nullability_changed"
    old: str | None
    new: str | None
    severity: Severity

    def to_dict(self) -> dict:
        return {"column": self.column, "kind": self.kind, "old": self.old,
                "new": self.new, "severity": str(self.severity)}


def flatten_schema(schema: pa.Schema) -> dict[str, Column]:
    """Flatten an Arrow schema, so ``address.city`` is compared on its own."""
    columns: dict[str, Column] = {}

    def visit(field: pa.Field, prefix: str) -> None:
        name = f"{prefix}{field.name}"
        if pa.types.is_struct(field.type):
            for i in range(field.type.num_fields):
                visit(field.type.field(i), prefix=f"{name}.")
        else:
            columns[name] = Column(type=str(field.type), nullable=field.nullable)

    for field in schema:
        visit(field, prefix="")
    return columns


def load_columns(path: str | Path) -> dict[str, Column]:
    """Read columns from a ``.parquet`` file (footer only) or a ``.json`` snapshot."""
    path = Path(path)
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return {c["name"]: Column(c["type"], c["nullable"]) for c in data["columns"]}
    return flatten_schema(pq.read_schema(path))


def snapshot(columns: dict[str, Column]) -> dict:
    """Turn columns into a JSON-friendly dict that ``load_columns`` can read back."""
    return {"version": 1, "columns": [
        {"name": name, "type": col.type, "nullable": col.nullable}
        for name, col in sorted(columns.items())
    ]}


def classify_type_change(old: str, new: str) -> Severity:
    """A safe widening (int32 -> int64) is a warning; anything else breaks readers."""
    return Severity.WARNING if (old, new) in SAFE_WIDENINGS else Severity.BREAKING


def compare_columns(old: dict[str, Column], new: dict[str, Column]) -> list[FieldChange]:
    """List every difference between ``old`` and ``new``, sorted by column name."""
    changes: list[FieldChange] = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is None:
            changes.append(FieldChange(name, "added", None, after.type, Severity.INFO))
        elif after is None:
            changes.append(FieldChange(name, "removed", before.type, None, Severity.BREAKING))
        else:
            if before.type != after.type:
                changes.append(FieldChange(name, "type_changed", before.type, after.type,
                                           classify_type_change(before.type, after.type)))
            if before.nullable != after.nullable:
                # Becoming nullable can break code that assumed values were always there.
                severity = Severity.WARNING if after.nullable else Severity.INFO
                changes.append(FieldChange(name, "nullability_changed",
                                           _null_label(before.nullable),
                                           _null_label(after.nullable), severity))
    return changes


def compare_files(old_path: str | Path, new_path: str | Path) -> list[FieldChange]:
    """Convenience wrapper: load both sides and compare them."""
    return compare_columns(load_columns(old_path), load_columns(new_path))


def worst(changes: list[FieldChange]) -> Severity | None:
    """The most severe change in the list, or None if there are no changes."""
    return max((c.severity for c in changes), default=None)


def _null_label(nullable: bool) -> str:
    return "nullable" if nullable else "not null"
