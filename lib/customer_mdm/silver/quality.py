"""Metadata-driven data-quality checks over standardized party rows.

Rules (``conf/quality.yaml``, see ``customer_mdm.config.quality``) run after
standardization, so they see typed, cleaned values (dates are DATEs, emails
lower-cased) plus ``_std_flags``; a rule that needs a value as received can
read it from ``_raw`` in an expression (``get_json_object(_raw, '$.dob')``).

``evaluate`` only builds DataFrames: every output derives from one annotated
frame (``checked``), so persisting ``result.checked`` (or the standardized
input) before using several outputs evaluates the rules once.

Semantics shared by every rule type: a rule applies to the rows of its
``sources`` (all when empty) and skips delete events unless ``check_deletes``;
a null value passes every rule except ``mandatory`` (null-safety is that
rule's job), and an expression that is NULL passes (as in a SQL CHECK).
"""
from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType

from customer_mdm.config.quality import Bound, QualityRule, bound_kind
from customer_mdm.config.reader import Issues
from customer_mdm.errors import DataQualityFailure

log = logging.getLogger(__name__)

DQ_WARNINGS = "_dq_warnings"
DQ_HITS = "_dq_hits"
DELETE_FLAG = "_is_delete"
RECORD_KEY = ("source_system", "source_record_id")
#: Columns of every quarantine / issue row, followed by the input's '_' columns (raw values, lineage).
ISSUE_COLUMNS = ("source_system", "source_record_id", "rule", "rule_type", "column", "value", "message", "action")
METRIC_COLUMNS = ("rule", "type", "column", "action", "rows_checked", "rows_failed", "pass_rate", "run_id")
_SHOWN_VALUES = 10
_HITS_TYPE = ("array<struct<rule:string,rule_type:string,column:string,value:string,message:string,"
              "action:string>>")


@dataclass(frozen=True)
class QualityResult:
    """What the rules found; nothing here has been computed yet.

    - ``valid``: rows no quarantine or fail rule rejected, with ``_dq_warnings``
      (names of the warn rules they broke);
    - ``quarantined``: one row per (record, broken quarantine or fail rule) with
      the value, message, ``_raw`` and lineage, ``run_id``, ``quarantined_at``;
    - ``failures``: the quarantined rows broken by ``fail`` rules (batch stops,
      streaming keeps them quarantined and marks the run BREACH);
    - ``issues``: every rule hit, warnings included (the validation report);
    - ``metrics``: per rule rows checked / failed / pass rate;
    - ``checked``: the input with the hits of each row, the source of all others.
    """

    checked: DataFrame
    valid: DataFrame
    quarantined: DataFrame
    failures: DataFrame
    issues: DataFrame
    metrics: DataFrame


def evaluate(df: DataFrame, rules: Sequence[QualityRule], *, run_id: str,
             reference_tables: Mapping[str, DataFrame] | None = None) -> QualityResult:
    """Applies every rule to ``df`` (standardized party rows); raises ConfigError first if a rule cannot run."""
    tables = dict(reference_tables or {})
    validate_rules(rules, df, reference_tables=tables)
    prepared, temp = df, []
    failed: list[tuple[QualityRule, Column, Column, Column]] = []
    for i, rule in enumerate(rules):
        prepared, fail, value, message, added = _check(prepared, rule, i, tables)
        failed.append((rule, fail, value, message))
        temp.extend(added)
    hits = [F.when(_applies(rule, df.columns) & fail, F.struct(
        F.lit(rule.name).alias("rule"), F.lit(rule.type).alias("rule_type"), F.lit(rule.column).alias("column"),
        value.alias("value"), (F.lit(rule.message) if rule.message else message).alias("message"),
        F.lit(rule.action).alias("action"))) for rule, fail, value, message in failed]
    hit_array = F.array_compact(F.array(*hits)) if hits else F.array().cast(_HITS_TYPE)
    checked = prepared.withColumn(DQ_HITS, hit_array).drop(*temp)
    valid = checked.where(~F.exists(DQ_HITS, lambda h: h["action"] != F.lit("warn"))) \
        .withColumn(DQ_WARNINGS, F.transform(F.filter(DQ_HITS, lambda h: h["action"] == F.lit("warn")),
                                             lambda h: h["rule"])) \
        .drop(DQ_HITS)
    lineage = [c for c in df.columns if c.startswith("_") and c not in (DQ_HITS, DQ_WARNINGS)]
    issues = checked.select(*RECORD_KEY, F.explode(DQ_HITS).alias("__dq_hit"), *lineage) \
        .select(*RECORD_KEY, *(F.col(f"__dq_hit.{c}").alias(c) for c in ISSUE_COLUMNS[2:]), *lineage,
                F.lit(run_id).alias("run_id"), F.current_timestamp().alias("quarantined_at"))
    quarantined = issues.where(F.col("action") != F.lit("warn"))
    log.info("data quality: %d rule(s) (%s) for run %s", len(rules),
             ", ".join(f"{sum(r.action == a for r in rules)} {a}" for a in ("warn", "quarantine", "fail")),
             run_id)
    return QualityResult(checked=checked, valid=valid, quarantined=quarantined,
                         failures=quarantined.where(F.col("action") == F.lit("fail")), issues=issues,
                         metrics=_metrics(checked, rules, run_id))


