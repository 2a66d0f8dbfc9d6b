"""Comparison levels, table-driven: each level kind on pairs that must and must not hold it."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from customer_mdm.config.matching import LevelSpec, load_matching
from customer_mdm.errors import ConfigError
from customer_mdm.gold.comparisons import Comparison, build_level, comparison_levels, comparison_vectors, levels_of

D = dt.date

LEVEL_CASES = [
    # (level spec, left, right, holds)
    (LevelSpec("exact", "exact"), "Smith", "smith ", True),
    (LevelSpec("exact", "exact"), "Smith", "Smyth", False),
    (LevelSpec("similar", "jw", function="jaro_winkler", threshold=0.92), "Jonathan", "Jonathon", True),
    (LevelSpec("similar", "jw", function="jaro_winkler", threshold=0.92), "Jon", "Jane", False),
    (LevelSpec("similar", "lev", function="levenshtein", threshold=0.85), "john.smith@x.com", "johnsmith@x.com",
     True),
    (LevelSpec("similar", "lev", function="levenshtein", threshold=0.85), "john@x.com", "mary@x.com", False),
    (LevelSpec("similar", "ts", function="token_set", threshold=0.9), "12 MAIN ST APT 4", "12 MAIN ST", True),
    (LevelSpec("similar", "ts", function="token_set", threshold=0.9), "12 MAIN ST", "98 OAK AVE", False),
    (LevelSpec("nickname", "nick"), "Bob", "Robert", True),
    (LevelSpec("nickname", "nick"), "Robert", "Bob", True),
    (LevelSpec("nickname", "nick"), "Bob", "Rob", True),     # two nicknames of one canonical name
    (LevelSpec("nickname", "nick"), "Bob", "William", False),
    (LevelSpec("phonetic", "sx", algorithm="soundex"), "Smith", "Smyth", True),
    (LevelSpec("phonetic", "sx", algorithm="soundex"), "Smith", "Jones", False),
    (LevelSpec("phonetic", "mp", algorithm="metaphone"), "Catherine", "Kathryn", True),
    (LevelSpec("date_within", "1y", days=365), D(1980, 1, 1), D(1980, 12, 31), True),
    (LevelSpec("date_within", "1y", days=365), D(1980, 1, 1), D(1981, 1, 2), False),
    (LevelSpec("date_transposed", "swap"), D(1980, 3, 4), D(1980, 4, 3), True),
    (LevelSpec("date_transposed", "swap"), D(1980, 3, 4), D(1981, 4, 3), False),
    (LevelSpec("date_transposed", "swap"), D(1980, 3, 4), D(1980, 3, 5), False),
]


@pytest.mark.parametrize(("spec", "left", "right", "holds"), LEVEL_CASES,
                         ids=[f"{c[0].kind}-{c[1]}-{c[2]}" for c in LEVEL_CASES])
def test_level_holds(spec: LevelSpec, left: object, right: object, holds: bool) -> None:
    comparison = Comparison("c", "v", (build_level(LevelSpec("missing", "missing")), build_level(spec),
                                       build_level(LevelSpec("else", "else"))), term_frequency=False)
    got = comparison_levels(comparison, pa.array([left]), pa.array([right]))
    assert list(got) == [1 if holds else 2]


def _name_comparison() -> Comparison:
    specs = [LevelSpec("missing", "missing"), LevelSpec("exact", "exact"), LevelSpec("nickname", "nickname"),
             LevelSpec("similar", "jw", function="jaro_winkler", threshold=0.85), LevelSpec("else", "else")]
    return Comparison("first_name", "first_name", tuple(build_level(s) for s in specs), term_frequency=False)


def test_first_level_that_holds_wins_and_missing_or_blank_is_missing() -> None:
    left = pa.array(["Robert", "Bob", "Robert", "Roberta", None, "Anna", "  "])
    right = pa.array(["ROBERT", "Robert", "Roberto", "Bob", "Robert", "Zoe", "Anna"])
    # exact beats nickname; nickname before jaro-winkler; Roberta~Bob is nothing; null and blank are missing
    assert list(comparison_levels(_name_comparison(), left, right)) == [1, 2, 3, 4, 0, 4, 0]


def test_levels_of_reads_prefixed_columns_per_comparison() -> None:
    pairs = pa.table({"l_first_name": ["Bob", None], "r_first_name": ["Robert", "Ann"]})
    assert levels_of((_name_comparison(),), pairs).tolist() == [[2], [0]]


def test_spark_evaluates_the_same_levels(spark: SparkSession) -> None:
    pairs = spark.createDataFrame([("1", "Bob", "Robert"), ("2", "Micheal", "Michael"), ("3", None, "X")],
                                  "id string, l_first_name string, r_first_name string")
    expected = spark.createDataFrame([("1", 2), ("2", 3), ("3", 0)], "id string, first_name byte")
    got = comparison_vectors((_name_comparison(),), pairs, keep=["id"])
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_bad_levels_name_file_key_and_expectation(tmp_path: Path) -> None:
    file = tmp_path / "matching.yaml"
    file.write_text("""
blocking:
  rules: [{name: email, keys: [email]}]
comparisons:
  - name: first_name
    levels:
      - {kind: exact}
      - {kind: similar, function: jaro, threshold: 1.5}
      - {kind: date_within, days: 3}
  - name: shoe_size
    levels: [{kind: missing}, {kind: else}]
""")
    with pytest.raises(ConfigError) as caught:
        load_matching(file)
    f = str(file)
    assert [str(i) for i in caught.value.issues] == [
        f"{f}: comparisons[0].levels[1].function: expected one of ['jaro_winkler', 'levenshtein', 'token_set'] "
        "(got 'jaro')",
        f"{f}: comparisons[0].levels[1].threshold: expected a number in [0.0, 1.0] (got 1.5)",
        f"{f}: comparisons[0].levels[2].kind: expected a level for a text column ['missing', 'exact', 'similar', "
        "'nickname', 'phonetic', 'else'] (got 'date_within')",
        f"{f}: comparisons[0].levels[0].kind: expected 'missing' (the first level takes pairs where either value "
        "is null) (got 'exact')",
        f"{f}: comparisons[0].levels[2].kind: expected 'else' (the last level takes every other pair) "
        "(got 'date_within')",
        f"{f}: comparisons[1].column: expected a silver.party column, one of ['full_name', 'first_name', "
        "'middle_name', 'last_name', 'name_suffix', 'email', 'phone_e164', 'address_line1', 'address_line2', "
        "'city', 'state', 'postcode', 'postcode_plus4', 'country', 'company', 'date_of_birth'] (got 'shoe_size')",
    ]
