"""The sample generator: deterministic files in the configured layouts, with the truth and the mess real data has."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from nicknames import NickNamer

from customer_mdm.config import PipelineConfig
from customer_mdm.errors import ConfigError
from customer_mdm.samples import generator
from customer_mdm.samples.generator import GenerationSummary, generate
from customer_mdm.samples.noise import NoiseProfile

REPO = Path(__file__).resolve().parents[1]
ID_COLUMN = {"crm": "customer_id", "ecommerce": "user_id", "billing": "account_no"}
DELETED = {"crm": ("status", "DELETED"), "ecommerce": ("deleted", "true"), "billing": ("is_closed", "1")}
UPDATED_AT = {"crm": "updated_at", "ecommerce": "last_modified", "billing": "modified_ts"}
STRUCTURE = {"duplicate_rate", "max_records_per_entity", "same_source_duplicate_rate", "late_arrival_rate",
             "update_rate", "delete_rate", "household_rate", "shared_email_rate", "shared_phone_rate", "twin_rate",
             "junior_rate"}
# Every variation off: records show their person's values exactly.
Row = dict[str, str | None]
CLEAN = {f.name: 0 for f in fields(NoiseProfile) if f.name not in STRUCTURE}


def read_rows(path: Path) -> list[dict[str, str | None]]:
    """The rows of one generated file as dicts; CSV rows of the wrong length are left out."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with path.open(newline="", encoding="utf-8") as f:
        header, *lines = list(csv.reader(f))
    return [dict(zip(header, line)) for line in lines if len(line) == len(header)]


def extract(summary: GenerationSummary, source: str, number: int) -> list[dict[str, str | None]]:
    (path,) = [f.path for f in summary.files if (f.source, f.extract) == (source, number)]
    return read_rows(path)


def truth_of(summary: GenerationSummary) -> dict[tuple[str, str], str]:
    with summary.truth.open(newline="") as f:
        rows = list(csv.DictReader(f))
    mapping = {(r["source_system"], r["source_record_id"]): r["entity_id"] for r in rows}
    assert len(mapping) == len(rows), "a record is listed twice in the truth file"
    return mapping


def without(row: dict[str, str | None], column: str) -> dict[str, str | None]:
    return {k: v for k, v in row.items() if k != column}


def by_id(rows: list[dict[str, str | None]], source: str) -> dict[str, dict[str, str | None]]:
    return {str(r[ID_COLUMN[source]]): r for r in rows}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    out = tmp_path_factory.mktemp("sample") / "landing"
    return generate(out, records=3_000, seed=7, extracts=3, malformed=4)


def all_bytes(summary: GenerationSummary) -> dict[str, bytes]:
    root = summary.truth.parent.parent
    return {str(p.relative_to(root)): p.read_bytes() for p in [*(f.path for f in summary.files), summary.truth]}


def test_same_seed_and_size_give_byte_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a" / "landing", records=1_500, seed=11, malformed=2)
    again = generate(tmp_path / "b" / "landing", records=1_500, seed=11, malformed=2)
    other = generate(tmp_path / "c" / "landing", records=1_500, seed=12, malformed=2)

    assert all_bytes(first).keys() == all_bytes(again).keys() == {
        "landing/crm/crm_0001.csv", "landing/crm/crm_0002.csv", "landing/ecommerce/ecommerce_0001.jsonl",
        "landing/ecommerce/ecommerce_0002.jsonl", "landing/billing/billing_0001.parquet",
        "landing/billing/billing_0002.parquet", "truth/truth.csv"}
    assert all_bytes(first) == all_bytes(again)
    assert all(all_bytes(first)[name] != data for name, data in all_bytes(other).items())


def test_output_does_not_depend_on_the_chunk_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = generate(tmp_path / "whole" / "landing", records=1_500, seed=3, malformed=3)
    monkeypatch.setattr(generator, "CHUNK_ROWS", 97)
    chunked = generate(tmp_path / "chunked" / "landing", records=1_500, seed=3, malformed=3)

    for a, b in zip(whole.files, chunked.files):
        if a.path.suffix == ".parquet":  # row groups follow the chunks; the rows must not
            assert pq.read_table(a.path).equals(pq.read_table(b.path))
        else:
            assert a.path.read_bytes() == b.path.read_bytes()


def test_truth_lists_every_record_once_and_nothing_else(sample: GenerationSummary) -> None:
    truth = truth_of(sample)
    seen = {(f.source, str(r[ID_COLUMN[f.source]])) for f in sample.files for r in read_rows(f.path)}

    assert seen == set(truth)
    assert len(truth) == sample.records
    assert len(set(truth.values())) == sample.entities
    assert sum(f.rows for f in sample.files) == sum(len(read_rows(f.path)) for f in sample.files)


