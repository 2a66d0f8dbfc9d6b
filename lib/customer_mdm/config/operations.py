"""Operator settings, the typed model of ``conf/operations.yaml``: table maintenance, SLA thresholds, exports.

Layout::

    maintenance:
      min_retention_hours: 168      # vacuum never keeps less history than this
      defaults: {compact: true, z_order: [], retention_hours: 168}
      tables:                       # table name or pattern (fnmatch) -> overrides of the defaults
        bronze.*: {compact: false}
        silver.party: {z_order: [source_system, source_record_id]}
    sla:
      warn_fraction: 0.8            # WARN once a measure uses this share of its threshold
      freshness_hours: {crm: 26}    # per source: hours since its last bronze commit
      min_pass_rate: 0.95           # pass rate of each quarantine/fail rule in the latest run of a source
      max_hop_lag_versions: 3       # bronze versions not yet applied to silver, per source
      max_latency_seconds: 60       # Kafka timestamp -> bronze commit, latest micro-batch per source
      max_end_to_end_latency_seconds: 300  # Kafka timestamp -> golden-record commit, latest gold increment
    export:                         # jobs/export.py: table, file format, PII columns (see customer_mdm.config.export)

Every mistake is collected and raised once, naming the file, the key and what
was expected. A table matches its exact name first, else the first pattern
in file order, else the defaults.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from customer_mdm.config.export import ExportConfig, export_settings
from customer_mdm.config.reader import Issues, Section, load_yaml

#: Seven days: replay and time travel reach back this far after a compaction.
DEFAULT_RETENTION_HOURS = 168


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance does to one table; ``key`` names where it was configured, for errors."""

    compact: bool = True
    z_order: tuple[str, ...] = ()
    retention_hours: int = DEFAULT_RETENTION_HOURS
    key: str = "maintenance.defaults"


@dataclass(frozen=True)
class MaintenanceConfig:
    min_retention_hours: int = DEFAULT_RETENTION_HOURS
    defaults: TableMaintenance = field(default_factory=TableMaintenance)
    tables: Mapping[str, TableMaintenance] = field(default_factory=dict)

    def for_table(self, table: str) -> TableMaintenance:
        if table in self.tables:
            return self.tables[table]
        for pattern, settings in self.tables.items():
            if fnmatch.fnmatchcase(table, pattern):
                return settings
        return self.defaults


@dataclass(frozen=True)
class SlaConfig:
    """Thresholds of the health checks; None leaves a check out."""

    warn_fraction: float = 0.8
    freshness_hours: Mapping[str, float] = field(default_factory=dict)
    min_pass_rate: float | None = None
    max_hop_lag_versions: int | None = None
    max_latency_seconds: float | None = None
    max_end_to_end_latency_seconds: float | None = None


@dataclass(frozen=True)
class OperationsConfig:
    file: Path
    maintenance: MaintenanceConfig
    sla: SlaConfig
    export: ExportConfig


def load_operations(path: str | Path, *, known_sources: Iterable[str]) -> OperationsConfig:
    """Loads and validates an operations YAML; raises ConfigError listing every issue."""
    file = Path(path).resolve()
    issues = Issues()
    data = load_yaml(file, issues)
    issues.raise_if_any()
    top = Section(data or {}, file=str(file), prefix="", issues=issues)
    top.allow_only(["maintenance", "sla", "export"])
    maintenance = _maintenance(top.section("maintenance"))
    sla = _sla(top.section("sla"), sorted(known_sources))
    export = export_settings(top.section("export"))
    issues.raise_if_any()
    return OperationsConfig(file=file, maintenance=maintenance, sla=sla, export=export)


def _maintenance(s: Section) -> MaintenanceConfig:
    s.allow_only(["min_retention_hours", "defaults", "tables"])
    minimum = s.integer("min_retention_hours", DEFAULT_RETENTION_HOURS, minimum=0)
    defaults = _table(s.section("defaults"), TableMaintenance(), minimum)
    tables = s.section("tables")
    return MaintenanceConfig(
        min_retention_hours=minimum, defaults=defaults,
        tables={str(name): _table(tables.section(str(name)), defaults, minimum) for name in tables.data})


def _table(s: Section, base: TableMaintenance, min_retention: int) -> TableMaintenance:
    s.allow_only(["compact", "z_order", "retention_hours"])
    compact = s.boolean("compact", base.compact)
    z_order = s.string_list("z_order", base.z_order)
    retention = s.integer("retention_hours", base.retention_hours, minimum=0)
    if z_order and not compact:
        s.problem("z_order", "no columns when compact is false (z-ordering rewrites the files)", list(z_order))
    if isinstance(retention, int) and retention < min_retention:
        s.problem("retention_hours", f"at least maintenance.min_retention_hours ({min_retention}): replay and "
                  "time travel need the files of that many hours back", retention)
    return TableMaintenance(compact=compact, z_order=tuple(z_order), retention_hours=retention, key=s.prefix)


def _sla(s: Section, sources: list[str]) -> SlaConfig:
    s.allow_only(["warn_fraction", "freshness_hours", "min_pass_rate", "max_hop_lag_versions",
                  "max_latency_seconds", "max_end_to_end_latency_seconds"])
    freshness = s.section("freshness_hours")
    hours: dict[str, float] = {}
    for name in freshness.data:
        if name not in sources:
            freshness.problem(str(name), f"a configured source, one of {sources}", found="an unknown source")
        value = freshness.number(str(name))
        if value is not None and value <= 0:
            freshness.problem(str(name), "a number of hours > 0", value)
        hours[str(name)] = value
    return SlaConfig(
        warn_fraction=s.number("warn_fraction", 0.8, minimum=0.0, maximum=1.0),
        freshness_hours=hours,
        min_pass_rate=s.number("min_pass_rate", None, minimum=0.0, maximum=1.0),
        max_hop_lag_versions=s.integer("max_hop_lag_versions", None, minimum=0),
        max_latency_seconds=s.number("max_latency_seconds", None, minimum=0.0),
        max_end_to_end_latency_seconds=s.number("max_end_to_end_latency_seconds", None, minimum=0.0))
