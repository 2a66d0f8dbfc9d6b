"""Data-quality rules as metadata: the typed model of ``conf/quality.yaml``.

Adding a rule is YAML only. Every mistake in the file is collected and raised
once as a ConfigError naming the file, the key and what was expected; checks
that need the data (do the columns exist, does an expression resolve) run in
``customer_mdm.silver.quality.validate_rules`` before anything is evaluated.

Layout::

    references:                 # named value lists a 'reference' rule can check against
      countries: [US, CA, GB]
    rules:
      - name: email_format      # lower-case identifier, unique
        type: pattern           # mandatory | pattern | allowed_values | range | reference | unique | expression
        column: email           # or columns: [a, b] (unique: the key; expression: reported columns)
        pattern: '^[^@\\s]+@[^@\\s]+$'
        action: warn            # warn | quarantine | fail
        sources: [crm]          # optional: only rows of these sources
        check_deletes: false    # optional: also check delete events (default: they are not checked)
        message: ...            # optional: replaces the generated message

An ``expression`` rule may add ``value:``, a Spark SQL expression for the value
its reports show (default: the JSON of its ``columns``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from customer_mdm.config.reader import Issues, Section, load_yaml

RuleType = Literal["mandatory", "pattern", "allowed_values", "range", "reference", "unique", "expression"]
Action = Literal["warn", "quarantine", "fail"]
RULE_TYPES: tuple[str, ...] = get_args(RuleType)
ACTIONS: tuple[str, ...] = get_args(Action)
#: A range bound: a number, a date, a timestamp, or "today" / "now" (evaluated when the rule runs).
Bound = int | float | date | datetime | str
RELATIVE_BOUNDS = ("today", "now")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_COMMON_KEYS = ("name", "type", "column", "columns", "action", "sources", "check_deletes", "message")
_TYPE_KEYS: Mapping[str, tuple[str, ...]] = {
    "mandatory": (),
    "pattern": ("pattern",),
    "allowed_values": ("values", "ignore_case"),
    "range": ("min", "max"),
    "reference": ("reference", "reference_column"),
    "unique": (),
    "expression": ("expression", "value"),
}
_SINGLE_COLUMN = ("mandatory", "pattern", "allowed_values", "range", "reference")


@dataclass(frozen=True)
class QualityRule:
    """One data-quality rule; ``file`` and ``key`` say where it was written, for error messages.

    A ``reference`` rule naming a list under ``references`` carries that list in
    ``values``; one with empty ``values`` checks a table the caller passes by name.
    """

    name: str
    type: RuleType
    columns: tuple[str, ...]
    action: Action
    sources: tuple[str, ...] = ()
    check_deletes: bool = False
    message: str | None = None
    pattern: str | None = None
    values: tuple[str, ...] = ()
    ignore_case: bool = False
    minimum: Bound | None = None
    maximum: Bound | None = None
    reference: str | None = None
    reference_column: str | None = None
    expression: str | None = None
    value: str | None = None
    file: str = ""
    key: str = ""

    @property
    def column(self) -> str:
        """The checked column(s) as reported in quarantine rows and metrics."""
        return ", ".join(self.columns)


def load_quality_rules(path: str | Path, *,
                       known_sources: Iterable[str] | None = None) -> tuple[QualityRule, ...]:
    """The rules of a quality file in file order; raises ConfigError listing every issue.

    With ``known_sources`` each rule's ``sources`` must name configured sources.
    """
    file = Path(path).resolve()
    issues = Issues()
    data = load_yaml(file, issues)
    if data is None:
        issues.raise_if_any()
    top = Section(data or {}, file=str(file), prefix="", issues=issues)
    top.allow_only(["rules", "references"])
    refs = top.section("references")
    references = {str(name): refs.string_list(str(name)) for name in refs.data}
    for name in references:
        if refs.data[name] == []:
            refs.problem(name, "a non-empty list of values", [])
    sources = None if known_sources is None else sorted(known_sources)
    sections = top.sections("rules", required=True)
    rules = tuple(rule for s in sections
                  if (rule := _rule(s, references=references, known_sources=sources)) is not None)
    seen: dict[str, str] = {}
    for s in sections:
        rule_name = s.data.get("name")
        if not isinstance(rule_name, str):
            continue
        if rule_name in seen:
            s.problem("name", f"a rule name not already used by {seen[rule_name]}", rule_name)
        seen.setdefault(rule_name, s.prefix)
    issues.raise_if_any()
    return rules


def _rule(s: Section, *, references: Mapping[str, tuple[str, ...]],
          known_sources: list[str] | None) -> QualityRule | None:
    kind = s.choice("type", RULE_TYPES)
    s.allow_only([*_COMMON_KEYS, *_TYPE_KEYS.get(kind, ())] if kind in _TYPE_KEYS else
                 [*_COMMON_KEYS, *(k for keys in _TYPE_KEYS.values() for k in keys)])
    name = s.string("name")
    if name is not None and not _NAME.match(name):
        s.problem("name", "a lower-case identifier like 'email_format' (letters, digits, '_')", name)
    action = s.choice("action", ACTIONS)
    columns = _columns(s, kind)
    sources = s.string_list("sources", ())
    if known_sources is not None:
        for source in sources:
            if source not in known_sources:
                s.problem("sources", f"names of configured sources {known_sources}", source)
    params = _params(s, kind, references)
    check_deletes = s.boolean("check_deletes", False)
    message = s.string("message", None)
    if name is None or kind is None or action is None or columns is None or params is None:
        return None
    return QualityRule(name=name, type=kind, columns=columns, action=action, sources=sources,
                check_deletes=check_deletes, message=message, file=s.file, key=s.prefix, **params)


def _columns(s: Section, kind: str | None) -> tuple[str, ...] | None:
    if s.has("column") and s.has("columns"):
        s.problem("columns", "either 'column' or 'columns', not both", found="both")
        return None
    if s.has("columns"):
        columns = s.string_list("columns")
        if columns is not None and kind in _SINGLE_COLUMN and len(columns) != 1:
            s.problem("columns", f"exactly one column for a '{kind}' rule (use 'column')", list(columns))
            return None
        if columns == () and kind == "unique":
            s.problem("columns", "at least one key column for a 'unique' rule", [])
            return None
        return columns
    if s.has("column"):
        column = s.string("column")
        return None if column is None else (column,)
    if kind == "expression":
        return ()
    s.problem("column", "the column the rule checks ('column: <name>', or 'columns: [...]' for several)",
              found="nothing (the key is required)")
    return None


def _params(s: Section, kind: str | None, references: Mapping[str, tuple[str, ...]]) -> dict[str, Any] | None:
    """The type-specific keys as Rule fields, or None when one of them is wrong."""
    before = len(s.issues.items)
    params: dict[str, Any] = {}
    if kind == "pattern":
        pattern = s.string("pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                s.problem("pattern", f"a valid regular expression ({exc})", pattern)
        params["pattern"] = pattern
    elif kind == "allowed_values":
        params["values"] = s.string_list("values")
        if params["values"] == ():
            s.problem("values", "at least one allowed value", [])
        params["ignore_case"] = s.boolean("ignore_case", False)
    elif kind == "range":
        params["minimum"] = _bound(s, "min")
        params["maximum"] = _bound(s, "max")
        _check_range(s, params["minimum"], params["maximum"])
    elif kind == "reference":
        params["reference"] = s.string("reference")
        params["reference_column"] = s.string("reference_column", None)
        params["values"] = references.get(params["reference"], ())
        if params["reference_column"] is not None and params["values"]:
            s.problem("reference_column", f"no reference_column: '{params['reference']}' is a list under "
                      "'references', not a table", params["reference_column"])
    elif kind == "expression":
        params["expression"] = s.string("expression")
        params["value"] = s.string("value", None)
    return params if len(s.issues.items) == before else None


def _bound(s: Section, name: str) -> Bound | None:
    value = s.data.get(name)
    if value is None or isinstance(value, (date, datetime)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in RELATIVE_BOUNDS:
            return value
        try:
            return datetime.fromisoformat(value) if "T" in value or ":" in value else date.fromisoformat(value)
        except ValueError:
            pass
    s.problem(name, "a number, a date (YYYY-MM-DD), a timestamp (YYYY-MM-DDTHH:MM:SS), 'today' or 'now'", value)
    return None


def bound_kind(bound: Bound) -> Literal["number", "date", "timestamp"]:
    """How a bound compares: numbers as doubles, dates as dates, timestamps as timestamps."""
    if isinstance(bound, datetime) or bound == "now":
        return "timestamp"
    if isinstance(bound, date) or bound == "today":
        return "date"
    return "number"


def _check_range(s: Section, low: Bound | None, high: Bound | None) -> None:
    if low is None and high is None:
        if not s.has("min") and not s.has("max"):
            s.problem("min", "a lower bound 'min', an upper bound 'max', or both", found="neither")
        return
    if low is None or high is None:
        return
    if (bound_kind(low) == "number") != (bound_kind(high) == "number"):
        s.problem("max", f"a bound of the same kind as min ({bound_kind(low)})", high)
    elif _exceeds(low, high):
        s.problem("max", f"a value >= min ({low})", high)


def _exceeds(low: Bound, high: Bound) -> bool:
    """min > max, for two fixed bounds that can be compared."""
    if isinstance(low, (int, float)) and isinstance(high, (int, float)):
        return low > high
    if isinstance(low, datetime) and isinstance(high, datetime):
        return low > high
    if type(low) is date and type(high) is date:
        return low > high
    return False
