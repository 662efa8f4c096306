"""Tests for parquet_drift.compare and the CLI exit codes.

Each test writes two tiny Parquet files (a handful of rows) and checks one rule.
"""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parquet_drift import check, is_breaking
from parquet_drift.cli import main
from parquet_drift.compare import Column, Severity, compare_columns, load_columns, worst


def write(tmp_path, name, schema):
    """Write an empty-ish Parquet file with the given schema and return its path."""
    path = tmp_path / name
    table = pa.Table.from_pylist([], schema=schema)
    pq.write_table(table, path)
    return path


BASE = pa.schema([
    pa.field("parcel_id", pa.string(), nullable=False),
    pa.field("depot_id", pa.string()),
    pa.field("weight_g", pa.int32()),
    pa.field("delivery_window_start", pa.int64()),
])


def test_identical_files_have_no_changes(tmp_path):
    old = write(tmp_path, "old.parquet", BASE)
    new = write(tmp_path, "new.parquet", BASE)
    assert check(old, new) == []


def test_added_column_is_info(tmp_path):
    old = write(tmp_path, "old.parquet", BASE)
    new = write(tmp_path, "new.parquet", BASE.append(pa.field("locker_id", pa.string())))
    [change] = check(old, new)
    assert (change.column, change.kind, change.severity) == ("locker_id", "added", Severity.INFO)


def test_removed_column_is_breaking(tmp_path):
    old = write(tmp_path, "old.parquet", BASE)
    new = write(tmp_path, "new.parquet", BASE.remove(BASE.get_field_index("depot_id")))
    assert is_breaking(old, new)


def test_int_widening_is_only_a_warning(tmp_path):
    old = write(tmp_path, "old.parquet", BASE)
    widened = BASE.set(2, pa.field("weight_g", pa.int64()))
    new = write(tmp_path, "new.parquet", widened)
    [change] = check(old, new)
    assert change.kind == "type_changed"
    assert change.severity == Severity.WARNING


def test_the_hamburg_incident_is_breaking(tmp_path):
    """int64 epoch millis -> timestamp: the change that started this project."""
    old = write(tmp_path, "old.parquet", BASE)
    ts = BASE.set(3, pa.field("delivery_window_start", pa.timestamp("us", tz="UTC")))
    new = write(tmp_path, "new.parquet", ts)
    [change] = check(old, new)
    assert change.old == "int64"
    assert change.new == "timestamp[us, tz=UTC]"
    assert change.severity == Severity.BREAKING


def test_becoming_nullable_is_a_warning():
    old = {"parcel_id": Column("string", nullable=False)}
    new = {"parcel_id": Column("string", nullable=True)}
    [change] = compare_columns(old, new)
    assert change.kind == "nullability_changed"
    assert (change.old, change.new) == ("not null", "nullable")
    assert change.severity == Severity.WARNING


def test_nested_struct_fields_are_compared_individually(tmp_path):
    address_v1 = pa.struct([("city", pa.string()), ("postcode", pa.string())])
    address_v2 = pa.struct([("city", pa.string()), ("postcode", pa.int32())])
    old = write(tmp_path, "old.parquet", pa.schema([("address", address_v1)]))
    new = write(tmp_path, "new.parquet", pa.schema([("address", address_v2)]))
    [change] = check(old, new)
    assert change.column == "address.postcode"


def test_snapshot_round_trip(tmp_path):
    parquet_file = write(tmp_path, "batch.parquet", BASE)
    snap = tmp_path / "schema.json"
    assert main(["snapshot", str(parquet_file), "-o", str(snap)]) == 0
    assert json.loads(snap.read_text())["version"] == 1
    assert load_columns(snap) == load_columns(parquet_file)


def test_worst_of_nothing_is_none():
    assert worst([]) is None


@pytest.mark.parametrize("fail_on, expected", [("breaking", 0), ("warning", 1), ("never", 0)])
def test_cli_exit_code_follows_fail_on(tmp_path, capsys, fail_on, expected):
    old = write(tmp_path, "old.parquet", BASE)
    new = write(tmp_path, "new.parquet", BASE.set(2, pa.field("weight_g", pa.int64())))
    assert main(["compare", str(old), str(new), "--fail-on", fail_on]) == expected
    assert "weight_g" in capsys.readouterr().out


def test_cli_reports_unreadable_file(tmp_path, capsys):
    bogus = tmp_path / "not_parquet.parquet"
    bogus.write_text("hello")
    assert main(["compare", str(bogus), str(bogus)]) == 2
    assert "could not read schema" in capsys.readouterr().err
