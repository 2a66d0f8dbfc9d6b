"""Gold table names and schemas of entity resolution (change data feed on, for downstream consumers)."""
from __future__ import annotations

from pyspark.sql.types import (ArrayType, BooleanType, DoubleType, LongType, StringType, StructField, StructType,
                               TimestampType)

from customer_mdm.gold.scoring import PAIR_KEYS, SCORED_SCHEMA, TERM_TYPE
from customer_mdm.gold.survivorship import GOLDEN_SCHEMA

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

RESOLVE_LOG = "gold.resolve_log"
MATCH_EDGES = "gold.match_edges"
REVIEW_QUEUE = "gold.review_queue"
ENTITY_XREF = "gold.entity_xref"
ENTITY_MERGES = "gold.entity_merges"
GOLDEN_RECORD = "gold.golden_record"
GOLDEN_HISTORY = "gold.golden_record_history"

_PAIR = [StructField(k, StringType()) for k in PAIR_KEYS]
#: Hop 2 numbers its increments (gold.resolve_log); state tables are read "as of before increment n".
_HOP = [StructField("increment", LongType()), StructField("silver_version", LongType()),
        StructField("run_id", StringType()), StructField("recorded_at", TimestampType())]

#: One row per hop-2 increment, written first: which silver.party version it resolves and how (incremental:
#: the records changed since the previous increment; full: every record re-scored with the current model).
RESOLVE_LOG_SCHEMA = StructType([
    StructField("increment", LongType()),
    StructField("silver_version", LongType()),
    StructField("previous_silver_version", LongType()),
    StructField("mode", StringType()),
    StructField("model_version", StringType()),
    StructField("run_id", StringType()),
    StructField("recorded_at", TimestampType()),
])

#: Append-only log of edge events: an edge is active while its latest event is 'add'. Origin 'model'
#: (auto-merge decisions, retracted when a record changes) or 'review' (accepted by a person; kept).
MATCH_EDGES_SCHEMA = StructType(_PAIR + [
    StructField("action", StringType()),
    StructField("origin", StringType()),
    StructField("match_probability", DoubleType()),
    StructField("model_version", StringType()),
    *_HOP,
])

#: One row per pair a person should look at; status open -> accepted | rejected, remembered across runs.
REVIEW_QUEUE_SCHEMA = StructType(_PAIR + [
    StructField("reason", StringType()),
    StructField("blocking_rule", StringType()),
    StructField("match_probability", DoubleType()),
    StructField("explanation", ArrayType(TERM_TYPE)),
    StructField("status", StringType()),
    StructField("decided_by", StringType()),
    StructField("decided_at", TimestampType()),
    StructField("note", StringType()),
    *_HOP,
])

BLOCKING_KEYS = "gold.blocking_keys"
#: The persisted blocking index: one row per live source record with its block key per blocking rule (config
#: order, JSON of the key values, null where one is null) and the digest of the rules they were computed with.
#: Hop 2 keeps it in step with silver.party, so a small increment finds its candidates here, not by keying
#: every live record again.
BLOCKING_KEYS_SCHEMA = StructType([
    StructField("source_system", StringType()),
    StructField("source_record_id", StringType()),
    StructField("block_keys", ArrayType(StringType())),
    StructField("rules_digest", StringType()),
    *_HOP,
])

#: Versioned by hop-2 increment as well as time, so a re-run reads the state before its own increment.
_SCD2 = [StructField("valid_from", TimestampType()), StructField("valid_to", TimestampType()),
         StructField("valid_from_increment", LongType()), StructField("valid_to_increment", LongType()),
         StructField("is_current", BooleanType())]

#: Source record -> entity id, SCD Type 2; ``change`` says why a version began (new, joined, merged, split...).
ENTITY_XREF_SCHEMA = StructType([
    StructField("source_system", StringType()),
    StructField("source_record_id", StringType()),
    StructField("entity_id", StringType()),
    StructField("is_anchor", BooleanType()),
    StructField("first_seen", TimestampType()),
    StructField("change", StringType()),
    *_SCD2,
    StructField("run_id", StringType()),
    StructField("recorded_at", TimestampType()),
])

#: Id redirects (kind 'merge': from_entity_id now lives on as to_entity_id; chains flattened, the latest row
#: per from_entity_id wins) and splits (kind 'split': to_entity_id was split off from_entity_id).
ENTITY_MERGES_SCHEMA = StructType([
    StructField("from_entity_id", StringType()),
    StructField("to_entity_id", StringType()),
    StructField("kind", StringType()),
    *_HOP,
])

#: One row per live entity: survivorship's golden attributes, and when and by which run it last changed.
GOLDEN_RECORD_SCHEMA = StructType(GOLDEN_SCHEMA.fields + [
    StructField("updated_increment", LongType()),
    StructField("run_id", StringType()),
    StructField("updated_at", TimestampType()),
])

#: Every version of every golden record (SCD Type 2, versioned like the xref).
GOLDEN_HISTORY_SCHEMA = StructType(GOLDEN_RECORD_SCHEMA.fields + _SCD2)

MANUAL_OVERRIDES = "gold.manual_overrides"
#: Manual decisions as an append-only log a data steward (jobs/override.py, or a UI) writes; hop 2 reads it,
#: with conf/overrides.yaml, before every increment (config/overrides.py ``with_table_rows``). kind force_link |
#: force_split name left_record, right_record as '<source_system>:<source_record_id>'; kind pin names entity_id,
#: attribute (a golden column) and value. action add | revoke; per pair and kind, or entity and attribute, the
#: row with the latest entered_at is in effect (a later pin replaces the value; a revoke needs no value).
MANUAL_OVERRIDES_SCHEMA = StructType([
    StructField("kind", StringType()),
    StructField("action", StringType()),
    StructField("left_record", StringType()),
    StructField("right_record", StringType()),
    StructField("entity_id", StringType()),
    StructField("attribute", StringType()),
    StructField("value", StringType()),
    StructField("reason", StringType()),
    StructField("entered_by", StringType()),
    StructField("entered_at", TimestampType()),
])
