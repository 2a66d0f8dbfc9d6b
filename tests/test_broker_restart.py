"""A broker lost while the stream job runs: ingest waits for it and restarts from the checkpoint, exactly once."""
from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka.producer.future import RecordMetadata
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_mdm.embedded_kafka import EmbeddedBroker, start_broker, stop_broker
from customer_mdm.errors import BrokerUnavailableError, SourceError
from customer_mdm.ops.tables import RUNS
from customer_mdm.sources.kafka import KafkaOffsetRange, KafkaReadOptions, KafkaStreamReader, broker_lost, read_range
from test_stream_job import _job_conf, _store, assert_bronze_holds, delivery, running_job, upsert_events

pytest_plugins = ("kafka_broker",)
NewTopic = Callable[..., str]
Produce = Callable[..., list[RecordMetadata]]
# Short client timeouts so a lost broker is noticed in seconds, not kafka-python's 30 s.
FAST_FAILING = {"request.timeout.ms": "2000", "bootstrap.timeout.ms": "2000"}


def _traceback(exc: BaseException) -> str:
    """The text Spark hands the driver for a Python data source's error: the worker's traceback."""
    return "".join(traceback.format_exception(exc))


@pytest.mark.kafka
def test_only_a_broker_that_does_not_answer_counts_as_lost(own_broker: EmbeddedBroker, new_topic: NewTopic) -> None:
    servers = own_broker.bootstrap_servers
    topic = new_topic(partitions=2, bootstrap_servers=servers)
    options = KafkaReadOptions.parse({"kafka.bootstrap.servers": servers, "subscribe": topic,
                                      **{f"kafka.{k}": v for k, v in FAST_FAILING.items()}})
    reader = KafkaStreamReader(options)
    start = reader.initialOffset()
    with pytest.raises(SourceError) as data_loss:
        reader.partitions({topic: {"0": 5}}, {topic: {"0": 2}})
    assert broker_lost(RuntimeError(_traceback(data_loss.value))) is None

    stop_broker(own_broker.data_dir)
    with pytest.raises(BrokerUnavailableError) as planning:
        reader.latestOffset(start, reader.getDefaultReadLimit())
    with pytest.raises(BrokerUnavailableError) as reading:
        list(read_range(options, KafkaOffsetRange(topic, 0, 0, 1)))
    reader.stop()
    assert broker_lost(RuntimeError(_traceback(planning.value))) == \
        f"customer_mdm.errors.BrokerUnavailableError: {planning.value}"
    assert str(planning.value).startswith(f"mdm_kafka: broker unavailable, cannot read end offsets from {servers}: ")
    assert str(reading.value).startswith(f"mdm_kafka: broker unavailable, cannot read {topic}-0 from {servers}: ")


def _bronze_rows(lines: list[str]) -> int:
    return sum(int(n) for n in re.findall(r"ingest_crm_events batch \d+: (\d+) rows -> bronze", "".join(lines)))


@pytest.mark.slow
@pytest.mark.kafka
def test_a_broker_lost_mid_stream_is_waited_for_and_ingest_resumes_exactly_once(
        spark: SparkSession, own_broker: EmbeddedBroker, new_topic: NewTopic, produce: Produce,
        tmp_path: Path, fault_report: Callable[..., None]) -> None:
    servers = own_broker.bootstrap_servers
    topic = new_topic(partitions=2, bootstrap_servers=servers)
    values, records = upsert_events(30, customers=7)
    sent = produce(topic, records[:20], bootstrap_servers=servers)
    conf = _job_conf(tmp_path, servers, topic, connect_backoff_max_seconds=1, options=FAST_FAILING)
    lake = tmp_path / "lake"
    with running_job(conf, lake, "--trigger", "0.5", "--hops", "none") as stderr:
        stderr.wait_for(r"ingest_crm_events batch 0: 20 rows -> bronze.crm_events")
        stop_broker(own_broker.data_dir)
        stderr.wait_for(rf"WARNING .*ingest_crm_events: lost the Kafka broker at {servers} \(customer_mdm\.errors\."
                        rf"BrokerUnavailableError: mdm_kafka: broker unavailable, .*\); waiting for it, then "
                        rf"restarting from the checkpoint", seconds=60)
        stderr.wait_for(rf"Kafka at {servers} not reachable \(\w+\); attempt 2", seconds=60)
        start_broker(own_broker.data_dir, port=own_broker.port)
        stderr.wait_for(r"ingest_crm_events: broker back after \d+ s, restarting from the checkpoint \(restart 1\)",
                        seconds=60)
        sent += produce(topic, records[20:], bootstrap_servers=servers)
        deadline = time.monotonic() + 120
        while _bronze_rows(stderr.lines) < 30:
            assert time.monotonic() < deadline and stderr.process.poll() is None, "".join(stderr.lines)
            time.sleep(0.2)
        stderr.stop()

    store = _store(spark, conf, lake)
    assert_bronze_holds(spark, store, topic, sent, values)
    [finished] = store.read(RUNS).where(F.col("status") != "RUNNING").collect()
    assert (finished.status, finished.rows_written, finished.counts["ingest_restarts"]) == ("SUCCEEDED", 30, 1)
    checked, lost, duplicated = delivery(store, sent)
    fault_report("Kafka broker stopped and restarted while the stream job runs",
                 expected="the job waits with backoff, says so, restarts from its checkpoint; no gap, no duplicate",
                 observed=f"waited, restarted {finished.counts['ingest_restarts']} time(s); run SUCCEEDED",
                 checked=checked, lost=lost, duplicated=duplicated)
