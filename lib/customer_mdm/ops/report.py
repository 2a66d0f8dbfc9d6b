"""The lake report: one self-contained HTML page an on-call engineer or a data steward can open anywhere.

Each section is a small pandas frame computed in Spark from one table (only
aggregates reach the driver, so the report costs the same on a big lake) and
an optional matplotlib figure (Agg, embedded as base64 PNG). The page has
inline CSS and no scripts or external URLs, so it can be mailed or archived.
A table that does not exist yet gives a sentence, not a failure. No raw
values leave the lake: ids, rule names, counts and rates only.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_mdm.config import PipelineConfig
from customer_mdm.config.matching import MatchingConfig, Thresholds
from customer_mdm.gold.scoring import FellegiSunterModel
from customer_mdm.gold.tables import ENTITY_XREF, GOLDEN_RECORD, MATCH_PAIRS, REVIEW_QUEUE
from customer_mdm.gold.training import load_model
from customer_mdm.hops.refine import PARTY
from customer_mdm.ops.tables import DQ_METRICS, RUNS, STREAM_PROGRESS
from customer_mdm.silver.quarantine import QUARANTINE
from customer_mdm.spark import build_session
from customer_mdm.storage import TableStore, open_store

log = logging.getLogger(__name__)

#: Golden-record columns that are bookkeeping, not attributes a steward completes.
_NOT_ATTRIBUTES = frozenset({"entity_id", "attribute_sources", "source_systems", "record_count", "row_hash",
                             "updated_increment", "run_id", "updated_at"})
_FIGSIZE = (7.0, 3.2)


@dataclass(frozen=True)
class Section:
    """One part of the page: ``id`` is its HTML anchor; ``note`` explains, or says why there is no data."""

    id: str
    title: str
    note: str = ""
    table: pd.DataFrame | None = None
    figure: Figure | None = None


@dataclass(frozen=True)
class Report:
    lake: Path
    generated_at: dt.datetime
    counts: dict[str, int | None]  # entities, source records, runs: None when the table does not exist
    sections: tuple[Section, ...]


def probability_to_weight(p: float) -> float:
    """A match probability as a Fellegi-Sunter match weight, log2(p / (1 - p)); infinite at 0 and 1."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log2(p / (1.0 - p))


# --- section frames: DataFrame in, small pandas frame out -------------------------------------------------

def _small(aggregate: DataFrame) -> pd.DataFrame:
    """An aggregate, already small, on the driver in its sort order."""
    return cast(pd.DataFrame, aggregate.toPandas())


def dq_pass_rates(dq_metrics: DataFrame) -> pd.DataFrame:
    """Pass rate per run and rule, runs in the order they were recorded: run_id, recorded_at, rule, pass_rate."""
    rule = F.concat_ws(".", "source_system", "rule")
    rows = dq_metrics.where(F.col("pass_rate").isNotNull()).groupBy("run_id", rule.alias("rule")).agg(
        F.min("recorded_at").alias("recorded_at"), F.sum("rows_checked").alias("rows_checked"),
        F.sum("rows_failed").alias("rows_failed"))
    return _small(rows.withColumn("pass_rate", 1.0 - F.col("rows_failed") / F.nullif("rows_checked", F.lit(0)))
                  .orderBy("recorded_at", "rule"))


def quarantine_reasons(quarantine: DataFrame) -> pd.DataFrame:
    """Quarantined rows per source, rule and column (values and messages stay in the lake)."""
    return _small(quarantine.groupBy("source_system", "rule", "column").agg(F.count(F.lit(1)).alias("rows"))
                  .orderBy(F.desc("rows"), "source_system", "rule", "column"))


def match_weight_histogram(match_pairs: DataFrame, *, bin_width: float = 1.0) -> pd.DataFrame:
    """Scored pairs per match-weight bin (lower edge) and decision, binned in Spark."""
    lower = (F.floor(F.col("match_weight") / bin_width) * bin_width).alias("bin")
    return _small(match_pairs.where(F.col("match_weight").isNotNull()).groupBy(lower, "decision")
                  .agg(F.count(F.lit(1)).alias("pairs")).orderBy("bin", "decision"))