def validate_rules(rules: Sequence[QualityRule], df: DataFrame, *,
                   reference_tables: Mapping[str, DataFrame] | None = None) -> None:
    """Checks the rules against the data they will run on (analysis only); ConfigError names file and key."""
    issues = Issues()
    tables = reference_tables or {}
    columns = df.columns
    for column in RECORD_KEY:
        if column not in columns:
            raise ValueError(f"data-quality checks need the record key column {column!r}")
    for rule in rules:
        for column in rule.columns:
            if column not in columns:
                issues.add(rule.file, f"{rule.key}.column", f"a column of the standardized rows {columns}",
                           column)
        for key, text, boolean in (("expression", rule.expression, True), ("value", rule.value, False)):
            problem = _analysis_problem(df, text, boolean=boolean) if text is not None else None
            if problem is not None:
                issues.add(rule.file, f"{rule.key}.{key}", problem[0], found=problem[1])
        if rule.type == "reference" and not rule.values:
            table = tables.get(rule.reference or "")
            if table is None:
                issues.add(rule.file, f"{rule.key}.reference",
                           f"a list under 'references' or a table passed as reference_tables[{rule.reference!r}]",
                           rule.reference)
            elif _reference_column(rule, table) not in table.columns:
                issues.add(rule.file, f"{rule.key}.reference_column",
                           f"a column of reference table {rule.reference!r} {table.columns}"
                           + ("" if rule.reference_column else " (set reference_column: the table has several)"),
                           rule.reference_column)
    issues.raise_if_any()


def _analysis_problem(df: DataFrame, text: str, *, boolean: bool) -> tuple[str, str] | None:
    """(expected, got) when a SQL expression does not resolve over ``df`` (or is not boolean when it must be)."""
    try:
        kind = df.select(F.expr(text)).schema[0].dataType
    except AnalysisException as exc:
        reason = next(line for line in str(exc).splitlines() if line.strip())
        return f"a Spark SQL expression over the row ({reason})", repr(text)
    if boolean and not isinstance(kind, BooleanType):
        return "a boolean expression", f"{text!r} of type {kind.simpleString()}"
    return None


def raise_if_failed(metrics: Iterable[Row]) -> None:
    """Batch mode: stops the run before any silver write when a ``fail`` rule found rows."""
    broken = [m for m in metrics if m["action"] == "fail" and m["rows_failed"]]
    if broken:
        found = "; ".join(f"{m['rule']} ({m['rows_failed']} of {m['rows_checked']} rows)" for m in broken)
        raise DataQualityFailure(f"data-quality rule(s) with action 'fail' were violated: {found}; "
                                 "nothing was written to silver, see the run's validation report")


# -- one rule -----------------------------------------------------------------------------------

def _applies(rule: QualityRule, columns: Sequence[str]) -> Column:
    applies = F.col("source_system").isin(*rule.sources) if rule.sources else F.lit(True)
    if not rule.check_deletes and DELETE_FLAG in columns:
        applies = applies & ~F.coalesce(F.col(DELETE_FLAG), F.lit(False))
    return applies


def _check(df: DataFrame, rule: QualityRule, index: int,
           tables: Mapping[str, DataFrame]) -> tuple[DataFrame, Column, Column, Column, list[str]]:
    """(input with any helper columns, failed?, offending value, message, helper column names)."""
    if rule.type == "unique":
        return _unique(df, rule, index)
    if rule.type == "reference" and not rule.values:
        return _reference_table(df, rule, index, tables[rule.reference or ""])
    col = F.col(rule.columns[0]) if rule.columns else F.lit(None)
    value = col.cast(StringType())
    name = rule.column
    if rule.type == "mandatory":
        blank = (F.trim(value) == F.lit("")) if dict(df.dtypes)[name] == "string" else F.lit(False)
        return df, col.isNull() | blank, value, F.lit(f"{name} is missing"), []
    if rule.type == "pattern":
        return df, ~value.rlike(rule.pattern or ""), value, F.lit(f"{name} does not match {rule.pattern}"), []
    if rule.type == "allowed_values":
        return df, _not_in(value, rule.values, rule.ignore_case), value, \
            F.lit(f"{name} is not one of {_show(rule.values)}"), []
    if rule.type == "reference":
        return df, _not_in(value, rule.values, False), value, \
            F.lit(f"{name} is not in reference {rule.reference!r}"), []
    if rule.type == "range":
        return (df, *_range(col, rule), [])
    expression = F.coalesce(F.expr(rule.expression or "true"), F.lit(True))
    shown = (F.expr(rule.value).cast(StringType()) if rule.value else
             F.to_json(F.struct(*rule.columns)) if rule.columns else F.lit(None).cast(StringType()))
    return df, ~expression, shown, F.lit(f"expression is false: {rule.expression}"), []


