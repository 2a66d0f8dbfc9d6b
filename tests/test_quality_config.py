"""conf/quality.yaml: rules load typed; every mistake is named by file, key and expectation, all at once."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from customer_mdm.config.quality import QualityRule, load_quality_rules
from customer_mdm.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["billing", "crm", "crm_events", "ecommerce"]


def quality_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "quality.yaml"
    path.write_text(text)
    return path


def issues_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_quality_rules(path, known_sources=SOURCES)
    return [str(issue) for issue in err.value.issues]


def test_repository_rules_load_with_list_references_resolved() -> None:
    rules = {r.name: r for r in load_quality_rules(REPO / "conf" / "quality.yaml", known_sources=SOURCES)}
    assert rules["record_id_present"].type == "mandatory"
    assert rules["record_id_present"].check_deletes is True
    assert rules["name_present"].action == "quarantine"
    assert (rules["date_of_birth_in_range"].minimum, rules["date_of_birth_in_range"].maximum) == (
        dt.date(1900, 1, 1), "today")
    assert rules["country_served"].values[:3] == ("US", "CA", "GB")
    assert rules["email_unique_in_source"].columns == ("source_system", "email")


def test_every_field_of_a_rule_is_read(tmp_path: Path) -> None:
    path = quality_file(tmp_path, """
rules:
  - name: adult
    type: range
    column: date_of_birth
    min: 1900-01-01
    max: "2008-06-30"
    action: fail
    sources: [crm]
    check_deletes: true
    message: too young
""")
    assert load_quality_rules(path, known_sources=SOURCES) == (QualityRule(
        name="adult", type="range", columns=("date_of_birth",), action="fail", sources=("crm",),
        check_deletes=True, message="too young", minimum=dt.date(1900, 1, 1), maximum=dt.date(2008, 6, 30),
        file=str(path), key="rules[0]"),)


@pytest.mark.parametrize("rule, message", [
    ("{name: r, type: regex, column: email, action: warn}",
     "rules[0].type: expected one of ['mandatory', 'pattern', 'allowed_values', 'range', 'reference', 'unique', "
     "'expression'] (got 'regex')"),
    ("{name: r, type: mandatory, action: quarantine}",
     "rules[0].column: expected the column the rule checks ('column: <name>', or 'columns: [...]' for several) "
     "(got nothing (the key is required))"),
    ("{name: r, type: pattern, column: email, pattern: '[a-z', action: warn}",
     "rules[0].pattern: expected a valid regular expression (unterminated character set at position 0) "
     "(got '[a-z')"),
    ("{name: r, type: mandatory, column: email, action: drop}",
     "rules[0].action: expected one of ['warn', 'quarantine', 'fail'] (got 'drop')"),
    ("{name: Email Check, type: mandatory, column: email, action: warn}",
     "rules[0].name: expected a lower-case identifier like 'email_format' (letters, digits, '_') "
     "(got 'Email Check')"),
    ("{name: r, type: mandatory, column: email, columns: [phone], action: warn}",
     "rules[0].columns: expected either 'column' or 'columns', not both (got both)"),
    ("{name: r, type: pattern, columns: [email, phone], pattern: x, action: warn}",
     "rules[0].columns: expected exactly one column for a 'pattern' rule (use 'column') (got ['email', 'phone'])"),
    ("{name: r, type: unique, columns: [], action: warn}",
     "rules[0].columns: expected at least one key column for a 'unique' rule (got [])"),
    ("{name: r, type: mandatory, column: email, pattern: x, action: warn}",
     "rules[0].pattern: expected one of the known keys ['action', 'check_deletes', 'column', 'columns', "
     "'message', 'name', 'sources', 'type'] (got an unknown key)"),
    ("{name: r, type: allowed_values, column: country, values: [], action: warn}",
     "rules[0].values: expected at least one allowed value (got [])"),
    ("{name: r, type: range, column: date_of_birth, action: warn}",
     "rules[0].min: expected a lower bound 'min', an upper bound 'max', or both (got neither)"),
    ("{name: r, type: range, column: date_of_birth, min: yesterday, action: warn}",
     "rules[0].min: expected a number, a date (YYYY-MM-DD), a timestamp (YYYY-MM-DDTHH:MM:SS), 'today' or 'now' "
     "(got 'yesterday')"),
    ("{name: r, type: range, column: date_of_birth, min: 2000-01-01, max: 1900-01-01, action: warn}",
     "rules[0].max: expected a value >= min (2000-01-01) (got datetime.date(1900, 1, 1))"),
    ("{name: r, type: range, column: date_of_birth, min: 0, max: today, action: warn}",
     "rules[0].max: expected a bound of the same kind as min (number) (got 'today')"),
    ("{name: r, type: mandatory, column: email, action: warn, sources: [crmm]}",
     "rules[0].sources: expected names of configured sources ['billing', 'crm', 'crm_events', 'ecommerce'] "
     "(got 'crmm')"),
])
def test_each_mistake_is_named_exactly(tmp_path: Path, rule: str, message: str) -> None:
    path = quality_file(tmp_path, f"rules:\n  - {rule}\n")
    assert issues_of(path) == [f"{path}: {message}"]


def test_all_mistakes_of_a_file_are_raised_once(tmp_path: Path) -> None:
    path = quality_file(tmp_path, """
references:
  countries: []
rules:
  - {name: a, type: regex, column: email, action: warn}
  - {name: b, type: pattern, pattern: '(', action: drop}
  - {name: a, type: reference, column: country, reference: countries, reference_column: code, action: warn}
colour: blue
""")
    with pytest.raises(ConfigError) as err:
        load_quality_rules(path)
    assert str(err.value) == "\n".join([
        "invalid configuration (7 issue(s)):",
        f"  - {path}: colour: expected one of the known keys ['references', 'rules'] (got an unknown key)",
        f"  - {path}: references.countries: expected a non-empty list of values (got [])",
        f"  - {path}: rules[0].type: expected one of ['mandatory', 'pattern', 'allowed_values', 'range', "
        "'reference', 'unique', 'expression'] (got 'regex')",
        f"  - {path}: rules[1].action: expected one of ['warn', 'quarantine', 'fail'] (got 'drop')",
        f"  - {path}: rules[1].column: expected the column the rule checks ('column: <name>', or 'columns: [...]' "
        "for several) (got nothing (the key is required))",
        f"  - {path}: rules[1].pattern: expected a valid regular expression (missing ), unterminated subpattern "
        "at position 0) (got '(')",
        f"  - {path}: rules[2].name: expected a rule name not already used by rules[0] (got 'a')",
    ])


def test_missing_file_and_missing_rules_key(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert issues_of(missing) == [f"{missing}: (file): expected an existing YAML file (got no such file)"]
    empty = quality_file(tmp_path, "references: {}\n")
    assert issues_of(empty) == [f"{empty}: rules: expected a list of mappings (got nothing (the key is required))"]
