"""Kafka connection settings (``kafka:`` in pipeline.yaml).

Secrets never live in YAML: security options name environment variables
or secret files, resolved only when a client is built.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from customer_mdm.config.reader import Section

KafkaClient = Literal["kafka-python", "confluent", "spark"]


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    client: KafkaClient = "kafka-python"
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    options: Mapping[str, str] = field(default_factory=dict)


def kafka_settings(s: Section) -> KafkaSettings:
    s.allow_only(["bootstrap_servers", "client", "starting_offsets", "max_offsets_per_trigger",
                  "fail_on_data_loss", "options"])
    d = KafkaSettings()
    return KafkaSettings(
        bootstrap_servers=s.string("bootstrap_servers", d.bootstrap_servers),
        client=s.choice("client", ["kafka-python", "confluent", "spark"], d.client),
        starting_offsets=s.string("starting_offsets", d.starting_offsets),
        max_offsets_per_trigger=s.integer("max_offsets_per_trigger", None, minimum=1),
        fail_on_data_loss=s.boolean("fail_on_data_loss", d.fail_on_data_loss),
        options=s.string_map("options", {}),
    )
