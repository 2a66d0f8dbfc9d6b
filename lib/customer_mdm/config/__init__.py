"""Typed pipeline configuration, loaded and fully validated before any Spark work.

Layout of a configuration folder (``conf/`` by default)::

    pipeline.yaml        lake root, Spark settings, Kafka, table path overrides
    sources/<name>.yaml  one file per source system
    quality.yaml         data-quality rules (optional: no file, no rules)

Relative paths in any file resolve against the folder that holds ``conf/``
(the project root), so the same configuration works from any working
directory.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from customer_mdm.config.kafka import KafkaSettings, kafka_settings
from customer_mdm.config.quality import QualityRule, load_quality_rules
from customer_mdm.config.reader import Issues, Section, load_yaml
from customer_mdm.party import CANONICAL_COLUMNS, SOURCE_RECORD_ID

SourceFormat = Literal["csv", "json", "parquet", "kafka"]
SOURCE_FORMATS: tuple[str, ...] = ("csv", "json", "parquet", "kafka")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class SparkSettings:
    """How the one SparkSession is built; ``master`` None means spark-submit decides."""

    master: str | None = "local[2]"
    app_name: str = "customer-mdm"
    shuffle_partitions: int = 4
    driver_memory: str = "4g"
    log_level: str = "WARN"
    conf: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceConfig:
    """One source system: where its records come from and how they map to party columns."""

    name: str
    format: SourceFormat
    file: Path
    path: str | None = None
    topic: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    mapping: Mapping[str, str] = field(default_factory=dict)
    sequence_column: str | None = None
    timestamp_format: str | None = None
    date_format: str | None = None
    delete_when: str | None = None
    priority: int = 100

    @property
    def bronze_table(self) -> str:
        return f"bronze.{self.name}"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a job needs, resolved to absolute paths."""

    conf_dir: Path
    project_root: Path
    lake_root: Path
    spark: SparkSettings
    sources: tuple[SourceConfig, ...]
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    quality_rules: tuple[QualityRule, ...] = ()
    table_paths: Mapping[str, str] = field(default_factory=dict)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources)
        raise KeyError(f"no source named {name!r}; configured sources: {known}")

    def resolve(self, path: str) -> Path:
        """A path from config: absolute as given, else relative to the project root."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.project_root / candidate


def load_config(conf_dir: str | Path | None = None, *, lake: str | Path | None = None) -> PipelineConfig:
    """Loads and validates ``pipeline.yaml`` and ``sources/*.yaml``; raises ConfigError listing all issues."""
    conf = Path(conf_dir) if conf_dir is not None else Path.cwd() / "conf"
    conf = conf.resolve()
    issues = Issues()
    if not conf.is_dir():
        issues.add(str(conf), "(folder)", "a configuration folder holding pipeline.yaml", found="no such folder")
        issues.raise_if_any()
    project_root = conf.parent
    raw = load_yaml(conf / "pipeline.yaml", issues) or {}
    top = Section(raw, file=str(conf / "pipeline.yaml"), prefix="", issues=issues)
    top.allow_only(["lake_root", "spark", "kafka", "tables"])
    lake_root = Path(lake) if lake is not None else Path(top.string("lake_root", "lake"))
    if not lake_root.is_absolute():
        lake_root = (Path.cwd() if lake is not None else project_root) / lake_root
    spark = _spark_settings(top.section("spark"))
    kafka = kafka_settings(top.section("kafka"))
    table_paths = top.string_map("tables", {})
    sources = _load_sources(conf / "sources", issues)
    issues.raise_if_any()
    quality = conf / "quality.yaml"
    rules = load_quality_rules(quality, known_sources=[s.name for s in sources]) if quality.exists() else ()
    return PipelineConfig(conf_dir=conf, project_root=project_root, lake_root=lake_root.resolve(),
                          spark=spark, sources=sources, kafka=kafka, quality_rules=rules,
                          table_paths=table_paths)


def _spark_settings(s: Section) -> SparkSettings:
    s.allow_only(["master", "app_name", "shuffle_partitions", "driver_memory", "log_level", "conf"])
    defaults = SparkSettings()
    master = s.string("master", defaults.master)
    return SparkSettings(
        master=None if master in ("", "none", "spark-submit") else master,
        app_name=s.string("app_name", defaults.app_name),
        shuffle_partitions=s.integer("shuffle_partitions", defaults.shuffle_partitions, minimum=1),
        driver_memory=s.string("driver_memory", defaults.driver_memory),
        log_level=s.choice("log_level", ["ERROR", "WARN", "INFO", "DEBUG"], defaults.log_level),
        conf=s.string_map("conf", {}),
    )


def _load_sources(folder: Path, issues: Issues) -> tuple[SourceConfig, ...]:
    if not folder.is_dir():
        issues.add(str(folder), "(folder)", "a folder of source YAML files", found="no such folder")
        return ()
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        issues.add(str(folder), "(folder)", "at least one source YAML file", found="no *.yaml file")
    sources = []
    for file in files:
        data = load_yaml(file, issues)
        if data is not None:
            source = _source(Section(data, file=str(file), prefix="", issues=issues), file)
            if source is not None:
                sources.append(source)
    seen: dict[str, Path] = {}
    for source in sources:
        if source.name in seen:
            issues.add(str(source.file), "name", f"a name not used by {seen[source.name]}", source.name)
        seen[source.name] = source.file
    return tuple(sources)


def _source(s: Section, file: Path) -> SourceConfig | None:
    s.allow_only(["name", "format", "path", "topic", "options", "columns", "mapping", "sequence_column",
                  "timestamp_format", "date_format", "delete_when", "priority"])
    name = s.string("name")
    if name is not None and not _NAME.match(name):
        s.problem("name", "a lower-case identifier like 'crm' (letters, digits, '_')", name)
    fmt = s.choice("format", SOURCE_FORMATS)
    path = s.string("path", None)
    topic = s.string("topic", None)
    if fmt == "kafka" and topic is None:
        s.problem("topic", "a Kafka topic name (required when format is kafka)", found="nothing")
    if fmt in ("csv", "json", "parquet") and path is None:
        s.problem("path", f"a file glob such as data/landing/{name}/*.{fmt} (required when format is {fmt})",
                  found="nothing")
    columns = s.string_list("columns")
    mapping = s.string_map("mapping")
    for canonical, raw_column in mapping.items():
        if canonical not in CANONICAL_COLUMNS:
            s.problem(f"mapping.{canonical}", f"a canonical party column, one of {list(CANONICAL_COLUMNS)}",
                      canonical)
        if columns and raw_column not in columns:
            s.problem(f"mapping.{canonical}", f"a column listed under 'columns' {list(columns)}", raw_column)
    if mapping is not None and SOURCE_RECORD_ID not in mapping:
        s.problem(f"mapping.{SOURCE_RECORD_ID}", "the source column holding the record's id", found="nothing")
    sequence = s.string("sequence_column", None)
    if sequence is not None and columns and sequence not in columns:
        s.problem("sequence_column", f"a column listed under 'columns' {list(columns)}", sequence)
    source = SourceConfig(
        name=name or file.stem, format=fmt, file=file, path=path, topic=topic,
        options=s.string_map("options", {}), columns=columns or (), mapping=mapping or {},
        sequence_column=sequence, timestamp_format=s.string("timestamp_format", None),
        date_format=s.string("date_format", None), delete_when=s.string("delete_when", None),
        priority=s.integer("priority", 100, minimum=0))
    return source


def with_lake(config: PipelineConfig, lake: str | Path) -> PipelineConfig:
    """The same configuration pointed at another lake folder."""
    return replace(config, lake_root=Path(lake).resolve())