def test_files_have_exactly_the_configured_columns(spark, config: PipelineConfig,
                                                   sample: GenerationSummary) -> None:
    landing = sample.files[0].path.parent.parent
    for source in config.sources:
        if source.name not in ID_COLUMN:
            continue
        assert source.path is not None
        files = str(landing / source.name / Path(source.path).name)  # the configured glob, e.g. *.jsonl
        df = spark.read.options(**source.options).format(source.format).load(files)
        # Spark's JSON reader infers fields in alphabetical order; CSV and Parquet keep the file's order.
        expected = sorted(source.columns) if source.format == "json" else list(source.columns)
        assert df.columns == expected, source.name
        assert dict(df.dtypes) == {c: "string" for c in source.columns}, source.name
        rows = sum(f.rows + f.malformed for f in sample.files if f.source == source.name)
        assert df.count() == rows, source.name


def test_malformed_csv_rows_have_the_wrong_field_count(sample: GenerationSummary) -> None:
    truth = truth_of(sample)
    bad: list[list[str]] = []
    for f in sample.files:
        if f.path.suffix == ".csv":
            with f.path.open(newline="") as handle:
                header, *lines = list(csv.reader(handle))
            bad += [line for line in lines if len(line) != len(header)]

    assert sorted(len(line) for line in bad) == [14, 14, 18, 18]
    assert [f.malformed for f in sample.files] == [4, 0, 0, 0, 0, 0, 0, 0, 0]
    assert not any(("crm", line[0]) in truth for line in bad)


def test_later_extracts_update_and_delete_earlier_records_and_add_new_ones(sample: GenerationSummary) -> None:
    for source in ID_COLUMN:
        column, marker = DELETED[source]
        seen = by_id(extract(sample, source, 1), source)
        for number in (2, 3):
            later = by_id(extract(sample, source, number), source)
            resent = [i for i in later if i in seen]
            deleted = [i for i in resent if later[i][column] == marker]
            updated = [i for i in resent if later[i][column] != marker]
            assert deleted and updated and set(later) - set(seen), (source, number)
            ts = UPDATED_AT[source]
            assert all(str(later[i][ts]) > str(seen[i][ts]) for i in resent), (source, number)
            # Most updates change a value the file shows; the rest changed what it leaves out
            # (billing has no opt-out column; a new phone of a record without one stays empty).
            changed = [i for i in updated if without(later[i], ts) != without(seen[i], ts)]
            assert len(changed) >= 0.6 * len(updated), (source, number, len(changed), len(updated))
            assert not any(seen[i][column] == marker for i in resent), "a deleted record came back"
            seen.update(later)


def test_noise_rates_are_roughly_honoured(tmp_path: Path) -> None:
    clean = generate(tmp_path / "clean" / "landing", records=8_000, seed=5, noise=NoiseProfile.from_mapping(CLEAN))
    rates = {"typo_rate": 0.2, "nickname_rate": 0.5, "phone_format_rate": 0.3, "last_first_rate": 0.4,
             "missing_rate": 0.1, "opt_out_rate": 0.25}
    noisy = generate(tmp_path / "noisy" / "landing", records=8_000, seed=5,
                     noise=NoiseProfile.from_mapping({**CLEAN, **rates}))
    before, after = by_id(extract(clean, "crm", 1), "crm"), by_id(extract(noisy, "crm", 1), "crm")
    assert before.keys() == after.keys() and len(before) > 1_500

    def share(ids: list[str], changed: Callable[[Row, Row], object]) -> float:
        return sum(1 for i in ids if changed(before[i], after[i])) / len(ids)

    ids = list(before)
    nicknames = NickNamer()
    nicknamed = [i for i in ids if nicknames.nicknames_of(str(before[i]["first_name"]))]
    assert share(ids, lambda a, b: a["last_name"] != b["last_name"]) == pytest.approx(0.2, abs=0.04)
    # a nickname (0.5) or a typo (0.2) changes a first name that has nicknames
    assert share(nicknamed, lambda a, b: a["first_name"] != b["first_name"]) == pytest.approx(0.6, abs=0.06)
    assert share(ids, lambda a, b: a["phone"] and b["phone"] and a["phone"] != b["phone"]) == pytest.approx(
        0.3 * 0.9, abs=0.05)
    assert share(ids, lambda a, b: b["email"] == "") == pytest.approx(0.1, abs=0.03)
    assert share(ids, lambda a, b: b["email_opt_out"] == "Y") == pytest.approx(0.25, abs=0.04)
    shop = extract(noisy, "ecommerce", 1)
    assert sum("," in str(r["name"]) for r in shop) / len(shop) == pytest.approx(0.4, abs=0.04)
    first = by_id(extract(clean, "crm", 1), "crm")
    second = extract(clean, "crm", 2)
    deleted = sum(1 for r in second if r["customer_id"] in first and r["status"] == "DELETED")
    updated = sum(1 for r in second if r["customer_id"] in first and r["status"] == "ACTIVE")
    assert deleted / len(first) == pytest.approx(0.03, abs=0.015)
    assert updated / len(first) == pytest.approx(0.15, abs=0.03)


