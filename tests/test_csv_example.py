"""The README's worked example: a user's own CSV (foreign headers, ';', dd/MM/yyyy) resolved with one source YAML."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from pyspark.sql import SparkSession

from customer_mdm.config import load_config
from customer_mdm.config.resolve import load_resolve_settings
from customer_mdm.gold.edges import rid
from customer_mdm.gold.identity import entity_id_for
from customer_mdm.hops.batch import file_sources, run_batch
from customer_mdm.ops.runs import Run
from customer_mdm.storage import open_store
from project_conf import write_weighted_matching

REPO = Path(__file__).resolve().parents[1]

MEMBERS_YAML = """\
# conf/sources/members.yaml: a club's member list exported from a German spreadsheet.
name: members
format: csv
path: data/landing/members/*.csv
options: {header: "true", delimiter: ";", encoding: UTF-8}
columns: [Mitgliedsnummer, Vorname, Nachname, EMail, Telefon, Strasse, PLZ, Ort, Land, Geburtsdatum, Stand]
mapping:
  source_record_id: Mitgliedsnummer
  first_name: Vorname
  last_name: Nachname
  email: EMail
  phone: Telefon
  address_line1: Strasse
  postcode: PLZ
  city: Ort
  country: Land
  date_of_birth: Geburtsdatum
  source_updated_at: Stand
sequence_column: Stand
date_format: dd/MM/yyyy
timestamp_format: dd/MM/yyyy HH:mm
"""

MEMBERS_CSV = """\
Mitgliedsnummer;Vorname;Nachname;EMail;Telefon;Strasse;PLZ;Ort;Land;Geburtsdatum;Stand
M1;Robert;Smith;bob.smith@example.com;(617) 555-0101;12 Main Street;02139;Cambridge;US;04/03/1980;01/06/2024 10:00
M2;Bob;Smith;BOB.SMITH@example.com;617-555-0101;12 Main St;02139;Cambridge;US;04/03/1980;02/06/2024 11:30
M3;Alice;Jones;alice@example.com;;5 Oak Ave;10001;New York;US;25/12/1975;01/06/2024 10:00
"""


def test_a_users_csv_resolves_with_one_source_file(spark: SparkSession, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "sources").mkdir(parents=True)
    for name in ("pipeline.yaml", "quality.yaml"):
        shutil.copy(REPO / "conf" / name, conf / name)
    write_weighted_matching(conf)
    (conf / "sources" / "members.yaml").write_text(MEMBERS_YAML)
    landing = tmp_path / "data" / "landing" / "members"
    landing.mkdir(parents=True)
    (landing / "members_2024-06.csv").write_text(MEMBERS_CSV)

    config = load_config(conf, lake=tmp_path / "lake")
    store = open_store(spark, config)
    summary = run_batch(spark, store, config, Run(store, "run-members", "test", "batch", {}),
                        sources=file_sources(config), resolve=load_resolve_settings(config))  # = jobs/batch_job.py
    party = {r["source_record_id"]: r for r in store.read("silver.party").collect()}
    assert (party["M1"]["date_of_birth"], party["M3"]["date_of_birth"]) == (dt.date(1980, 3, 4), dt.date(1975, 12, 25))
    assert party["M2"]["email"] == "bob.smith@example.com" and party["M2"]["phone_e164"] == "+16175550101"

    pairs = [(r["l_source_record_id"], r["r_source_record_id"], r["blocking_rule"], r["decision"])
             for r in store.read("gold.match_pairs").collect()]
    assert pairs == [("M1", "M2", "email", "auto_merge")]
    assert summary.resolve.decisions == {"auto_merge": 1}
    entities = {r["source_record_id"]: r["entity_id"] for r in store.read("gold.entity_xref").collect()}
    bob = entity_id_for(rid("members", "M1"))
    assert entities == {"M1": bob, "M2": bob, "M3": entity_id_for(rid("members", "M3"))}
    golden = {r["entity_id"]: r for r in store.read("gold.golden_record").collect()}
    assert golden[bob]["record_count"] == 2 and golden[bob]["emails"] == ["bob.smith@example.com"]
