"""Schema conversion between Spark and the Arrow schemas delta-rs stores.

Every column is made nullable (Spark keeps NOT NULL flags that would make a
later append of a null fail) and timestamps are pinned to exactly "UTC", the
only zone delta-rs accepts.
"""
from __future__ import annotations

import pyarrow as pa
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import StructType

from customer_mdm.errors import SchemaMismatchError


def _relax(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(dtype):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return pa.binary()
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(f.name, _relax(f.type), nullable=True) for f in dtype])
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_list_view(dtype):
        return pa.list_(pa.field("element", _relax(dtype.value_type), nullable=True))
    if pa.types.is_map(dtype):
        return pa.map_(_relax(dtype.key_type), pa.field("value", _relax(dtype.item_type), nullable=True))
    return dtype


def normalize_arrow_schema(schema: pa.Schema) -> pa.Schema:
    """The storable form of an Arrow schema: nullable, UTC microsecond timestamps, plain strings."""
    return pa.schema([pa.field(f.name, _relax(f.type), nullable=True) for f in schema])


def spark_to_arrow(schema: StructType) -> pa.Schema:
    return normalize_arrow_schema(to_arrow_schema(schema, timezone="UTC"))


def arrow_to_spark(schema: pa.Schema) -> StructType:
    converted = from_arrow_schema(normalize_arrow_schema(schema), prefer_timestamp_ntz=False)
    return StructType([f.__class__(f.name, f.dataType, True) for f in converted.fields])


def _column_types(schema: pa.Schema) -> dict[str, pa.DataType]:
    return {f.name: f.type for f in normalize_arrow_schema(schema)}


def check_same_columns(table: str, table_schema: pa.Schema, data_schema: pa.Schema) -> None:
    """Refuses data whose columns or types differ from the table's, naming each difference."""
    expected, got = _column_types(table_schema), _column_types(data_schema)
    problems = [f"missing column {name} ({dtype})" for name, dtype in expected.items() if name not in got]
    problems += [f"unexpected column {name} ({dtype})" for name, dtype in got.items() if name not in expected]
    problems += [f"column {name} is {got[name]}, the table has {dtype}"
                 for name, dtype in expected.items() if name in got and got[name] != dtype]
    if problems:
        raise SchemaMismatchError(f"data does not fit table {table}: " + "; ".join(problems)
                                  + ". Select and cast the columns to the table's schema before writing.")


def conform_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Orders and casts a batch to the table schema (same columns guaranteed by check_same_columns)."""
    columns = [batch.column(batch.schema.get_field_index(f.name)).cast(f.type) for f in schema]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