def comparison_weights(model: FellegiSunterModel) -> pd.DataFrame:
    """m, u and the weight log2(m/u) of every level of every comparison (the missing level weighs 0)."""
    rows = [{"comparison": c.name, "level": level.label, "m": level.m, "u": level.u,
             "weight": 0.0 if i == 0 else level.weight}
            for c in model.comparisons for i, level in enumerate(c.levels)]
    return pd.DataFrame(rows, columns=["comparison", "level", "m", "u", "weight"])


def cluster_sizes(entity_xref: DataFrame) -> pd.DataFrame:
    """How many entities hold 1, 2, 3... current source records."""
    sizes = entity_xref.where("is_current").groupBy("entity_id").agg(F.count(F.lit(1)).alias("records"))
    return _small(sizes.groupBy("records").agg(F.count(F.lit(1)).alias("entities")).orderBy("records"))


def review_queue_sizes(review_queue: DataFrame) -> pd.DataFrame:
    return _small(review_queue.groupBy("status").agg(F.count(F.lit(1)).alias("items")).orderBy("status"))


def golden_completeness(golden_record: DataFrame) -> pd.DataFrame:
    """Share of golden records with a value per attribute (an empty array counts as no value)."""
    attributes = [f for f in golden_record.schema.fields if f.name not in _NOT_ATTRIBUTES]

    def present(name: str, type_name: str) -> F.Column:
        column = F.col(f"`{name}`")
        filled = column.isNotNull() & (F.size(column) > 0) if type_name == "array" else column.isNotNull()
        return F.avg(filled.cast("double")).alias(name)

    shares = golden_record.agg(*[present(f.name, f.dataType.typeName()) for f in attributes]).first()
    assert shares is not None  # a global aggregate always has one row
    return pd.DataFrame({"attribute": [f.name for f in attributes],
                         "complete": [shares[f.name] for f in attributes]})


def stream_latency(stream_progress: DataFrame) -> pd.DataFrame:
    """Per committed micro-batch or hop run (series ``source/hop``): its latency and what was still behind.

    Lag is Kafka records for the ingest hop and input table versions for the silver and gold hops.
    """
    return _small(stream_progress.where(F.col("committed_at").isNotNull()).select(
        F.concat_ws("/", "source", "hop").alias("series"), "committed_at",
        F.coalesce("input_rows", "output_rows").alias("rows"), "latency_seconds",
        F.coalesce("total_lag", "lag_versions").alias("lag")).orderBy("series", "committed_at"))


# --- figures: built on Figure directly (no pyplot state), rendered by Agg -----------------------------------

def _axes() -> tuple[Figure, Axes]:
    figure = Figure(figsize=_FIGSIZE, layout="constrained")
    return figure, figure.add_subplot()


def dq_figure(rates: pd.DataFrame) -> Figure:
    figure, ax = _axes()
    runs = list(dict.fromkeys(rates["run_id"]))
    for rule, rows in rates.groupby("rule", sort=True):
        ax.plot([runs.index(r) for r in rows["run_id"]], rows["pass_rate"], marker="o", label=str(rule))
    ax.set_xticks(range(len(runs)), runs, rotation=30, ha="right", fontsize=7)
    ax.set_xlabel("run")
    ax.set_ylabel("pass rate")
    ax.set_ylim(min(0.9, float(rates["pass_rate"].min()) - 0.02), 1.005)
    ax.legend(fontsize=6, loc="lower left", ncols=2)
    return figure


def bar_figure(labels: Sequence[str], values: Sequence[float], *, xlabel: str, horizontal: bool = False) -> Figure:
    figure, ax = _axes()
    if horizontal:
        ax.barh(list(labels), list(values))
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.tick_params(axis="y", labelsize=7)
    else:
        ax.bar(list(labels), list(values))
        ax.set_ylabel(xlabel)
    return figure


