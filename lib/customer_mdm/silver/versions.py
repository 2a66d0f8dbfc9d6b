"""Hash-based change detection, sequencing and SCD Type 2 chains for silver.

A *version* of a party record is identified by its key, its business time
(``valid_from``: the source's update time, else ingest time) and the SHA-256
of its tracked columns. Versions are ordered by (valid_from, bronze version,
row in bronze) so "newer" means the same thing in every arrival order: a late
older version lands in its place in history and never overwrites the current
record, and a delete is a tombstone version that a late older update cannot
get past.

Each version also stores the SHA-256 of its *input* (the canonical values
before standardization and how the source is standardized): a row whose
input and update time equal the stored current record's would standardize
to that same record, so the hop recognises it as unchanged without running
the standardization libraries on it again.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, BooleanType, DateType, LongType, StringType, StructField, StructType,
                               TimestampType)

from customer_mdm.party import CANONICAL_COLUMNS

KEY: tuple[str, ...] = ("source_system", "source_record_id")
INPUT_HASH = "_input_hash"
SEQUENCE: tuple[str, ...] = ("valid_from", "_bronze_version", "_seq_row")

#: Business attributes whose change makes a new version (the update time itself does not).
TRACKED_COLUMNS: tuple[str, ...] = (
    "full_name", "first_name", "middle_name", "last_name", "name_suffix", "email", "phone_e164",
    "address_line1", "address_line2", "city", "state", "postcode", "postcode_plus4", "country",
    "date_of_birth", "company", "marketing_opt_out", "is_deleted",
)

PARTY_SCHEMA = StructType([
    StructField("source_system", StringType()),
    StructField("source_record_id", StringType()),
    StructField("full_name", StringType()),
    StructField("first_name", StringType()),
    StructField("middle_name", StringType()),
    StructField("last_name", StringType()),
    StructField("name_suffix", StringType()),
    StructField("email", StringType()),
    StructField("phone_e164", StringType()),
    StructField("address_line1", StringType()),
    StructField("address_line2", StringType()),
    StructField("city", StringType()),
    StructField("state", StringType()),
    StructField("postcode", StringType()),
    StructField("postcode_plus4", StringType()),
    StructField("country", StringType()),
    StructField("date_of_birth", DateType()),
    StructField("company", StringType()),
    StructField("marketing_opt_out", BooleanType()),
    StructField("source_updated_at", TimestampType()),
    StructField("is_deleted", BooleanType()),
    StructField("row_hash", StringType()),
    StructField(INPUT_HASH, StringType()),
    StructField("version_id", StringType()),
    StructField("valid_from", TimestampType()),
    StructField("_bronze_version", LongType()),
    StructField("_seq_row", LongType()),
    StructField("_source_ref", StringType()),
    StructField("_ingest_run_id", StringType()),
    StructField("_std_flags", ArrayType(StringType())),
    StructField("_dq_warnings", ArrayType(StringType())),
    StructField("_recorded_at", TimestampType()),
])

HISTORY_SCHEMA = StructType(PARTY_SCHEMA.fields[:-1] + [
    StructField("valid_to", TimestampType()),
    StructField("is_current", BooleanType()),
    PARTY_SCHEMA["_recorded_at"],
])

#: What ``rebuild_chains`` reads of stored history. A stored version only ever moves (valid_to, is_current; the
#: history merge updates nothing else), so its other columns need not be read from a table of every version.
CHAIN_COLUMNS: tuple[str, ...] = (*KEY, *SEQUENCE, "version_id", "valid_to", "is_current", "_recorded_at")

_IS_NEW = "_is_new"
_OLD_VALID_TO = "_old_valid_to"
_OLD_IS_CURRENT = "_old_is_current"


def with_input_hash(canonical: DataFrame, *, standardization: str) -> DataFrame:
    """Adds the input hash to canonical rows (``to_canonical``'s output); ``standardization`` names the
    options they will be standardized with, so a change of a source's formats re-standardizes everything."""
    inputs = F.to_json(F.struct(*[F.col(c) for c in ("source_system", *CANONICAL_COLUMNS, "_is_delete")]))
    return canonical.withColumn(INPUT_HASH, F.sha2(F.concat(F.lit(standardization), inputs), 256))


def changed_input(canonical: DataFrame, current: DataFrame) -> DataFrame:
    """The rows of ``canonical`` (with their input hash) that are not exactly the stored current version's input.

    Only a stored record with an update time counts: without one, a re-sent row takes its ingest time and is a
    new version. Keys are matched as given, so a row whose id standardization would still clean is kept.
    """
    stored = current.where(F.col("source_updated_at").isNotNull()).select(*KEY, INPUT_HASH)
    return canonical.join(stored, [*KEY, INPUT_HASH], "left_anti")


def with_version_identity(valid: DataFrame) -> DataFrame:
    """Adds row_hash, valid_from and version_id to standardized, validated rows."""
    tracked = F.to_json(F.struct(*[F.col(c) for c in TRACKED_COLUMNS]))
    hashed = valid.withColumn("row_hash", F.sha2(tracked, 256)) \
        .withColumn("valid_from", F.coalesce(F.col("source_updated_at"), F.col("_ingested_at")))
    identity = F.concat_ws("\u001f", *[F.col(c) for c in KEY], F.col("valid_from").cast("string"),
                           F.col("row_hash"))
    return hashed.withColumn("version_id", F.sha2(identity, 256))


def _sequence_order(desc: bool = False) -> list[Column]:
    return [F.col(c).desc() if desc else F.col(c).asc() for c in SEQUENCE]


def rebuild_chains(existing: DataFrame, incoming: DataFrame, *, recorded_at: Column) -> DataFrame:
    """Merges incoming versions into the existing history of their keys.

    Returns the rows to upsert into party_history: new versions (``_is_new``)
    and existing ones whose valid_to / is_current moved; ``party_rows`` picks
    the new versions that became current.

    ``existing``: party_history rows of the touched keys, at least their
    CHAIN_COLUMNS; a stored version's other columns come back null when not
    given, so only ``valid_to`` and ``is_current`` of stored versions may be
    written from the result. ``incoming``: rows from with_version_identity,
    already narrowed to PARTY_SCHEMA's columns.
    A version already in history (same key, business time and content hash)
    adds nothing: it is "unchanged". The same content at a newer business
    time is a version of its own, so a late version arriving between two
    equal ones still lands between them.
    """
    columns = [f.name for f in PARTY_SCHEMA.fields]
    by_key_in_order = Window.partitionBy(*KEY).orderBy(*_sequence_order())
    first_copy = Window.partitionBy("version_id").orderBy(*_sequence_order())
    candidates = incoming.select(*columns) \
        .withColumn("_n", F.row_number().over(first_copy)).where(F.col("_n") == 1).drop("_n") \
        .join(existing.select("version_id"), "version_id", "left_anti") \
        .withColumn(_IS_NEW, F.lit(True)).withColumn(_OLD_VALID_TO, F.lit(None).cast(TimestampType())) \
        .withColumn(_OLD_IS_CURRENT, F.lit(None).cast(BooleanType()))
    stored = [F.col(f.name) if f.name in existing.columns else F.lit(None).cast(f.dataType).alias(f.name)
              for f in PARTY_SCHEMA.fields]
    known = existing.select(*stored, F.lit(False).alias(_IS_NEW), F.col("valid_to").alias(_OLD_VALID_TO),
                            F.col("is_current").alias(_OLD_IS_CURRENT))
    placed = known.unionByName(candidates).withColumn("valid_to", F.lead("valid_from").over(by_key_in_order)) \
        .withColumn("is_current", F.lead("version_id").over(by_key_in_order).isNull()) \
        .withColumn("_recorded_at", F.when(F.col(_IS_NEW), recorded_at).otherwise(F.col("_recorded_at")))
    moved = ~F.col("valid_to").eqNullSafe(F.col(_OLD_VALID_TO)) | ~F.col("is_current").eqNullSafe(
        F.col(_OLD_IS_CURRENT))
    return placed.where(F.col(_IS_NEW) | moved).select(*[f.name for f in HISTORY_SCHEMA.fields], _IS_NEW)


def party_rows(history_changes: pa.Table) -> pa.Table:
    """The new versions that are now current: what silver.party must take (collected on the driver)."""
    becomes_current = pc.and_(history_changes.column(_IS_NEW), history_changes.column("is_current"))
    return history_changes.filter(becomes_current).select(PARTY_SCHEMA.names)


def new_version_count(history_changes: pa.Table) -> int:
    return int(pc.sum(history_changes.column(_IS_NEW)).as_py() or 0)


def history_rows(history_changes: pa.Table) -> pa.Table:
    return history_changes.drop_columns([_IS_NEW])


def newer_than_target(source: str = "s", target: str = "t") -> str:
    """SQL guard for the party merge: the source version is later in sequence than the stored one."""
    v, b, r = SEQUENCE
    return (f"({source}.{v} > {target}.{v}) OR ({source}.{v} = {target}.{v} AND ({source}.{b} > {target}.{b} "
            f"OR ({source}.{b} = {target}.{b} AND {source}.{r} > {target}.{r})))")


def key_predicate(source: str = "s", target: str = "t") -> str:
    return " AND ".join(f"{target}.{k} = {source}.{k}" for k in KEY)
