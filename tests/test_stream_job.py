"""jobs/stream_job.py as users run it: a subprocess against a real broker, killed, restarted, hops behind it."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from chispa import assert_df_equality
from kafka.producer.future import RecordMetadata
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

from customer_mdm.config import load_config
from customer_mdm.embedded_kafka import EmbeddedBroker, start_broker, stop_broker
from customer_mdm.config.operations import load_operations
from customer_mdm.hops.catch_up import gold_silver_version
from customer_mdm.ops.health import evaluate_sla
from customer_mdm.ops.faults import KILL_AFTER, KILL_AT
from customer_mdm.ops.tables import RUNS, STREAM_PROGRESS
from customer_mdm.storage import TableStore, open_store

pytest_plugins = ("kafka_broker",)
NewTopic = Callable[..., str]
Produce = Callable[..., list[RecordMetadata]]

REPO = Path(__file__).resolve().parents[1]
JOB = REPO / "jobs" / "stream_job.py"
SIGKILLED = -signal.SIGKILL


def _job_conf(tmp_path: Path, bootstrap_servers: str, topic: str, **kafka: object) -> Path:
    """The repository's configuration with the Kafka source on ``topic`` of the test broker, small Spark."""
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    shutil.copytree(REPO / "models", tmp_path / "models")
    (conf / "operations.yaml").unlink()  # no end-of-run SLA checks: these tests replay old events on purpose
    for source in (REPO / "conf" / "sources").glob("*.yaml"):
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        if data.get("format") == "kafka":
            data["topic"] = topic
        (conf / "sources" / source.name).write_text(yaml.safe_dump(data), encoding="utf-8")
    pipeline = yaml.safe_load((REPO / "conf" / "pipeline.yaml").read_text(encoding="utf-8"))
    pipeline["kafka"].update(bootstrap_servers=bootstrap_servers, **kafka)
    pipeline["spark"].update(shuffle_partitions=2, driver_memory="1g", log_level="ERROR")
    (conf / "pipeline.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    return conf


def _run_job(conf: Path, lake: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs the job in a session of its own, as the kill points SIGKILL the whole process group."""
    return subprocess.run([sys.executable, str(JOB), "--conf", str(conf), "--lake", str(lake), *args],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300,
                          start_new_session=True)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _store(spark: SparkSession, conf: Path, lake: Path) -> TableStore:
    return open_store(spark, load_config(conf, lake=lake))


def _sent_rows(spark: SparkSession, topic: str, sent: list[RecordMetadata], values: list[bytes]) -> DataFrame:
    return spark.createDataFrame([(topic, m.partition, m.offset, v) for m, v in zip(sent, values)],
                                 "_kafka_topic string, _kafka_partition int, _kafka_offset long, value binary")


def upsert_events(count: int, *, customers: int) -> tuple[list[bytes], list[tuple[bytes, bytes]]]:
    """Small upserts keyed by customer id, round robin: their values, and the (key, value) records to send."""
    values = [b'{"op": "upsert", "customer_id": "C%02d", "n": %d}' % (i % customers, i) for i in range(count)]
    return values, [(b"C%02d" % (i % customers), v) for i, v in enumerate(values)]


def assert_bronze_holds(spark: SparkSession, store: TableStore, topic: str, sent: list[RecordMetadata],
                        values: list[bytes]) -> None:
    """bronze.crm_events holds exactly the sent records: each (partition, offset) once, bytes as sent."""
    bronze = store.read("bronze.crm_events")
    assert_df_equality(bronze.select("_kafka_topic", "_kafka_partition", "_kafka_offset", "value"),
                       _sent_rows(spark, topic, sent, values), ignore_row_order=True, ignore_nullable=True)


def delivery(store: TableStore, sent: list[RecordMetadata]) -> tuple[int, int, int]:
    """(events sent, lost, duplicated) of bronze.crm_events, by (partition, offset), for the fault table."""
    stored = [(r._kafka_partition, r._kafka_offset)
              for r in store.read("bronze.crm_events").select("_kafka_partition", "_kafka_offset").collect()]
    return len(sent), len({(m.partition, m.offset) for m in sent} - set(stored)), len(stored) - len(set(stored))


@contextmanager
def running_job(conf: Path, lake: Path, *args: str) -> Iterator[_Lines]:
    """The job in the background with its stderr collected; killed if the test leaves it running."""
    job = subprocess.Popen([sys.executable, str(JOB), "--conf", str(conf), "--lake", str(lake), *args],
                           stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        yield _Lines(job)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)


class _Lines:
    """Collects a running process's stderr lines on a thread so the test can wait for one."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: list[str] = []
        assert process.stderr is not None
        self._thread = threading.Thread(target=lambda: self.lines.extend(process.stderr or []), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """SIGTERM, as an orchestrator stops the job: it finishes the batch in flight and exits 0."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=300) == 0, "".join(self.lines)

    def wait_for(self, pattern: str, *, seconds: float = 300) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = next((line for line in list(self.lines) if re.search(pattern, line)), None)
            if found is not None:
                return found
            if self.process.poll() is not None:
                self._thread.join(timeout=5)
                if not any(re.search(pattern, line) for line in self.lines):
                    break
            time.sleep(0.2)
        raise AssertionError(f"no stderr line matching {pattern!r} within {seconds} s or before the job ended:\n"
                             f"{''.join(self.lines)}")


def test_exactly_once_through_two_kills_a_broker_outage_and_a_graceful_stop(
        spark: SparkSession, own_broker: EmbeddedBroker, new_topic: NewTopic, produce: Produce,
        tmp_path: Path, fault_report: Callable[..., None]) -> None:
    servers = own_broker.bootstrap_servers
    topic = new_topic(partitions=2, bootstrap_servers=servers)
    values, records = upsert_events(90, customers=9)
    sent = produce(topic, records[:60], bootstrap_servers=servers)
    conf = _job_conf(tmp_path, servers, topic, max_offsets_per_trigger=20)
    lake = tmp_path / "lake"
    drain = ("--trigger", "available-now", "--hops", "none")

    # batch 0 completes; batch 1 reaches bronze, then the job dies before Spark's checkpoint records it
    after_commit = _run_job(conf, lake, *drain, env={KILL_AT: "stream_ingest:after_bronze_commit", KILL_AFTER: "1"})
    assert after_commit.returncode == SIGKILLED, after_commit.stderr
    # the replayed batch 1 is recognised and skipped; batch 2 dies after Spark logged its offsets, before bronze
    before_commit = _run_job(conf, lake, *drain,
                             env={KILL_AT: "stream_ingest:before_bronze_commit", KILL_AFTER: "1"})
    assert before_commit.returncode == SIGKILLED, before_commit.stderr
    assert "ingest_crm_events batch 1: already in bronze.crm_events (transaction stream:crm_events), skipped" \
        in before_commit.stderr
    sent += produce(topic, records[60:], bootstrap_servers=servers)

    # restarted while the broker is down: it waits, then catches up and stops cleanly on SIGTERM
    stop_broker(own_broker.data_dir)
    with running_job(conf, lake, "--trigger", "0.5", "--hops", "none") as stderr:
        stderr.wait_for(rf"Kafka at {servers} not reachable \(\w+\); attempt 2, retrying in 2 s")
        start_broker(own_broker.data_dir, port=own_broker.port)
        stderr.wait_for(rf"Kafka at {servers} reachable after \d attempts")
        stderr.wait_for(r"ingest_crm_events batch 4: 10 rows -> bronze.crm_events version 5")
        stderr.stop()
        stderr.wait_for(r"SIGTERM: finishing the micro-batch in flight, then stopping")
        # batch 4 finished completely: Spark's commit log has it, so a restart would not even replay it
        assert (lake / "_checkpoints" / "ingest" / "crm_events" / "commits" / "4").is_file()

    store = _store(spark, conf, lake)
    assert_bronze_holds(spark, store, topic, sent, values)
    assert store.txn_version("bronze.crm_events", "stream:crm_events") == 4
    [finished] = store.read(RUNS).where(F.col("status") != "RUNNING").collect()
    assert (finished.status, finished.rows_written) == ("SUCCEEDED", 50)
    progress = store.read(STREAM_PROGRESS).where(F.col("run_id") == finished.run_id)
    assert {r.hop for r in progress.select("hop").distinct().collect()} == {"ingest"}
    # batch 2 is replayed from Spark's offset log, which records no latest offset: its lag is unknown
    assert sorted((r.batch_id, r.input_rows, r.bronze_rows, r.skipped, r.total_lag) for r in progress.collect()) == \
        [(2, 20, 20, False, None), (3, 20, 20, False, 10), (4, 10, 10, False, 0)]
    for fault, observed in (("SIGKILL of the stream job after a bronze commit, before Spark's checkpoint",
                             "exit -9; the replayed micro-batch was recognised by its transaction and skipped"),
                            ("SIGKILL of the stream job after Spark logged the offsets, before the bronze commit",
                             "exit -9; the micro-batch was replayed from the offset log"),
                            ("Kafka broker down when the stream job starts",
                             "the job retried with backoff, said so, and caught up once the broker came up")):
        fault_report(fault, expected="no gap, no duplicate in bronze", observed=observed)
    checked, lost, duplicated = delivery(store, sent)
    fault_report("the three faults above, then SIGTERM", expected="the batch in flight finishes; bronze holds "
                 "each event once", observed="exit 0; bronze equals the events sent", checked=checked, lost=lost,
                 duplicated=duplicated)


def test_bad_flags_and_missing_secrets_stop_before_anything_is_written(tmp_path: Path) -> None:
    conf, lake = _job_conf(tmp_path, "127.0.0.1:1", "t"), tmp_path / "lake"
    file_source = _run_job(conf, lake, "--source", "crm")
    assert (file_source.returncode, file_source.stderr.strip().splitlines()[-1]) == \
        (2, "error: sources ['crm'] are file sources: run them with jobs/batch_job.py")
    pipeline = yaml.safe_load((conf / "pipeline.yaml").read_text(encoding="utf-8"))
    pipeline["kafka"]["options"] = {"sasl.plain.password": "env:MDM_TEST_UNSET_PASSWORD"}
    (conf / "pipeline.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    no_secret = _run_job(conf, lake)
    assert (no_secret.returncode, no_secret.stderr.strip().splitlines()[-1]) == \
        (2, "error: Kafka option 'sasl.plain.password' refers to environment variable MDM_TEST_UNSET_PASSWORD, "
            "which is not set")
    assert not lake.exists()


PEOPLE = {  # first name, last name, email, phone, street
    "ada": ("Ada", "Lovelace", "ada@example.com", "(415) 555-0101", "12 Main St"),
    "grace": ("Grace", "Hopper", "grace@example.com", "(415) 555-0102", "34 Oak Ave"),
    "alan": ("Alan", "Turing", "alan@example.com", "(415) 555-0103", "56 Elm St"),
    "edsger": ("Edsger", "Dijkstra", "edsger@example.com", "(415) 555-0104", "78 Pine Rd"),
}


def _event(customer_id: str, person: str, updated_at: str) -> tuple[bytes, bytes]:
    first, last, email, phone, street = PEOPLE[person]
    return customer_id.encode(), json.dumps({
        "op": "upsert", "customer_id": customer_id, "first_name": first, "last_name": last, "email": email,
        "phone": phone, "street": street, "city": "Springfield", "state": "IL", "zip": "62701", "country": "US",
        "birth_date": "04/12/1980", "updated_at": updated_at}).encode()


def test_silver_and_gold_catch_up_behind_ingest_and_a_failing_gold_hop_never_holds_ingest_up(
        spark: SparkSession, kafka_broker: EmbeddedBroker, new_topic: NewTopic, produce: Produce,
        tmp_path: Path) -> None:
    topic = new_topic(partitions=1)
    conf, lake = _job_conf(tmp_path, kafka_broker.bootstrap_servers, topic), tmp_path / "lake"
    produce(topic, [_event("C01", "ada", "2024-01-01 10:00:00"), _event("C02", "ada", "2024-01-01 11:00:00"),
                    _event("C03", "grace", "2024-01-01 10:00:00"), _event("C04", "alan", "2024-01-01 10:00:00"),
                    _event("C05", "edsger", "2024-01-02 10:00:00")])
    store = _store(spark, conf, lake)
    # a gold table left by an older release with other columns: every gold catch-up fails until it is removed
    store.ensure_table("gold.resolve_log", StructType([StructField("increment", LongType())]))

    with running_job(conf, lake, "--trigger", "0.5", "--silver-every", "0.5", "--gold-every", "0.5") as stderr:
        error = stderr.wait_for(r"gold hop failed \(1 in a row\): SchemaMismatchError: ").split("): ", 1)[1].strip()
        stderr.wait_for(r"gold hop: retrying in 1 s")
        stderr.wait_for(r"gold hop: retrying in 2 s")
        # ingest and silver carry on while gold keeps failing
        stderr.wait_for(r"ingest_crm_events batch 0: 5 rows -> bronze.crm_events version 1")
        stderr.wait_for(r"silver crm_events: bronze versions \(-1, 1\]: read 5 = upserted 5 ")
        stderr.stop()
    continuous = store.read(STREAM_PROGRESS)
    assert error.startswith("SchemaMismatchError: data does not fit table gold.resolve_log: ")
    assert sum(r.input_rows for r in continuous.where("hop = 'silver'").collect()) == 5
    assert {tuple(r) for r in continuous.where("hop = 'gold'").select("status", "error").collect()} == \
        {("FAILED", error)}

    shutil.rmtree(store.path("gold.resolve_log"))
    (conf / "operations.yaml").write_text("sla:\n  max_latency_seconds: 3600\n  max_end_to_end_latency_seconds: 3600\n")
    drained = _run_job(conf, lake, "--trigger", "available-now")
    assert drained.returncode == 0, drained.stderr
    assert_df_equality(store.read("silver.party").select("source_record_id", "email"),
                       spark.createDataFrame([("C01", "ada@example.com"), ("C02", "ada@example.com"),
                                              ("C03", "grace@example.com"), ("C04", "alan@example.com"),
                                              ("C05", "edsger@example.com")], "source_record_id string, email string"),
                       ignore_row_order=True, ignore_nullable=True)
    # matching quality is tested elsewhere; here: every silver record has an entity, every entity a golden record
    xref = store.read("gold.entity_xref").where("is_current")
    assert sorted(r.source_record_id for r in xref.collect()) == ["C01", "C02", "C03", "C04", "C05"]
    entities = {r.entity_id for r in xref.collect()}
    assert {r.entity_id for r in store.read("gold.golden_record").collect()} == entities
    [gold] = store.read(STREAM_PROGRESS).where("hop = 'gold' AND status = 'OK'").collect()
    assert (gold.from_version, gold.to_version, gold.lag_versions, gold.input_rows, gold.output_rows) == \
        (-1, store.version("silver.party"), 0, 5, len(entities))
    # the events came in during the first run: their Kafka times reach gold through its recorded silver runs
    assert gold.latency_seconds >= (gold.committed_at - gold.max_kafka_timestamp).total_seconds() > 0
    # the run ends judging that end-to-end latency, Kafka -> golden record, and ingest's of the first run
    [ingest] = continuous.where("hop = 'ingest' AND latency_seconds IS NOT NULL").collect()
    sla = [line.split() for line in drained.stdout.splitlines() if line.strip().startswith("sla ")]
    assert sla == [["sla", "OK", "latency_seconds.crm_events", f"{ingest.latency_seconds:.4g}", "<=3600",
                    "(batch", "0)"],
                   ["sla", "OK", "end_to_end_latency_seconds", f"{gold.latency_seconds:.4g}", "<=3600",
                    "(increment", f"{gold.batch_id})"]], drained.stdout
    strict = load_operations(_write(tmp_path / "strict.yaml", "sla:\n  max_end_to_end_latency_seconds: 1\n"),
                             known_sources=["crm_events"]).sla
    assert [c.line() for c in evaluate_sla(store, load_config(conf, lake=lake), strict)] == \
        [f"BREACH end_to_end_latency_seconds {gold.latency_seconds:.4g} <=1 (increment {gold.batch_id})"]


def test_poison_events_become_dead_letters_with_their_bytes_and_the_stream_goes_on(
        spark: SparkSession, kafka_broker: EmbeddedBroker, new_topic: NewTopic, produce: Produce,
        tmp_path: Path, fault_report: Callable[..., None]) -> None:
    topic = new_topic(partitions=1)
    conf, lake = _job_conf(tmp_path, kafka_broker.bootstrap_servers, topic), tmp_path / "lake"
    huge = b"<html>" + b"x" * 500_000  # half a megabyte of something that is not JSON
    poison = {b"C02": (None, "null value"), b"C03": (b"\xff\xfe\x00name", "value is not valid UTF-8"),
              b"C04": (b'{"customer_id": "C04", "first_name": ', "value is not valid JSON"),
              b"C05": (b'["C05", "Ada"]', "JSON value is not an object"), b"C06": (huge, "value is not valid JSON")}
    ada, grace = _event("C01", "ada", "2024-01-01 10:00:00"), _event("C07", "grace", "2024-01-01 10:00:00")
    sent = produce(topic, [ada, *[(key, value) for key, (value, _) in poison.items()],
                           (None, grace[1]),  # no key: the record id comes from the payload
                           _event("C08", "alan", "2024-01-01 10:00:00")])

    (conf / "operations.yaml").write_text("sla:\n  freshness_hours: {crm_events: 1}\n  min_pass_rate: 0\n"
                                          "  max_hop_lag_versions: 0\n  max_latency_seconds: 600\n")

    done = _run_job(conf, lake, "--trigger", "available-now", "--hops", "silver")

    assert done.returncode == 0, done.stderr
    # the run ends with every SLA check of its source, none in breach
    sla = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("sla ")]
    assert [words[2] for words in sla] == ["freshness_hours.crm_events", "pass_rate.crm_events",
                                           "hop_lag_versions.crm_events", "latency_seconds.crm_events"], done.stdout
    assert "BREACH" not in {words[1] for words in sla}
    assert re.search(r"silver crm_events: bronze versions \(-1, 1\]: read 8 = upserted 3 \+ unchanged 0 \+ "
                     r"superseded 0 \+ quarantined 0 \+ dead-lettered 5 ", done.stderr), done.stderr
    store = _store(spark, conf, lake)
    letters = store.read("ops.dead_letter").collect()
    dead = {r.kafka_offset: (r.key, r.value, r.error) for r in letters}
    assert dead == {m.offset: (key, value, error)
                    for m, (key, (value, error)) in zip(sent[1:6], poison.items())}
    party = [r.source_record_id for r in store.read("silver.party").collect()]
    assert sorted(party) == ["C01", "C07", "C08"]
    fault_report("poison Kafka events: null value, not UTF-8, broken JSON, a JSON array, 500 KB of HTML; a null key",
                 expected="dead letters with their bytes and the reason; the stream goes on",
                 observed=f"{len(dead)} dead letters with exact key and bytes; the keyless event and the events "
                          f"after the poison reached silver; exit 0", checked=len(sent),
                 lost=len(sent) - len(dead) - len(set(party)),
                 duplicated=(len(letters) - len(dead)) + (len(party) - len(set(party))))


def test_maintenance_beside_a_running_stream_loses_and_doubles_nothing(
        spark: SparkSession, kafka_broker: EmbeddedBroker, new_topic: NewTopic, produce: Produce,
        tmp_path: Path, fault_report: Callable[..., None]) -> None:
    topic = new_topic(partitions=2)
    conf, lake = _job_conf(tmp_path, kafka_broker.bootstrap_servers, topic), tmp_path / "lake"
    shipped = yaml.safe_load((REPO / "conf" / "operations.yaml").read_text(encoding="utf-8"))
    (conf / "operations.yaml").write_text(yaml.safe_dump({"maintenance": shipped["maintenance"]}), encoding="utf-8")
    people = sorted(PEOPLE)
    rounds = [[_event(f"C{i:02d}", people[(i + r) % len(people)], f"2024-01-0{r + 1} 10:00:00") for i in range(6)]
              for r in range(2)]
    sent = produce(topic, rounds[0])
    store = _store(spark, conf, lake)

    with running_job(conf, lake, "--trigger", "0.5", "--silver-every", "0.5", "--gold-every", "0.5") as stderr:
        stderr.wait_for(r"gold increment 1 ")
        maintain = [sys.executable, str(REPO / "jobs" / "maintain.py"), "--conf", str(conf), "--lake", str(lake)]
        # every layer takes new writes while the tables are rewritten, vacuumed and checkpointed
        running = subprocess.Popen(maintain, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        sent += produce(topic, rounds[1])
        out, err = running.communicate(timeout=300)
        expected = {f"C{i:02d}": PEOPLE[people[(i + 1) % len(people)]][2] for i in range(6)}

        def caught_up() -> bool:
            emails = {r.source_record_id: r.email for r in store.read("silver.party").collect()}
            return emails == expected and store.version("silver.party") <= gold_silver_version(store)
        deadline = time.monotonic() + 240
        while not caught_up():
            assert time.monotonic() < deadline and stderr.process.poll() is None, "".join(stderr.lines)
            time.sleep(2)
        stderr.stop()

    assert running.returncode == 0, err[-3000:]
    # a table the stream appended to while it was compacted; merge-written ones stay at a file or two this small
    rewritten = {line.split()[0] for line in out.splitlines() if line.split()[1:2] in (["compact"], ["z-order"])}
    assert "ops.stream_progress" in rewritten, out
    assert_bronze_holds(spark, store, topic, sent, [value for events in rounds for _, value in events])
    history = store.read("silver.party_history")
    assert history.count() == 12 and history.where("is_current").count() == 6  # every version once
    xref = store.read("gold.entity_xref").where("is_current")
    assert sorted(r.source_record_id for r in xref.collect()) == sorted(expected)
    assert {r.entity_id for r in store.read("gold.golden_record").collect()} == {r.entity_id for r in xref.collect()}
    checked, lost, duplicated = delivery(store, sent)
    fault_report("maintenance (compaction, vacuum, checkpoints) while the stream job writes every layer",
                 expected="nothing lost or doubled; every record keeps its entity and golden record",
                 observed=f"maintain exit 0 and compacted a table being appended to; {history.count()} silver "
                          f"versions once each", checked=checked, lost=lost, duplicated=duplicated)


#: The named points a stream job passes behind ingest, in the order it reaches them: inside the bronze append,
#: in the silver hop, in the gold hop. The kill test dies at each in turn, the second event round arriving midway.
STREAM_KILL_POINTS = ("delta_append:before_commit", "refine:between_party_and_history", "resolve:after_scoring",
                      "resolve:before_xref", "resolve:between_xref_and_golden", "resolve:before_golden_history")


def test_killed_at_every_point_behind_ingest_the_stream_job_restarts_with_no_gap_and_no_duplicate(
        spark: SparkSession, kafka_broker: EmbeddedBroker, new_topic: NewTopic, produce: Produce,
        tmp_path: Path, fault_report: Callable[..., None]) -> None:
    topic = new_topic(partitions=2)
    conf, lake = _job_conf(tmp_path, kafka_broker.bootstrap_servers, topic), tmp_path / "lake"
    people = sorted(PEOPLE)
    first = [_event(f"C{i:02d}", people[i % len(people)], "2024-01-01 10:00:00") for i in range(8)]
    # updates move four customers to another person's details; two customers are new
    second = [_event(f"C{i:02d}", people[(i + 1) % len(people)], "2024-01-02 10:00:00") for i in (0, 2, 4, 6, 8, 9)]
    sent = produce(topic, first)

    # each run resumes what the one before left and dies at the next point; the second round of events arrives
    # before the gold hop's last two kills, so they interrupt an increment that changes existing entities
    for n, point in enumerate(STREAM_KILL_POINTS):
        if n == 4:
            sent += produce(topic, second)
        killed = _run_job(conf, lake, "--trigger", "available-now", env={KILL_AT: point})
        assert killed.returncode == SIGKILLED, (point, killed.stderr[-3000:])
    resumed = _run_job(conf, lake, "--trigger", "available-now")
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    store = _store(spark, conf, lake)
    latest = dict(first + second)  # the last event of each customer
    expected = {key.decode(): json.loads(value)["email"] for key, value in latest.items()}
    _, bronze_lost, bronze_duplicated = delivery(store, sent)
    current = store.read("gold.entity_xref").where("is_current").collect()
    xref, entities = [r.source_record_id for r in current], {r.entity_id for r in current}
    golden = [r.entity_id for r in store.read("gold.golden_record").collect()]
    lost = bronze_lost + len(set(expected) - set(xref)) + len(entities - set(golden))
    duplicated = bronze_duplicated + (len(xref) - len(set(xref))) + (len(golden) - len(set(golden)))
    assert (lost, duplicated) == (0, 0), (sorted(xref), sorted(golden))

    assert_bronze_holds(spark, store, topic, sent, [value for _, value in first + second])
    assert {r.source_record_id: r.email for r in store.read("silver.party").collect()} == expected
    history = store.read("silver.party_history")
    assert history.count() == len(first) + len(second)  # every version once
    assert sorted(r.source_record_id for r in history.where("is_current").collect()) == sorted(expected)
    assert set(golden) == entities
    golden_history = store.read("gold.golden_record_history").where("is_current").select("entity_id").collect()
    assert sorted(r.entity_id for r in golden_history) == sorted(entities)
    for point in STREAM_KILL_POINTS:
        fault_report(f"SIGKILL of the stream job at `{point}`",
                     expected="the restarted job finishes what was in flight; no gap, no duplicate in any layer",
                     observed="exit -9, resumed by the next run")
    fault_report(f"the {len(STREAM_KILL_POINTS)} stream-job kills above, then a drained run",
                 expected="bronze holds each event once; silver each version once; each record one entity, each "
                          "entity one golden record",
                 observed=f"{len(sent)} events in bronze once, {history.count()} silver versions, "
                          f"{len(expected)} records -> {len(entities)} entities, each with one golden record",
                 checked=len(sent) + len(expected) + len(entities), lost=lost, duplicated=duplicated)
