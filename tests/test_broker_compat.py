"""The embedded broker keeps the Kafka semantics the stream source relies on.

If a noida-db upgrade breaks one of these, the source would misbehave in
ways its own tests might not show; this file fails first and says which.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.producer.future import RecordMetadata
from kafka.structs import OffsetAndMetadata

from customer_mdm.embedded_kafka import EmbeddedBroker, running_broker

pytest_plugins = ("kafka_broker",)
NewTopic = Callable[..., str]
Produce = Callable[..., list[RecordMetadata]]


def _consumer(broker: EmbeddedBroker, **config: object) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, enable_auto_commit=False, **config)


def _poll(consumer: KafkaConsumer, count: int, *, seconds: float = 10) -> list[ConsumerRecord]:
    """Exactly ``count`` records, or fails after ``seconds``."""
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + seconds
    while len(records) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500, max_records=count - len(records)).values():
            records += batch
    assert len(records) == count, f"expected {count} records within {seconds} s, got {len(records)}"
    return records


def test_broker_is_recorded_in_its_data_dir(kafka_broker: EmbeddedBroker) -> None:
    assert running_broker(kafka_broker.data_dir) == kafka_broker


def test_admin_creates_topic_with_partitions(kafka_broker: EmbeddedBroker, new_topic: NewTopic) -> None:
    topic = new_topic(partitions=3)
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        assert topic in admin.list_topics()
        [described] = admin.describe_topics([topic])
    finally:
        admin.close()
    assert sorted(p["partition_index"] for p in described["partitions"]) == [0, 1, 2]


def test_keyed_records_land_in_one_partition_in_order(new_topic: NewTopic, produce: Produce) -> None:
    topic = new_topic(partitions=3)
    placed = produce(topic, [(b"customer-7", b"v%d" % i) for i in range(5)] + [(b"customer-8", b"w")])
    assert len({m.partition for m in placed[:5]}) == 1
    assert [m.offset for m in placed[:5]] == [0, 1, 2, 3, 4]


def test_end_offsets_and_seek(kafka_broker: EmbeddedBroker, new_topic: NewTopic, produce: Produce) -> None:
    topic = new_topic(partitions=2)
    produce(topic, [(None, b"a%d" % i) for i in range(4)], partition=0)
    produce(topic, [(None, b"b")], partition=1, headers=[("trace", b"t-1")])
    consumer = _consumer(kafka_broker)
    try:
        p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
        assert consumer.beginning_offsets([p0, p1]) == {p0: 0, p1: 0}
        assert consumer.end_offsets([p0, p1]) == {p0: 4, p1: 1}
        consumer.assign([p0, p1])
        consumer.seek(p0, 2)
        consumer.seek(p1, 0)
        got = sorted((r.partition, r.offset, r.value, list(r.headers)) for r in _poll(consumer, 3))
        assert got == [(0, 2, b"a2", []), (0, 3, b"a3", []), (1, 0, b"b", [("trace", b"t-1")])]
    finally:
        consumer.close()


def test_group_commit_and_resume(kafka_broker: EmbeddedBroker, new_topic: NewTopic, produce: Produce) -> None:
    topic = new_topic(partitions=1)
    produce(topic, [(None, b"%d" % i) for i in range(6)])
    tp = TopicPartition(topic, 0)
    group = f"{topic}-group"
    first = _consumer(kafka_broker, group_id=group, auto_offset_reset="earliest")
    try:
        first.subscribe([topic])
        seen = [r.value for r in _poll(first, 3)]
        first.commit({tp: OffsetAndMetadata(3, "", -1)})
    finally:
        first.close()
    second = _consumer(kafka_broker, group_id=group, auto_offset_reset="earliest")
    try:
        second.subscribe([topic])
        resumed = [r.value for r in _poll(second, 3)]
        assert second.committed(tp) == 3
    finally:
        second.close()
    assert (seen, resumed) == ([b"0", b"1", b"2"], [b"3", b"4", b"5"])


def test_deleted_records_move_the_beginning_offset(kafka_broker: EmbeddedBroker, new_topic: NewTopic,
                                                   produce: Produce) -> None:
    """failOnDataLoss depends on the broker reporting retention-style deletion through ListOffsets."""
    topic = new_topic(partitions=1)
    produce(topic, [(None, b"%d" % i) for i in range(5)])
    tp = TopicPartition(topic, 0)
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        admin.delete_records({tp: 3})
    finally:
        admin.close()
    consumer = _consumer(kafka_broker)
    try:
        assert (consumer.beginning_offsets([tp]), consumer.end_offsets([tp])) == ({tp: 3}, {tp: 5})
    finally:
        consumer.close()
