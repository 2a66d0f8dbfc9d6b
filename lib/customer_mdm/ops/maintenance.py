"""Table maintenance: compact or z-order, vacuum, then a Delta log checkpoint, per table as operations.yaml says.

Safe beside a running stream or batch:
- compaction and z-ordering commit with ``dataChange: false``: the rows stay
  the same, the hops' incremental reads skip such commits, and appends never
  conflict with them; a MERGE of a hop and a compaction racing for the same
  files: the loser re-runs on the winner's snapshot (the hop's merge as a
  whole, the compaction as a fresh rewrite), a few times before giving up;
- vacuum only deletes files unreferenced for longer than the retention, which
  may never be below ``maintenance.min_retention_hours``: snapshots a reader,
  a replay or a time travel still uses within that window keep their files,
  and a write in flight (younger than the retention) keeps its new files.
Bronze is replayed by version range from the files each commit added, so the
shipped configuration never compacts it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from customer_mdm.config.operations import MaintenanceConfig, TableMaintenance
from customer_mdm.config.reader import Issues
from customer_mdm.errors import StorageError
from customer_mdm.storage import TableStore

log = logging.getLogger(__name__)
Rewrite = Literal["compact", "z-order", "none"]


@dataclass(frozen=True)
class TableResult:
    table: str
    rewrite: Rewrite
    files_before: int
    files_after: int
    vacuumed: tuple[str, ...]
    seconds: float
    checkpoint_version: int | None = None  # the Delta log checkpoint written (None: dry run)


def lake_tables(store: TableStore) -> list[str]:
    """Every Delta table of the lake: ``<layer>/<name>`` folders and the configured path overrides."""
    root = Path(store.lake_root)
    found = {f"{layer.name}.{table.name}" for layer in root.iterdir() if layer.is_dir()
             for table in layer.iterdir() if table.is_dir()} if root.is_dir() else set()
    names = sorted(found | set(store.table_paths))
    return [name for name in names if _is_table_name(store, name) and store.exists(name)]


def _is_table_name(store: TableStore, name: str) -> bool:
    try:
        store.path(name)
    except StorageError:  # folders that are not layer.name tables (reports, checkpoints)
        return False
    return True


def check_z_order_columns(store: TableStore, config: MaintenanceConfig, tables: Sequence[str], *,
                          file: str) -> None:
    """Refuses, before any rewrite, z-order columns a table does not have (all tables' issues at once)."""
    issues = Issues()
    for table in tables:
        settings = config.for_table(table)
        columns = set(store.schema(table).fieldNames())
        for column in settings.z_order:
            if column not in columns:
                issues.add(file, f"{settings.key}.z_order", f"columns of {table}: {sorted(columns)}", column)
    issues.raise_if_any()


def maintain_table(store: TableStore, table: str, settings: TableMaintenance, *,
                   dry_run: bool = False) -> TableResult:
    """Rewrites small files and vacuums, then checkpoints the log; a dry run only lists what vacuum would delete."""
    started = time.monotonic()
    before = _file_count(store, table)
    rewrite: Rewrite = "none" if before < 2 else "z-order" if settings.z_order else \
        "compact" if settings.compact else "none"
    if not dry_run and rewrite == "z-order":
        store.z_order(table, settings.z_order)
    elif not dry_run and rewrite == "compact":
        store.compact(table)
    vacuumed = store.vacuum(table, retention_hours=settings.retention_hours, dry_run=dry_run)
    after = before if dry_run else _file_count(store, table)
    checkpoint = None if dry_run else store.checkpoint(table)
    result = TableResult(table, rewrite, before, after, tuple(vacuumed), time.monotonic() - started, checkpoint)
    log.info("%s%s: %s, files %d -> %d, vacuum %s %d files older than %dh, checkpoint %s, %.1fs",
             "dry run: " if dry_run else "", table, rewrite, before, after, "would delete" if dry_run else "deleted",
             len(vacuumed), settings.retention_hours, "none" if checkpoint is None else f"at version {checkpoint}",
             result.seconds)
    return result


def maintain(store: TableStore, config: MaintenanceConfig, *, file: str, tables: Sequence[str] = (),
             dry_run: bool = False) -> list[TableResult]:
    """Maintains the named tables (default: every table of the lake), after checking the settings fit them."""
    chosen = list(tables) or lake_tables(store)
    check_z_order_columns(store, config, chosen, file=file)
    return [maintain_table(store, t, config.for_table(t), dry_run=dry_run) for t in chosen]


def _file_count(store: TableStore, table: str) -> int:
    return len(store.read(table).inputFiles())
