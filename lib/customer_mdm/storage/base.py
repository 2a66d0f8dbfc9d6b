"""The one storage interface every layer uses; adapters (delta-rs now) implement it.

Tables are named ``layer.name`` (``bronze.crm``, ``silver.party``) and live
at ``<lake_root>/<layer>/<name>`` unless pipeline.yaml maps them elsewhere.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from customer_mdm.errors import StorageError
from customer_mdm.storage.locks import lake_lock

_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class AppTxn:
    """A Delta application transaction: a commit for (app_id, version) happens at most once."""

    app_id: str
    version: int


@dataclass(frozen=True)
class CommitResult:
    table: str
    version: int | None
    rows: int
    files: int
    skipped: bool = False


@dataclass(frozen=True)
class MergeResult:
    table: str
    version: int | None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    skipped: bool = False


@dataclass(frozen=True)
class MergeClause:
    kind: str
    updates: Mapping[str, str] | None = None
    predicate: str | None = None


class Merge:
    """A MERGE read like the SQL it stands for; ``execute`` hands it to the adapter."""

    def __init__(self, store: TableStore, table: str, source: pa.Table, predicate: str, *,
                 source_alias: str, target_alias: str, txn: AppTxn | None):
        self.store, self.table, self.source, self.predicate = store, table, source, predicate
        self.source_alias, self.target_alias, self.txn = source_alias, target_alias, txn
        self.clauses: list[MergeClause] = []

    def when_matched_update(self, updates: Mapping[str, str], *, predicate: str | None = None) -> Merge:
        self.clauses.append(MergeClause("matched_update", updates, predicate))
        return self

    def when_matched_delete(self, *, predicate: str | None = None) -> Merge:
        self.clauses.append(MergeClause("matched_delete", None, predicate))
        return self

    def when_not_matched_insert(self, values: Mapping[str, str], *, predicate: str | None = None) -> Merge:
        self.clauses.append(MergeClause("not_matched_insert", values, predicate))
        return self

    def when_not_matched_by_source_update(self, updates: Mapping[str, str], *,
                                          predicate: str | None = None) -> Merge:
        self.clauses.append(MergeClause("not_matched_by_source_update", updates, predicate))
        return self

    def when_not_matched_by_source_delete(self, *, predicate: str | None = None) -> Merge:
        self.clauses.append(MergeClause("not_matched_by_source_delete", None, predicate))
        return self

    def execute(self) -> MergeResult:
        return self.store.execute_merge(self)


class TableStore(ABC):
    """Create, append to, read, merge into and maintain the lake's Delta tables."""

    def __init__(self, lake_root: Path, table_paths: Mapping[str, str] | None = None):
        self.lake_root = lake_root
        self.table_paths = dict(table_paths or {})

    def path(self, table: str) -> str:
        if not _TABLE_NAME.match(table):
            raise StorageError(f"table name {table!r} is not of the form layer.name (e.g. silver.party)")
        relative = self.table_paths.get(table, table.replace(".", "/"))
        target = (self.lake_root / relative).resolve()
        if self.lake_root.resolve() not in target.parents:
            raise StorageError(f"table {table} maps to {target}, outside the lake root {self.lake_root}; "
                               "fix 'tables' in pipeline.yaml")
        return str(target)

    def lock(self, name: str, *, wait_seconds: float = 3600.0) -> AbstractContextManager[None]:
        """One writer at a time for a part of the lake (``ingest-crm``, ``refine-crm``, ``gold``): a second job
        waits, then finds the work committed; after ``wait_seconds`` it stops before writing (LockTimeout)."""
        return lake_lock(self.lake_root, name, wait_seconds=wait_seconds)

    @abstractmethod
    def exists(self, table: str) -> bool: ...

    @abstractmethod
    def ensure_table(self, table: str, schema: StructType, *, partition_by: Sequence[str] = (),
                     properties: Mapping[str, str] | None = None) -> None:
        """Creates the table if missing; an existing table must have exactly this schema."""

    @abstractmethod
    def version(self, table: str) -> int:
        """Latest committed version, -1 for a table that does not exist yet."""

    @abstractmethod
    def schema(self, table: str) -> StructType: ...

    @abstractmethod
    def read(self, table: str, *, version: int | None = None) -> DataFrame: ...

    @abstractmethod
    def read_arrow(self, table: str, *, columns: Sequence[str] | None = None, version: int | None = None) -> pa.Table:
        """A snapshot (the latest by default) on the driver, without Spark: for state tables read whole each run,
        and a few columns of large ones."""

    @abstractmethod
    def read_added(self, table: str, *, after_version: int, up_to_version: int,
                   version_column: str | None = None) -> DataFrame:
        """Rows appended by the commits in (after_version, up_to_version] of an append-only table."""

    @abstractmethod
    def append(self, table: str, df: DataFrame, *, txn: AppTxn | Sequence[AppTxn] | None = None,
               overwrite: bool = False) -> CommitResult:
        """Distributed write of ``df`` committed as one transaction carrying every ``txn``.

        Skipped when they were all committed before; refused when only some were.
        """

    @abstractmethod
    def append_rows(self, table: str, rows: pa.Table | Sequence[Mapping[str, Any]], *,
                    txn: AppTxn | None = None) -> CommitResult:
        """Small driver-side appends (run logs, manifests) without a Spark job."""

    @abstractmethod
    def txn_version(self, table: str, app_id: str) -> int | None: ...

    @abstractmethod
    def truncate(self, table: str, *, txn: AppTxn | None = None) -> CommitResult:
        """Empties the table by one overwrite commit carrying ``txn`` (skipped when it was committed before).

        The schema, table properties and every application transaction stay; older versions stay readable by
        time travel until vacuum. Only ``--rebuild-silver`` uses it (silver.party and silver.party_history).
        """

    def merge(self, table: str, source: DataFrame | pa.Table, predicate: str, *, source_alias: str = "s",
              target_alias: str = "t", txn: AppTxn | None = None) -> Merge:
        arrow = source if isinstance(source, pa.Table) else source.toArrow()
        return Merge(self, table, arrow, predicate, source_alias=source_alias, target_alias=target_alias,
                     txn=txn)

    @abstractmethod
    def execute_merge(self, merge: Merge) -> MergeResult: ...

    @abstractmethod
    def delete(self, table: str, predicate: str, *, erasure_id: str) -> int:
        """Deletes the rows matching a SQL ``predicate`` by rewriting their files; returns the rows deleted.

        Only erasure deletes from the lake: the commit is marked with ``erasure_id`` so the hops' incremental
        reads of append-only tables skip it instead of reading the rewritten files as new rows.
        """

    @abstractmethod
    def history(self, table: str, *, limit: int | None = None) -> list[dict[str, Any]]: ...

    @abstractmethod
    def compact(self, table: str) -> dict[str, Any]: ...

    @abstractmethod
    def z_order(self, table: str, columns: Sequence[str]) -> dict[str, Any]: ...

    @abstractmethod
    def vacuum(self, table: str, *, retention_hours: int, dry_run: bool = False) -> list[str]:
        """Deletes the table's files older than the retention that its current version does not reference:
        removed files and files no commit ever added (left by a killed write); returns their paths."""

    @abstractmethod
    def checkpoint(self, table: str) -> int:
        """Writes a Delta log checkpoint at the current version (returned), so readers replay few JSON commits."""
