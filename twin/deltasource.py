"""A Ray Data source over the warehouse's Delta table that asks only for the CPUs it is given.

``ray.data.read_delta`` samples the table's files first, with tasks that ask for a whole CPU
each, and ``ray.data.from_arrow`` starts such tasks too: while the Serve app holds all but a
fraction of a CPU, they wait forever, in silence. Here every task is a read task, and read
tasks take the ``num_cpus`` that ``ray.data.read_datasource`` is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from ray.data import Datasource, ReadTask
from ray.data.block import BlockMetadata

from twin.tables import DOCUMENT_SCHEMA


def read_files(uri: str, version: int | None, storage_options: dict[str, str] | None,
               files: Sequence[str], columns: list[str], ids: list[str] | None) -> pa.Table:
    """Rows of some of a Delta table's data files (only ``ids`` if given), in our schema."""
    dataset = DeltaTable(uri, version=version,
                         storage_options=storage_options).to_pyarrow_dataset()
    wanted = set(files)
    read = columns if ids is None or "id" in columns else [*columns, "id"]
    # delta-rs may hand back string_view columns after a merge: normalise to our schema first
    # (a filter pushed into the scan would compare string with string_view, which fails).
    schema = pa.schema([DOCUMENT_SCHEMA.field(c) for c in read])
    parts = [fragment.to_table(schema=dataset.schema, columns=read).cast(schema)
             for fragment in dataset.get_fragments() if fragment.path in wanted]
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    if ids is not None:
        table = table.filter(pc.is_in(table.column("id"),
                                      value_set=pa.array(ids, type=pa.string())))
    return table.select(columns)


class DeltaFiles(Datasource):
    """The documents table's data files (at one version), dealt out between read tasks."""

    def __init__(self, uri: str, version: int | None, storage_options: dict[str, str] | None,
                 columns: list[str], ids: list[str] | None) -> None:
        super().__init__()
        self._args = (uri, version, storage_options)
        self._columns, self._ids = columns, ids
        table = DeltaTable(uri, version=version, storage_options=storage_options)
        self._files = [f.path for f in table.to_pyarrow_dataset().get_fragments()]

    def estimate_inmemory_data_size(self) -> int | None:
        """Unknown before reading (Ray Data sizes the blocks as they come)."""
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        """At most ``parallelism`` read tasks, each reading its share of the files."""
        count = max(1, min(parallelism, len(self._files)))
        args, columns, ids = self._args, self._columns, self._ids
        tasks = []
        for i in range(count):
            files = self._files[i::count]
            if files:
                tasks.append(ReadTask(
                    lambda files=files: [read_files(*args, files, columns, ids)],
                    BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None,
                                  input_files=files),
                    per_task_row_limit=per_task_row_limit))
        return tasks