def weight_figure(histogram: pd.DataFrame, *, bin_width: float, thresholds: Thresholds, axis: str,
                  as_weight: Callable[[float], float]) -> Figure:
    """Stacked bars per decision with the review and auto-merge thresholds as vertical lines."""
    figure, ax = _axes()
    bottom = pd.Series(0.0, index=sorted(histogram["bin"].unique()))
    for decision, rows in histogram.groupby("decision", sort=True):
        heights = rows.set_index("bin")["pairs"].reindex(bottom.index, fill_value=0)
        ax.bar(bottom.index, heights, width=bin_width, bottom=bottom, align="edge", label=str(decision))
        bottom = bottom + heights
    for name, p, style in (("review", thresholds.review, ":"), ("auto-merge", thresholds.auto_merge, "--")):
        x = as_weight(p)
        if math.isfinite(x):
            ax.axvline(x, color="black", linestyle=style, label=f"{name} ({axis} {x:.2f}, p={p:g})")
    ax.set_xlabel(axis)
    ax.set_ylabel("pairs")
    ax.legend(fontsize=7)
    return figure


def stream_figure(latency: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(_FIGSIZE[0], _FIGSIZE[1] * 1.6), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    for series, rows in latency.groupby("series", sort=True):
        top.plot(rows["committed_at"], rows["latency_seconds"], marker=".", label=str(series))
        bottom.plot(rows["committed_at"], rows["lag"], marker=".", label=str(series))
    top.set_ylabel("latency (s)")
    bottom.set_ylabel("lag (records / versions)")
    bottom.set_xlabel("bronze commit time (UTC)")
    top.legend(fontsize=7)
    figure.autofmt_xdate()
    return figure


# --- gathering the sections from a lake -------------------------------------------------------------------

def _missing(table: str) -> str:
    return f"{table} does not exist yet in this lake."


def _dq_section(store: TableStore) -> Section:
    section = Section("dq-pass-rate", "Data-quality pass rate per rule across runs")
    if not store.exists(DQ_METRICS):
        return _with(section, note=_missing(DQ_METRICS))
    rates = dq_pass_rates(store.read(DQ_METRICS))
    if rates.empty:
        return _with(section, note=f"{DQ_METRICS} holds no measured rule yet.")
    wide = rates.pivot_table(index="rule", columns="run_id", values="pass_rate", sort=False).reset_index()
    return _with(section, note="One line per source.rule; the table shows the pass rate per run.",
                 table=wide, figure=dq_figure(rates))


def _quarantine_section(store: TableStore) -> Section:
    section = Section("quarantine-reasons", "Quarantine reasons")
    if not store.exists(QUARANTINE):
        return _with(section, note=_missing(QUARANTINE))
    reasons = quarantine_reasons(store.read(QUARANTINE))
    if reasons.empty:
        return _with(section, note="Nothing has been quarantined.")
    labels = [f"{r.source_system}.{r.rule}" + (f" ({r.column})" if isinstance(r.column, str) else "")
              for r in reasons.itertuples()]
    return _with(section, note=f"{int(reasons['rows'].sum())} quarantined rows.", table=reasons,
                 figure=bar_figure(labels, reasons["rows"].tolist(), xlabel="rows", horizontal=True))


def _match_weight_section(store: TableStore, matching: MatchingConfig, *, bin_width: float) -> Section:
    section = Section("match-weights", "Match-weight histogram")
    if not store.exists(MATCH_PAIRS):
        return _with(section, note=_missing(MATCH_PAIRS))
    histogram = match_weight_histogram(store.read(MATCH_PAIRS), bin_width=bin_width)
    if histogram.empty:
        return _with(section, note=f"{MATCH_PAIRS} holds no scored pair yet.")
    thresholds = matching.decision_thresholds
    weighted = matching.model == "weighted"
    axis, as_weight = ("score", lambda p: p) if weighted else ("match weight", probability_to_weight)
    totals = histogram.groupby("decision", as_index=False)["pairs"].sum()
    note = (f"{int(totals['pairs'].sum())} scored pairs. Thresholds from {matching.file.name}: review at "
            f"p >= {thresholds.review:g}, auto-merge at p >= {thresholds.auto_merge:g}"
            + ("." if weighted else " (weights log2(p/(1-p))."))
    return _with(section, note=note, table=totals,
                 figure=weight_figure(histogram, bin_width=bin_width, thresholds=thresholds, axis=axis,
                                      as_weight=as_weight))


def _model_section(matching: MatchingConfig) -> Section:
    section = Section("comparison-weights", "Per-comparison m/u weights")
    if not matching.model_file.is_file():
        return _with(section, note=f"No trained model at {matching.model_file}: run jobs/train_model.py.")
    model = load_model(matching.model_file, thresholds=matching.thresholds)
    weights = comparison_weights(model)
    shown = weights[weights["level"] != weights.groupby("comparison")["level"].transform("first")]
    labels = [f"{r.comparison}: {r.level}" for r in shown.itertuples()]
    used = "" if matching.model == "fellegi_sunter" else f" (the configured model is {matching.model!r})"
    return _with(section, note=f"Model {model.version} from {matching.model_file.name}{used}, prior "
                               f"{model.prior:.4g}. Weight = log2(m/u); the missing level weighs 0.",
                 table=weights, figure=bar_figure(labels, shown["weight"].tolist(), xlabel="weight (bits)",
                                                  horizontal=True))


def _cluster_section(store: TableStore) -> Section:
    section = Section("cluster-sizes", "Cluster-size distribution")
    if not store.exists(ENTITY_XREF):
        return _with(section, note=_missing(ENTITY_XREF))
    sizes = cluster_sizes(store.read(ENTITY_XREF))
    if sizes.empty:
        return _with(section, note=f"{ENTITY_XREF} has no current row.")
    return _with(section, note="Entities by the number of current source records they hold.", table=sizes,
                 figure=bar_figure([str(n) for n in sizes["records"]], sizes["entities"].tolist(),
                                   xlabel="entities"))


def _review_section(store: TableStore) -> Section:
    section = Section("review-queue", "Review queue")
    if not store.exists(REVIEW_QUEUE):
        return _with(section, note=_missing(REVIEW_QUEUE))
    sizes = review_queue_sizes(store.read(REVIEW_QUEUE))
    if sizes.empty:
        return _with(section, note="The review queue is empty.", table=sizes)
    return _with(section, note="Items per status.", table=sizes,
                 figure=bar_figure(sizes["status"].tolist(), sizes["items"].tolist(), xlabel="items"))


def _completeness_section(store: TableStore) -> Section:
    section = Section("golden-completeness", "Golden-record completeness per attribute")
    if not store.exists(GOLDEN_RECORD):
        return _with(section, note=_missing(GOLDEN_RECORD))
    shares = golden_completeness(store.read(GOLDEN_RECORD))
    if shares["complete"].isna().all():
        return _with(section, note=f"{GOLDEN_RECORD} holds no record yet.")
    return _with(section, note="Share of golden records with a value.", table=shares,
                 figure=bar_figure(shares["attribute"].tolist(), shares["complete"].tolist(),
                                   xlabel="share complete", horizontal=True))


def _stream_section(store: TableStore) -> Section:
    section = Section("stream-latency", "Streaming latency and lag over time")
    if not store.exists(STREAM_PROGRESS):
        return _with(section, note="No stream has run on this lake (ops.stream_progress does not exist).")
    latency = stream_latency(store.read(STREAM_PROGRESS))
    if latency.empty:
        return _with(section, note=f"{STREAM_PROGRESS} records no committed micro-batch yet.")
    summary = latency.groupby("series", as_index=False).agg(
        commits=("committed_at", "count"), rows=("rows", "sum"), median_latency_s=("latency_seconds", "median"),
        max_latency_s=("latency_seconds", "max"), last_lag=("lag", "last"))
    return _with(section, note="Per source/hop. Latency: oldest Kafka event carried to the commit. Lag: Kafka "
                               "records (ingest) or input versions (silver, gold) still behind.", table=summary,
                 figure=stream_figure(latency))


def _with(section: Section, *, note: str, table: pd.DataFrame | None = None, figure: Figure | None = None) -> Section:
    return Section(section.id, section.title, note, table, figure)


def _count(store: TableStore, table: str, rows: Callable[[DataFrame], DataFrame]) -> int | None:
    return rows(store.read(table)).count() if store.exists(table) else None


def gather(store: TableStore, matching: MatchingConfig, *, bin_width: float = 1.0,
           now: dt.datetime | None = None) -> Report:
    """Every section of the report, read from the lake behind ``store``."""
    started = time.monotonic()
    counts = {
        "entities": _count(store, GOLDEN_RECORD, lambda df: df),
        "source records": _count(store, PARTY, lambda df: df.where(~F.coalesce("is_deleted", F.lit(False)))),
        "runs": _count(store, RUNS, lambda df: df.select("run_id").distinct()),
    }
    sections = (_dq_section(store), _quarantine_section(store),
                _match_weight_section(store, matching, bin_width=bin_width), _model_section(matching),
                _cluster_section(store), _review_section(store), _completeness_section(store),
                _stream_section(store))
    log.info("report: %d sections (%d with a figure) in %.1f s", len(sections),
             sum(s.figure is not None for s in sections), time.monotonic() - started)
    return Report(store.lake_root, now or dt.datetime.now(dt.timezone.utc), counts, sections)


# --- HTML -------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:60rem;color:#222;
padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;
margin-top:2.2rem}
.meta{color:#555;font-size:.9rem}.counts{display:flex;gap:1rem;margin:1rem 0}
.count{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem}.count b{display:block;font-size:1.4rem}
nav a{margin-right:.8rem;font-size:.85rem}
table{border-collapse:collapse;font-size:.8rem;margin:.6rem 0}th,td{border:1px solid #ddd;padding:.2rem .5rem;
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto}
"""


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _section_html(section: Section) -> str:
    parts = [f'<section id="{section.id}">', f"<h2>{html.escape(section.title)}</h2>",
             f"<p>{html.escape(section.note)}</p>"]
    if section.figure is not None:
        data = base64.b64encode(figure_png(section.figure)).decode("ascii")
        parts.append(f'<img alt="{html.escape(section.title)}" src="data:image/png;base64,{data}">')
    if section.table is not None and not section.table.empty:
        parts.append(section.table.to_html(index=False, border=0, float_format=lambda x: f"{x:.4g}",
                                           na_rep="", escape=True))
    parts.append("</section>")
    return "\n".join(parts)


def render_html(report: Report) -> str:
    """The whole page as one string: inline CSS, figures as data URIs, no script and no external URL."""
    counts = "".join(f'<div class="count"><b>{"n/a" if n is None else f"{n:,}"}</b>{html.escape(name)}</div>'
                     for name, n in report.counts.items())
    nav = " ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in report.sections)
    body = "\n".join(_section_html(s) for s in report.sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>customer_mdm report</title><style>{_CSS}</style></head><body>\n"
            f'<header id="summary"><h1>customer_mdm lake report</h1>'
            f'<p class="meta">Lake <code>{html.escape(str(report.lake))}</code>, generated '
            f'{report.generated_at:%Y-%m-%d %H:%M:%S %Z}</p><div class="counts">{counts}</div>'
            f"<nav>{nav}</nav></header>\n{body}\n</body></html>\n")


def write_report(report: Report, path: Path) -> Path:
    """Writes the page atomically (a reader never sees half a report) and returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".tmp")
    partial.write_text(render_html(report), encoding="utf-8")
    partial.replace(path)
    log.info("report: wrote %s (%d bytes)", path, path.stat().st_size)
    return path


@dataclass(frozen=True)
class OpenLake:
    """A lake opened for reading by a job or a notebook, on the active session when there is one."""

    config: PipelineConfig
    spark: SparkSession
    store: TableStore
    started: bool  # this lake built the session, so close() stops it

    def close(self) -> None:
        """Stops Spark only if this lake started it: a notebook kernel or a test keeps its session."""
        if self.started:
            self.spark.stop()


def open_lake(config: PipelineConfig) -> OpenLake:
    active = SparkSession.getActiveSession()
    spark = active if active is not None else build_session(config.spark)
    return OpenLake(config, spark, open_store(spark, config), started=active is None)
