"""Exports of a gold or silver table to files, each PII column hashed, masked, dropped or kept as configured.

- ``hash``: lower-case hex HMAC-SHA-256 (RFC 2104) keyed by the salt's UTF-8
  bytes, over the UTF-8 text of the value as Spark casts it to a string (a date
  reads ``1952-08-27``). Equal values hash equal in every export and table made
  with the same salt, so exports still join; without the salt the hashes
  cannot be recomputed from guessed values.
- ``mask``: an email (text with '@' after at least one character) keeps its
  first character and its domain, ``e***@gmail.com``; any other value longer
  than 4 characters keeps its last 2, ``**********04``; shorter values become
  all ``*``.
- ``drop``: the column is left out; ``keep``: exported as stored.

Nulls stay null; arrays are protected element by element. Everything runs in
Spark built-ins (sha2, concat, regexp_replace, transform). HMAC's key pads are
joined in from a one-row frame rather than written as literals, so no query
plan (explain, Spark UI, event log) holds key material.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, BooleanType, DataType, DateType, MapType, NumericType, StringType,
                               StructField, StructType, TimestampNTZType, TimestampType)

from customer_mdm.config.export import ExportConfig, ExportFormat, PiiPolicy
from customer_mdm.config.secrets import Secret
from customer_mdm.errors import ConfigError, ConfigIssue

#: Columns that identify a person in the gold and silver tables; an export must say how each one leaves.
#: ``value`` and ``_raw`` are silver.quarantine's rejected values and raw records.
KNOWN_PII = frozenset({"full_name", "first_name", "middle_name", "last_name", "name_suffix", "email", "emails",
                       "phone_e164", "phones", "address_line1", "address_line2", "addresses", "date_of_birth",
                       "value", "_raw"})
_PROTECTABLE = (StringType, NumericType, DateType, TimestampType, TimestampNTZType, BooleanType)
_BLOCK = 64  # bytes: SHA-256's block, the size of HMAC's key pads
_INNER_PAD, _OUTER_PAD = "__export_hmac_inner_pad", "__export_hmac_outer_pad"


def checked_policy(config: ExportConfig, table: str, schema: StructType) -> PiiPolicy:
    """The policy an export of ``table`` applies, checked against its columns before anything is written.

    ConfigError lists every problem: PII columns of a table without a policy,
    a configured column the table lacks, a PII column the policy does not
    name (fail closed: ``keep`` says it on purpose), hash or mask on a column
    of maps or structs.
    """
    file = str(config.file)
    policy = config.policies.get(table)
    pii = pii_columns(schema.names)
    if policy is None:
        if pii:
            raise ConfigError([ConfigIssue(
                file, f"export.pii.tables.{table}", "a policy saying how each PII column leaves (hash, mask, drop "
                "or keep), or the flag --no-pii-protection", f"nothing, and {table} has PII columns {pii}")])
        return PiiPolicy(table=table, key=f"export.pii.tables.{table}")
    types = {f.name: f.dataType for f in schema.fields}
    absent = [ConfigIssue(file, f"{policy.key}.{name}", f"a column of {table}", "a column the table does not have")
              for name in policy.columns if name not in types]
    unnamed = [ConfigIssue(file, f"{policy.key}.{name}", f"hash, mask, drop or keep for this PII column of {table} "
                           "(keep exports it as stored)", "nothing") for name in pii if name not in policy.columns]
    unfit = [ConfigIssue(file, f"{policy.key}.{name}", "drop or keep: hash and mask take text, numbers, dates, "
                         "times, booleans and arrays of them", types[name].simpleString())
             for name, how in policy.columns.items()
             if how in ("hash", "mask") and name in types and not _protectable(types[name])]
    issues = absent + unnamed + unfit
    if issues:
        raise ConfigError(issues)
    return policy


def protect(df: DataFrame, policy: PiiPolicy, *, salt: Secret | None) -> DataFrame:
    """``df`` with each column of ``policy`` hashed, masked or dropped (hashed and masked columns become text)."""
    hashed = policy.with_method("hash")
    if hashed and salt is None:
        raise ValueError(f"{policy.key} hashes {list(hashed)}: a salt is needed")
    source = df.crossJoin(F.broadcast(_key_pads(df.sparkSession, salt))) if hashed and salt is not None else df
    how: dict[str, Callable[[Column], Column]] = {"hash": _hmac_sha256_hex, "mask": _mask}
    columns = [F.col(f.name) if policy.columns.get(f.name, "keep") == "keep"
               else _each(f, how[policy.columns[f.name]]).alias(f.name)
               for f in df.schema.fields if policy.columns.get(f.name) != "drop"]
    return source.select(*columns)


def writable(df: DataFrame, fmt: ExportFormat) -> DataFrame:
    """CSV holds no arrays, maps or structs: there they become JSON text; JSON lines and Parquet take them as is."""
    if fmt != "csv":
        return df
    return df.select(*[F.to_json(f.name).alias(f.name) if isinstance(f.dataType, (ArrayType, MapType, StructType))
                       else F.col(f.name) for f in df.schema.fields])


def write_export(df: DataFrame, out: Path, *, fmt: ExportFormat, files: int) -> int:
    """Writes ``df`` into the new folder ``out`` as at most ``files`` part files; returns the rows written.

    CSV has a header and doubles quotes inside quoted values (RFC 4180); JSON
    lines carry every key, null or not. An existing ``out`` is never overwritten.
    """
    seen = Observation("export")
    counted = writable(df, fmt).observe(seen, F.count(F.lit(1)).alias("rows")).coalesce(files)
    options = {"csv": {"header": "true", "escape": '"'}, "json": {"ignoreNullFields": "false"}}.get(fmt, {})
    counted.write.mode("errorifexists").format(fmt).options(**options).save(str(out))
    return int(seen.get["rows"])


def pii_columns(names: Iterable[str]) -> list[str]:
    """The known PII columns among ``names``, in their order."""
    return [name for name in names if name in KNOWN_PII]


def _protectable(dtype: DataType) -> bool:
    element = dtype.elementType if isinstance(dtype, ArrayType) else dtype
    return isinstance(element, _PROTECTABLE)


def _each(f: StructField, method: Callable[[Column], Column]) -> Column:
    """``method`` over the value's text, or over each element's text for an array."""
    if isinstance(f.dataType, ArrayType):
        return F.transform(F.col(f.name), lambda x: method(x.cast("string")))
    return method(F.col(f.name).cast("string"))


def _key_pads(spark: SparkSession, salt: Secret) -> DataFrame:
    """One row holding HMAC-SHA-256's inner and outer key pads (RFC 2104: a key longer than a block is hashed)."""
    key = salt.value.encode("utf-8")
    block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
    return spark.createDataFrame([(bytearray(b ^ 0x36 for b in block), bytearray(b ^ 0x5C for b in block))],
                                 f"{_INNER_PAD} binary, {_OUTER_PAD} binary")


def _hmac_sha256_hex(text: Column) -> Column:
    """HMAC = H(outer pad || H(inner pad || message)), over the pad columns ``_key_pads`` joins in."""
    inner = F.unhex(F.sha2(F.concat(F.col(_INNER_PAD), text.cast("binary")), 256))
    return F.sha2(F.concat(F.col(_OUTER_PAD), inner), 256)


def _mask(text: Column) -> Column:
    return (F.when(text.rlike("^[^@]+@"), F.regexp_replace(text, r"(?s)^(.)[^@]*@", "$1***@"))
            .when(F.length(text) > 4, F.regexp_replace(text, r"(?s).(?=..)", "*"))
            .otherwise(F.regexp_replace(text, r"(?s).", "*")))
