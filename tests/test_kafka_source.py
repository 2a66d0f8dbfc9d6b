"""The mdm_kafka streaming source against a real broker: columns, offsets, rate limits, data loss, options."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chispa import assert_df_equality
from kafka import KafkaAdminClient, TopicPartition
from kafka.producer.future import RecordMetadata
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql.types import StructType

from customer_mdm.config import load_config
from customer_mdm.config.kafka import KAFKA_PYTHON_OPTIONS, KafkaSettings, kafka_python_config
from customer_mdm.embedded_kafka import EmbeddedBroker
from customer_mdm.errors import ConfigError, SourceError
from customer_mdm.sources.kafka import KafkaDataSource, KafkaReadOptions, admit

pytest_plugins = ("kafka_broker",)
NewTopic = Callable[..., str]
Produce = Callable[..., list[RecordMetadata]]
KNOWN_CLIENT_OPTIONS = sorted(k.replace("_", ".") for k in KAFKA_PYTHON_OPTIONS)

# Spark's built-in kafka source with includeHeaders=true, as its documentation lists it.
BUILT_IN_KAFKA_DDL = ("key BINARY, value BINARY, topic STRING, partition INT, offset BIGINT, timestamp TIMESTAMP, "
                      "timestampType INT, headers ARRAY<STRUCT<key: STRING, value: BINARY>>")


@pytest.fixture(scope="module")
def kafka_spark(spark: SparkSession) -> SparkSession:
    spark.dataSource.register(KafkaDataSource)
    return spark


def _stream(spark: SparkSession, broker: EmbeddedBroker, topic: str, **options: str) -> DataFrame:
    return spark.readStream.format("mdm_kafka").option("kafka.bootstrap.servers", broker.bootstrap_servers) \
        .option("subscribe", topic).options(**options).load()


def _drain(stream: DataFrame, checkpoint: Path) -> list[list[Row]]:
    """Runs the stream with Trigger.AvailableNow; the rows of each micro-batch, in (partition, offset) order."""
    batches: list[list[Row]] = []
    query = stream.writeStream.option("checkpointLocation", str(checkpoint)).trigger(availableNow=True) \
        .foreachBatch(lambda df, _: batches.append(sorted(df.collect(), key=lambda r: (r.partition, r.offset)))) \
        .start()
    query.awaitTermination(120)
    assert not query.isActive, "the available-now query did not finish within 120 s"
    error = query.exception()
    if error is not None:
        raise error
    return batches


def _rows(batches: list[list[Row]]) -> list[Row]:
    return [row for batch in batches for row in batch]


def _coordinates(batches: list[list[Row]]) -> list[list[tuple[int, int]]]:
    return [[(r.partition, r.offset) for r in batch] for batch in batches]


def test_columns_and_types_equal_the_built_in_kafka_source(kafka_spark: SparkSession, kafka_broker: EmbeddedBroker,
                                                           new_topic: NewTopic) -> None:
    stream = _stream(kafka_spark, kafka_broker, new_topic())
    assert stream.schema == StructType.fromDDL(BUILT_IN_KAFKA_DDL)


def test_records_arrive_byte_for_byte_with_their_coordinates(kafka_spark: SparkSession,
                                                             kafka_broker: EmbeddedBroker, new_topic: NewTopic,
                                                             produce: Produce, tmp_path: Path) -> None:
    topic = new_topic(partitions=2)
    sent = produce(topic, [(b"c-1", b'{"op": "upsert"}'), (None, b"\xff\xfe not utf-8"), (b"c-2", None)],
                   partition=0)
    sent += produce(topic, [(b"c-3", b"{}")], partition=1, headers=[("trace", b"t-9"), ("empty", b"")])
    [batch] = _drain(_stream(kafka_spark, kafka_broker, topic, startingOffsets="earliest"), tmp_path / "cp")

    def at(meta: RecordMetadata) -> dt.datetime:
        return dt.datetime.fromtimestamp(meta.timestamp / 1000, dt.timezone.utc).replace(tzinfo=None)

    expected = [
        (b"c-1", b'{"op": "upsert"}', topic, 0, 0, at(sent[0]), 0, None),
        (None, b"\xff\xfe not utf-8", topic, 0, 1, at(sent[1]), 0, None),
        (b"c-2", None, topic, 0, 2, at(sent[2]), 0, None),
        (b"c-3", b"{}", topic, 1, 0, at(sent[3]), 0, [("trace", b"t-9"), ("empty", b"")]),
    ]
    schema = StructType.fromDDL(BUILT_IN_KAFKA_DDL)
    assert_df_equality(kafka_spark.createDataFrame(batch, schema), kafka_spark.createDataFrame(expected, schema))


@pytest.fixture
def three_per_partition(new_topic: NewTopic, produce: Produce) -> str:
    topic = new_topic(partitions=2)
    for partition in (0, 1):
        produce(topic, [(None, b"%d-%d" % (partition, i)) for i in range(3)], partition=partition)
    return topic


@pytest.mark.parametrize(("starting", "expected"), [
    ("earliest", [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]),
    ('{"TOPIC": {"0": 2, "1": -2}}', [(0, 2), (1, 0), (1, 1), (1, 2)]),
    ('{"TOPIC": {"0": -1, "1": 1}}', [(1, 1), (1, 2)]),
])
def test_starting_offsets_pick_the_first_records(kafka_spark: SparkSession, kafka_broker: EmbeddedBroker,
                                                 three_per_partition: str, tmp_path: Path, starting: str,
                                                 expected: list[tuple[int, int]]) -> None:
    stream = _stream(kafka_spark, kafka_broker, three_per_partition,
                     startingOffsets=starting.replace("TOPIC", three_per_partition))
    assert _coordinates(_drain(stream, tmp_path / "cp")) == [expected]


def test_latest_reads_only_what_arrives_after_the_start_and_resumes_from_the_checkpoint(
        kafka_spark: SparkSession, kafka_broker: EmbeddedBroker, three_per_partition: str, produce: Produce,
        tmp_path: Path) -> None:
    stream = _stream(kafka_spark, kafka_broker, three_per_partition, startingOffsets="latest")
    assert _rows(_drain(stream, tmp_path / "cp")) == []
    produce(three_per_partition, [(None, b"new")], partition=1)
    assert _coordinates(_drain(stream, tmp_path / "cp")) == [[(1, 3)]]
    assert _drain(stream, tmp_path / "cp") == []


def test_starting_offsets_json_must_name_every_partition(kafka_spark: SparkSession, kafka_broker: EmbeddedBroker,
                                                         three_per_partition: str, tmp_path: Path) -> None:
    stream = _stream(kafka_spark, kafka_broker, three_per_partition,
                     startingOffsets=json.dumps({three_per_partition: {"0": 1}}))
    with pytest.raises(StreamingQueryException) as failure:
        _drain(stream, tmp_path / "cp")
    assert (f"startingOffsets must name every partition of its topics: named ['{three_per_partition}-0'], "
            f"the topics have ['{three_per_partition}-0', '{three_per_partition}-1']") in str(failure.value)


def test_max_offsets_per_trigger_caps_every_micro_batch(kafka_spark: SparkSession, kafka_broker: EmbeddedBroker,
                                                        new_topic: NewTopic, produce: Produce,
                                                        tmp_path: Path) -> None:
    topic = new_topic(partitions=2)
    produce(topic, [(None, b"a")] * 16, partition=0)
    produce(topic, [(None, b"b")] * 4, partition=1)
    batches = _drain(_stream(kafka_spark, kafka_broker, topic, startingOffsets="earliest",
                             maxOffsetsPerTrigger="8"), tmp_path / "cp")
    assert [len(b) for b in batches] == [8, 8, 4]
    assert sorted(c for batch in _coordinates(batches) for c in batch) == \
        [(0, i) for i in range(16)] + [(1, i) for i in range(4)]


def test_admission_shares_the_limit_by_lag_and_never_exceeds_it() -> None:
    p0, p1, p2 = (TopicPartition("t", p) for p in range(3))
    start = {p0: 100, p1: 0, p2: 50}
    assert admit(start, {p0: 107, p1: 2, p2: 51}, 5) == {p0: 104, p1: 1, p2: 50}
    assert admit(start, {p0: 107, p1: 2, p2: 51}, 10) == {p0: 107, p1: 2, p2: 51}
    assert admit(start, {p0: 100, p1: 1000, p2: 50}, 1) == {p0: 100, p1: 1, p2: 50}


@pytest.fixture
def head_deleted(kafka_broker: EmbeddedBroker, new_topic: NewTopic, produce: Produce) -> str:
    """A one-partition topic of offsets 0..4 whose records 0..2 were deleted (as retention would)."""
    topic = new_topic(partitions=1)
    produce(topic, [(None, b"%d" % i) for i in range(5)])
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        admin.delete_records({TopicPartition(topic, 0): 3})
    finally:
        admin.close()
    return topic


def test_deleted_offsets_fail_the_query_when_fail_on_data_loss(kafka_spark: SparkSession,
                                                               kafka_broker: EmbeddedBroker, head_deleted: str,
                                                               tmp_path: Path) -> None:
    stream = _stream(kafka_spark, kafka_broker, head_deleted, startingOffsets=json.dumps({head_deleted: {"0": 0}}))
    with pytest.raises(StreamingQueryException) as failure:
        _drain(stream, tmp_path / "cp")
    assert (f"Cannot fetch offset 0 of {head_deleted}-0: the earliest available offset is 3; offsets 0..2 were "
            "deleted. Some data may have been lost because it is not available in Kafka any more. If you want your "
            'streaming query to continue past such losses, set the source option "failOnDataLoss" to "false".'
            ) in str(failure.value)


def test_deleted_offsets_are_skipped_when_data_loss_is_allowed(kafka_spark: SparkSession,
                                                               kafka_broker: EmbeddedBroker, head_deleted: str,
                                                               tmp_path: Path) -> None:
    stream = _stream(kafka_spark, kafka_broker, head_deleted, startingOffsets=json.dumps({head_deleted: {"0": 0}}),
                     failOnDataLoss="false")
    assert [[r.value for r in b] for b in _drain(stream, tmp_path / "cp")] == [[b"3", b"4"]]


def test_option_names_are_case_insensitive_and_every_mistake_is_reported() -> None:
    parsed = KafkaReadOptions.parse({"KAFKA.BOOTSTRAP.SERVERS": "h:1", "Subscribe": "a, b",
                                     "MAXOFFSETSPERTRIGGER": "5", "FailOnDataLoss": "FALSE"})
    assert (parsed.bootstrap_servers, parsed.topics, parsed.max_offsets_per_trigger, parsed.fail_on_data_loss) == \
        ("h:1", ("a", "b"), 5, False)
    with pytest.raises(SourceError) as bad:
        KafkaReadOptions.parse({"subscribe": "a", "subscribepattern": "a.*", "startingoffsets": "first",
                                "maxoffsetspertrigger": "0", "startingoffset": "earliest",
                                "kafka.fetch.max.wait": "5"})
    assert str(bad.value) == "\n".join([
        "mdm_kafka: invalid options:",
        "  - option 'kafka.fetch.max.wait': expected a kafka-python client option, one of "
        f"{KNOWN_CLIENT_OPTIONS}",
        "  - unknown option 'startingoffset'; known options: ['kafka.bootstrap.servers', 'subscribe', "
        "'subscribepattern', 'startingoffsets', 'maxoffsetspertrigger', 'failondataloss', "
        "'kafkaconsumer.polltimeoutms', 'includeheaders'] and kafka.<client option>",
        "  - option 'kafka.bootstrap.servers' is required (host:port[,host:port...])",
        "  - exactly one of the options 'subscribe' (comma-separated topics) and 'subscribePattern' "
        "(a regular expression) is required",
        "  - option 'startingOffsets': expected earliest, latest or a JSON object like "
        '{"topic": {"0": 23, "1": -2}} (-2 = earliest, -1 = latest)',
        "  - option 'maxOffsetsPerTrigger': expected a positive integer, got '0'",
    ])


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MDM_TEST_KAFKA_PASSWORD", "s3cr3t-value")
    yield "MDM_TEST_KAFKA_PASSWORD"


def test_secrets_are_references_resolved_only_for_the_client(secret_env: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "kafka.password"
    secret_file.write_text("file-s3cr3t\n", encoding="utf-8")
    options = {"kafka.bootstrap.servers": "h:1", "subscribe": "a", "kafka.security.protocol": "SASL_PLAINTEXT",
               "kafka.sasl.mechanism": "PLAIN", "kafka.sasl.plain.username": "mdm",
               "kafka.sasl.plain.password": f"env:{secret_env}", "kafka.ssl.password": f"file:{secret_file}"}
    parsed = KafkaReadOptions.parse(options)
    assert "s3cr3t" not in repr(parsed) and "'sasl.plain.password': '***'" in repr(parsed)
    assert kafka_python_config(parsed.client_options) == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_plain_username": "mdm",
        "sasl_plain_password": "s3cr3t-value", "ssl_password": "file-s3cr3t"}
    with pytest.raises(SourceError) as literal:
        KafkaReadOptions.parse({**options, "kafka.sasl.plain.password": "s3cr3t-value"})
    assert "s3cr3t" not in str(literal.value)
    assert "option 'kafka.sasl.plain.password': expected a reference env:VARIABLE or file:/path/to/secret " \
           "(secrets never live in YAML)" in str(literal.value)
    unset = KafkaReadOptions.parse({**options, "kafka.sasl.plain.password": "env:MDM_TEST_UNSET_VARIABLE"})
    with pytest.raises(SourceError, match="^mdm_kafka: Kafka option 'sasl.plain.password' refers to environment "
                                          "variable MDM_TEST_UNSET_VARIABLE, which is not set$"):
        unset.consumer()


def test_pipeline_kafka_settings_are_validated_when_config_loads(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "sources").mkdir(parents=True)
    (conf / "sources" / "events.yaml").write_text(
        "name: events\nformat: kafka\ntopic: t\ncolumns: [id]\nmapping: {source_record_id: id}\n", encoding="utf-8")
    (conf / "pipeline.yaml").write_text(
        "kafka:\n  starting_offsets: beginning\n  options:\n    sasl.plain.password: hunter2\n"
        "    fetch.max.wait: 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as bad:
        load_config(conf)
    pipeline = conf / "pipeline.yaml"
    assert [str(i) for i in bad.value.issues] == [
        f"{pipeline}: kafka.starting_offsets: expected earliest, latest or a JSON object like "
        '{"topic": {"0": 23, "1": -2}} (-2 = earliest, -1 = latest) (got \'beginning\')',
        f"{pipeline}: kafka.options.sasl.plain.password: expected a reference env:VARIABLE or file:/path/to/secret "
        "(secrets never live in YAML) (got '***')",
        f"{pipeline}: kafka.options.fetch.max.wait: expected a kafka-python client option, one of "
        f"{KNOWN_CLIENT_OPTIONS} (got '5')",
    ]
    assert "hunter2" not in str(bad.value)


def test_settings_repr_masks_secret_references() -> None:
    settings = KafkaSettings(options={"sasl.plain.password": "env:KAFKA_PASSWORD", "security.protocol": "SASL_SSL"})
    assert "options={'sasl.plain.password': '***', 'security.protocol': 'SASL_SSL'}" in repr(settings)
