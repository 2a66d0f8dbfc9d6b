"""Gold table names and schemas of entity resolution (change data feed on, for downstream consumers)."""
from __future__ import annotations

from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from customer_mdm.gold.scoring import SCORED_SCHEMA

MATCH_PAIRS = "gold.match_pairs"
BLOCKING_SKIPPED = "gold.blocking_skipped"
GOLD_PROPERTIES = {"delta.enableChangeDataFeed": "true"}

#: Every scored candidate pair: keys (left < right), blocking rule, per-comparison explanation, weights,
#: probability, decision, model version, and the run and silver.party version it was scored from.
MATCH_PAIRS_SCHEMA = StructType(SCORED_SCHEMA.fields + [
    StructField("silver_version", LongType()),
    StructField("run_id", StringType()),
    StructField("scored_at", TimestampType()),
])

#: Blocks skipped for their size: which rule, the key values (JSON), and what was not compared.
BLOCKING_SKIPPED_SCHEMA = StructType([
    StructField("blocking_rule", StringType()),
    StructField("block_key", StringType()),
    StructField("records", LongType()),
    StructField("pairs_skipped", LongType()),
    StructField("silver_version", LongType()),
    StructField("run_id", StringType()),
    StructField("recorded_at", TimestampType()),
])