def test_hard_negatives_are_present(tmp_path: Path) -> None:
    families = {**CLEAN, "household_rate": 0.6, "junior_rate": 0.5, "twin_rate": 0.5, "shared_email_rate": 0.5}
    summary = generate(tmp_path / "landing", records=3_000, seed=9, noise=NoiseProfile.from_mapping(families))
    truth = truth_of(summary)
    crm = extract(summary, "crm", 1)
    entity = {r["customer_id"]: truth[("crm", str(r["customer_id"]))] for r in crm}
    by_email: dict[str, set[str]] = defaultdict(set)
    for f in summary.files:
        for r in read_rows(f.path):
            email = r.get("email") or r.get("email_address") or r.get("billing_email")
            if email:
                by_email[email.strip().lower()].add(truth[(f.source, str(r[ID_COLUMN[f.source]]))])
    shared_emails = [e for e, people in by_email.items() if len(people) > 1]

    def people_sharing(key: Callable[[Row], tuple[object, ...]], differ: Callable[[Row, Row], bool]) -> int:
        """Pairs of records of two different people with the same ``key`` that ``differ``."""
        groups: dict[tuple[object, ...], list[Row]] = defaultdict(list)
        for r in crm:
            groups[key(r)].append(r)
        return sum(1 for rows in groups.values() for a in rows for b in rows
                   if entity[a["customer_id"]] < entity[b["customer_id"]] and differ(a, b))

    twins = people_sharing(lambda r: (r["last_name"], r["birth_date"], r["street"]),
                           lambda a, b: a["first_name"] != b["first_name"])
    juniors = people_sharing(lambda r: (r["first_name"], r["middle_name"], r["street"],
                                        str(r["last_name"]).removesuffix(" Jr").removesuffix(" Sr")),
                             lambda a, b: {str(a["last_name"])[-3:], str(b["last_name"])[-3:]} == {" Jr", " Sr"})
    assert len(shared_emails) >= 10 and twins >= 3 and juniors >= 3, (len(shared_emails), twins, juniors)


def test_noise_profile_reports_every_bad_setting_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        NoiseProfile.from_mapping({"typo_rate": 2, "typos": 0.1, "max_records_per_entity": 0})
    assert str(raised.value) == (
        "invalid configuration (3 issue(s)):\n"
        "  - noise profile: typos: expected one of the known keys "
        f"{sorted(f.name for f in fields(NoiseProfile))} (got an unknown key)\n"
        "  - noise profile: max_records_per_entity: expected an integer >= 1 (got 0)\n"
        "  - noise profile: typo_rate: expected a number in [0.0, 1.0] (got 2)")
    with pytest.raises(ConfigError, match=r"--noise: typo_rate: expected key=value, e.g. typo_rate=0.1"):
        NoiseProfile().with_overrides(["typo_rate"])
    yaml_file = tmp_path / "noise.yaml"
    yaml_file.write_text("typo_rate: 0.2\nmax_records_per_entity: 3\n")
    profile = NoiseProfile.load(yaml_file).with_overrides(["delete_rate=0.5", "typo_rate=0.25"])
    assert (profile.typo_rate, profile.max_records_per_entity, profile.delete_rate) == (0.25, 3, 0.5)
    with pytest.raises(ConfigError, match="update_rate: expected update_rate \\+ delete_rate <= 1"):
        profile.with_overrides(["update_rate=0.6"])


def test_bad_arguments_fail_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        generate(tmp_path / "landing", records=0, extracts=0, malformed=-1)
    assert [(i.key, i.expected) for i in raised.value.issues] == [
        ("records", "an integer >= 1"),
        ("extracts", "an integer from 1 to 120 (monthly extracts from 2024)"),
        ("malformed", "an integer >= 0")]
    with pytest.raises(ConfigError, match="malformed: expected at most the [0-9]+ rows of the first CRM extract"):
        generate(tmp_path / "landing", records=20, malformed=500)
    assert not (tmp_path / "landing").exists()


def test_fewer_extracts_replace_the_files_of_a_larger_run(tmp_path: Path) -> None:
    generate(tmp_path / "landing", records=500, extracts=3)
    summary = generate(tmp_path / "landing", records=500, extracts=2)
    on_disk = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert on_disk == sorted([str(f.path.relative_to(tmp_path)) for f in summary.files] + ["truth/truth.csv"])


def test_command_line_writes_the_sample_and_prints_a_summary(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "jobs/generate_sample.py", "--out", str(tmp_path / "landing"),
                          "--records", "400", "--seed", "1", "--extracts", "1", "--malformed", "1",
                          "--noise", "typo_rate=0.5", "--truth", str(tmp_path / "t.csv")],
                         cwd=REPO, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert f"truth: {tmp_path / 't.csv'}" in run.stdout
    assert f"{tmp_path / 'landing' / 'crm' / 'crm_0001.csv'}: " in run.stdout and "(+1 malformed)" in run.stdout
    assert (tmp_path / "landing" / "billing" / "billing_0001.parquet").is_file()

    bad = subprocess.run([sys.executable, "jobs/generate_sample.py", "--out", str(tmp_path / "other"),
                          "--noise", "typo_rate=lots"], cwd=REPO, capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "--noise: typo_rate: expected a number (got 'lots')" in bad.stderr
    assert not (tmp_path / "other").exists()
