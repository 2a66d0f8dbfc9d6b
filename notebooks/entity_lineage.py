# %% [markdown]
# # Entity lineage: every source record and version behind one golden record
# gold.golden_record -> gold.entity_xref (which records, since when, why) -> silver.party_history (every
# version of those records) -> the bronze rows they came from. Runs headless:
# `MDM_CONF=conf MDM_LAKE=lake MDM_ENTITY_ID=<id> python notebooks/entity_lineage.py`
# (no MDM_ENTITY_ID: the entity holding the most source records).

# %%
import os

import pandas as pd
from pyspark.sql import functions as F

from customer_mdm.config import load_config
from customer_mdm.gold.tables import ENTITY_MERGES, ENTITY_XREF, GOLDEN_RECORD
from customer_mdm.hops.refine import HISTORY
from customer_mdm.ops.report import open_lake
from customer_mdm.silver.canonical import file_rows, kafka_rows

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 30)
pd.set_option("display.max_colwidth", 60)
lake = open_lake(load_config(os.environ.get("MDM_CONF", "conf"), lake=os.environ.get("MDM_LAKE") or None))
store = lake.store

# %% Which entity: the one asked for (following merge redirects), else the largest
xref = store.read(ENTITY_XREF)
entity_id = os.environ.get("MDM_ENTITY_ID")
if entity_id:
    redirect = store.read(ENTITY_MERGES).where((F.col("kind") == "merge") & (F.col("from_entity_id") == entity_id)) \
        .orderBy(F.desc("increment")).select("to_entity_id").first() if store.exists(ENTITY_MERGES) else None
    if redirect is not None:
        print(f"entity {entity_id} was merged into {redirect['to_entity_id']}")
        entity_id = redirect["to_entity_id"]
else:
    largest = xref.where("is_current").groupBy("entity_id").count().orderBy(F.desc("count"), "entity_id").first()
    if largest is None:
        raise SystemExit(f"{ENTITY_XREF} has no current record: run the batch job first")
    entity_id = largest["entity_id"]
print(f"entity {entity_id}")

# %% The golden record, one attribute per line
golden = store.read(GOLDEN_RECORD).where(F.col("entity_id") == entity_id).toPandas()
if golden.empty:
    raise SystemExit(f"no golden record for entity {entity_id} in {GOLDEN_RECORD}")
print("\n== golden record ==")
print(golden.drop(columns=["entity_id"]).T.rename(columns={0: "value"}).to_string())

# %% Every source record ever linked to it: gold.entity_xref versions (SCD2)
records = xref.where(F.col("entity_id") == entity_id).select("source_system", "source_record_id").distinct()
links = xref.join(records, ["source_system", "source_record_id"]).orderBy(
    "source_system", "source_record_id", "valid_from").select(
    "source_system", "source_record_id", "entity_id", "is_anchor", "change", "valid_from", "valid_to", "is_current")
print(f"\n== {records.count()} source records, their xref versions ==")
print(links.toPandas().to_string(index=False))

# %% Every silver version of those records, with its bronze reference
versions = store.read(HISTORY).join(records, ["source_system", "source_record_id"]).orderBy(
    "source_system", "source_record_id", "valid_from")
print("\n== silver.party_history versions ==")
print(versions.select("source_system", "source_record_id", "valid_from", "valid_to", "is_current", "is_deleted",
                      "full_name", "email", "phone_e164", "postcode", "_bronze_version", "_source_ref",
                      "_ingest_run_id").toPandas().to_string(index=False))

# %% The bronze rows those versions came from, as received
refs = versions.select("source_system", "_source_ref").distinct()
for source in lake.config.sources:
    if not store.exists(source.bronze_table):
        continue
    bronze = store.read(source.bronze_table)
    lineaged = kafka_rows(bronze, source).rows if source.format == "kafka" else file_rows(bronze).rows
    rows = lineaged.join(refs.where(F.col("source_system") == source.name).drop("source_system"), "_source_ref")
    if rows.isEmpty():
        continue
    print(f"\n== {source.bronze_table} rows ==")
    print(rows.select("_source_ref", "_ingest_run_id", "_ingested_at", *source.columns)
          .orderBy("_source_ref").toPandas().to_string(index=False))

# %%
lake.close()