def _not_in(value: Column, allowed: Sequence[str], ignore_case: bool) -> Column:
    if ignore_case:
        return ~F.upper(value).isin(*(v.upper() for v in allowed))
    return ~value.isin(*allowed)


def _show(values: Sequence[str]) -> str:
    shown = ", ".join(values[:_SHOWN_VALUES])
    return f"[{shown}{', ...' if len(values) > _SHOWN_VALUES else ''}]"


def _range(col: Column, rule: QualityRule) -> tuple[Column, Column, Column]:
    kind = bound_kind(next(b for b in (rule.minimum, rule.maximum) if b is not None))
    typed = col.try_cast({"number": "double", "date": "date", "timestamp": "timestamp"}[kind])
    low, high = _bound(rule.minimum), _bound(rule.maximum)
    outside = F.lit(False)
    if low is not None:
        outside = outside | (typed < low)
    if high is not None:
        outside = outside | (typed > high)
    span = f"[{'-inf' if rule.minimum is None else rule.minimum}, {'+inf' if rule.maximum is None else rule.maximum}]"
    message = F.when(typed.isNull(), F.lit(f"{rule.column} is not a {kind}")) \
        .otherwise(F.lit(f"{rule.column} is outside {span}"))
    return col.isNotNull() & (typed.isNull() | outside), col.cast(StringType()), message


def _bound(bound: Bound | None) -> Column | None:
    if bound is None:
        return None
    if bound == "today":
        return F.current_date()
    if bound == "now":
        return F.current_timestamp()
    if isinstance(bound, (date, datetime)):
        return F.lit(bound)
    return F.lit(float(bound))


def _unique(df: DataFrame, rule: QualityRule, index: int) -> tuple[DataFrame, Column, Column, Column, list[str]]:
    """Fails every record sharing a key value with another record (versions of one record do not count)."""
    count = f"__dq_{index}_records"
    keys = [f"__dq_{index}_key{j}" for j in range(len(rule.columns))]
    present = functools.reduce(operator.and_, (F.col(c).isNotNull() for c in rule.columns))
    in_scope = df.where(_applies(rule, df.columns) & present)
    shared = in_scope.groupBy(*(F.col(c).alias(k) for c, k in zip(rule.columns, keys))) \
        .agg(F.count_distinct(*RECORD_KEY).alias(count)).where(F.col(count) > 1)
    on = [df[c] == shared[k] for c, k in zip(rule.columns, keys)]
    joined = df.join(shared, on=on, how="left").drop(*keys)
    value = F.to_json(F.struct(*rule.columns)) if len(rule.columns) > 1 else F.col(rule.columns[0]).cast(StringType())
    message = F.concat(F.lit(f"{rule.column} value is shared by "), F.col(count).cast(StringType()),
                       F.lit(" records"))
    return joined, F.col(count).isNotNull(), value, message, [count]


def _reference_column(rule: QualityRule, table: DataFrame) -> str | None:
    if rule.reference_column:
        return rule.reference_column
    return table.columns[0] if len(table.columns) == 1 else None


def _reference_table(df: DataFrame, rule: QualityRule, index: int,
                     table: DataFrame) -> tuple[DataFrame, Column, Column, Column, list[str]]:
    found = f"__dq_{index}_ref"
    values = table.select(F.col(_reference_column(rule, table) or "").cast(StringType()).alias(found)) \
        .where(F.col(found).isNotNull()).distinct()
    value = F.col(rule.columns[0]).cast(StringType())
    joined = df.join(values, on=value == values[found], how="left")
    return joined, value.isNotNull() & F.col(found).isNull(), value, \
        F.lit(f"{rule.column} is not in reference table {rule.reference!r}"), [found]


# -- metrics ------------------------------------------------------------------------------------

def _has_hit(rule_name: str) -> Column:
    return F.exists(DQ_HITS, lambda h: h["rule"] == F.lit(rule_name))

def _metrics(checked: DataFrame, rules: Sequence[QualityRule], run_id: str) -> DataFrame:
    """One aggregate pass: per rule, rows it applied to and rows it failed."""
    if not rules:
        schema = ("rule string, type string, column string, action string, rows_checked bigint, "
                  "rows_failed bigint, pass_rate double, run_id string")
        return checked.sparkSession.createDataFrame([], schema)
    counts = checked.agg(*(agg for i, rule in enumerate(rules) for agg in (
        F.count_if(_applies(rule, checked.columns)).alias(f"c{i}"),
        F.count_if(_has_hit(rule.name)).alias(f"f{i}"))))
    per_rule = F.array(*(F.struct(F.lit(r.name).alias("rule"), F.lit(r.type).alias("type"),
                                  F.lit(r.column).alias("column"), F.lit(r.action).alias("action"),
                                  F.col(f"c{i}").alias("rows_checked"), F.col(f"f{i}").alias("rows_failed"))
                         for i, r in enumerate(rules)))
    return counts.select(F.inline(per_rule)) \
        .withColumn("pass_rate", F.when(F.col("rows_checked") > 0,
                                        1 - F.col("rows_failed") / F.col("rows_checked"))) \
        .withColumn("run_id", F.lit(run_id)).select(*METRIC_COLUMNS)
