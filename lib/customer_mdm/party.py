"""The canonical party record: the columns every source maps onto.

A source YAML maps its own column names onto these; silver and gold only
ever see these names.
"""
from __future__ import annotations

SOURCE_RECORD_ID = "source_record_id"

CANONICAL_COLUMNS: tuple[str, ...] = (
    SOURCE_RECORD_ID,
    "full_name",
    "first_name",
    "middle_name",
    "last_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postcode",
    "country",
    "date_of_birth",
    "company",
    "marketing_opt_out",
    "source_updated_at",
)
