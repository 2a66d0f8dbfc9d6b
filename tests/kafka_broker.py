"""Pytest plugin: one embedded Kafka broker per test session, on a free port with its own data dir.

Load it from a test module with ``pytest_plugins = ("kafka_broker",)`` so
every module shares the one broker; each test makes its own topics.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.producer.future import RecordMetadata

from customer_mdm.embedded_kafka import EmbeddedBroker, start_broker, stop_broker

_topic_numbers = itertools.count()

Record = tuple[bytes | None, bytes | None]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    data_dir = tmp_path_factory.mktemp("kafka-broker")
    broker = start_broker(data_dir)
    yield broker
    stop_broker(data_dir)


@pytest.fixture
def new_topic(kafka_broker: EmbeddedBroker, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Creates a topic unique to the calling test: ``new_topic(partitions=2)`` returns its name.

    ``bootstrap_servers`` points it (and ``produce``) at a broker the test started itself.
    """

    def create(partitions: int = 2, *, bootstrap_servers: str | None = None) -> str:
        name = f"{re.sub(r'[^A-Za-z0-9._-]', '-', request.node.name)[:60]}-{next(_topic_numbers)}"
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers or kafka_broker.bootstrap_servers)
        try:
            admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            admin.close()
        return name

    return create


@pytest.fixture
def produce(kafka_broker: EmbeddedBroker) -> Callable[..., list[RecordMetadata]]:
    """``produce(topic, [(key, value), ...], partition=None, headers=())``: waits for every acknowledgement."""

    def send(topic: str, records: Sequence[Record], *, partition: int | None = None,
             headers: Sequence[tuple[str, bytes]] = (), bootstrap_servers: str | None = None) -> list[RecordMetadata]:
        producer = KafkaProducer(bootstrap_servers=bootstrap_servers or kafka_broker.bootstrap_servers, acks="all",
                                 linger_ms=5)
        try:
            futures = [producer.send(topic, key=key, value=value, partition=partition, headers=list(headers))
                       for key, value in records]
            producer.flush()
            return [future.get(timeout=10) for future in futures]
        finally:
            producer.close()

    return send


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of the calling test alone, which it may stop and start again (same port, same data dir)."""
    broker = start_broker(tmp_path / "own-broker")
    yield broker
    stop_broker(broker.data_dir)
