"""Stream = batch: the same CRM records by files in one batch run and by Kafka through the stream job, compared.

    python bench/bench_stream_batch.py [--records 6000] [--quick]

Generated CRM extracts (``--records`` over all sources; the CRM share is
used) are loaded once by the batch job's code in this process, and sent as
change events, in business-time order (``updated_at``), to a one-partition
topic of the embedded broker in four rounds; jobs/stream_job.py (its own
process, every hop behind ingest, ``maxOffsetsPerTrigger`` 200) takes each
round through gold before the next is sent, so every hop runs several
increments. Both lakes name the source ``crm``. Figures:

- silver rows that differ (multiset, lineage columns and the warnings of
  ``unique`` rules aside: those judge one increment at a time);
- groupings (sets of records per entity) found on one side only;
- records whose entity id differs, and how many of those are explained by the
  stream's stored-state rules: the stream entity saw a split, merge, move or
  anchor change (its id stood while batch never saw the transient link).

A measurement, not a test: the hops' time-based intervals make increment
boundaries vary between runs.
"""
from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml
from harness import REPO, Target, record, start
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from customer_mdm.config import SourceConfig, load_config
from customer_mdm.config.resolve import load_resolve_settings
from customer_mdm.embedded_kafka import start_broker, stop_broker
from customer_mdm.hops.batch import file_sources, run_batch
from customer_mdm.hops.catch_up import gold_silver_version
from customer_mdm.hops.refine import watermark
from customer_mdm.ops.runs import Run
from customer_mdm.samples.events import change_events, read_rows
from customer_mdm.samples.generator import generate
from customer_mdm.spark import build_session
from customer_mdm.storage import TableStore, open_store

log = logging.getLogger("bench.stream_batch")
TOPIC = "crm.equivalence"
ROUNDS = 4
#: Where a silver row came from and when, and the per-increment warnings of ``unique`` rules.
NOT_COMPARED = ("_bronze_version", "_seq_row", "_source_ref", "_ingest_run_id", "_recorded_at", "_input_hash",
                "_dq_warnings")
#: xref changes by which a stream entity keeps an id that batch, seeing only final versions, would not give.
STORED_STATE_CHANGES = ("split", "merged", "moved", "anchor")


def _project(root: Path, landing: Path, *, topic: str | None, bootstrap_servers: str) -> Path:
    """The repo's configuration with one source, ``crm``: the CSV extracts, or the same columns as Kafka events."""
    conf = root / "conf"
    shutil.copytree(REPO / "conf", conf)
    shutil.copytree(REPO / "models", root / "models")
    shutil.copytree(landing, root / "data" / "landing")
    (conf / "operations.yaml").unlink()
    for source in (conf / "sources").glob("*.yaml"):
        if source.name != "crm.yaml":
            source.unlink()
    if topic is not None:
        events = yaml.safe_load((REPO / "conf" / "sources" / "crm_events.yaml").read_text(encoding="utf-8"))
        (conf / "sources" / "crm.yaml").write_text(yaml.safe_dump({**events, "name": "crm", "topic": topic}),
                                                   encoding="utf-8")
    pipeline = yaml.safe_load((conf / "pipeline.yaml").read_text(encoding="utf-8"))
    pipeline["kafka"].update(bootstrap_servers=bootstrap_servers, max_offsets_per_trigger=200)
    pipeline["spark"].update(shuffle_partitions=2)
    (conf / "pipeline.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    return conf


def _caught_up(store: TableStore, source: SourceConfig, events: int) -> bool:
    if not store.exists("bronze.crm") or store.read("bronze.crm").count() < events:
        return False
    return watermark(store, source) == store.version("bronze.crm") and store.exists("silver.party") \
        and gold_silver_version(store) == store.version("silver.party")


def _wait(job: subprocess.Popen[bytes], condition: Callable[[], bool], *, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline or job.poll() is not None:
            raise RuntimeError(f"the stream job did not catch up within {seconds} s (exit code {job.poll()})")
        time.sleep(2)


def _silver(store: TableStore) -> DataFrame:
    return store.read("silver.party").drop(*NOT_COMPARED)


def _ids(store: TableStore) -> dict[str, str]:
    return {r.source_record_id: r.entity_id
            for r in store.read("gold.entity_xref").where("is_current").select("source_record_id", "entity_id")
            .collect()}


def _groupings(ids: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for record_id, entity in ids.items():
        groups.setdefault(entity, set()).add(record_id)
    return {frozenset(members) for members in groups.values()}


def main() -> int:
    args = start(__doc__ or "", records=(6000, 1500))
    with tempfile.TemporaryDirectory(prefix="bench-equivalence-") as tmp:
        root = Path(tmp)
        generate(root / "landing", records=args.records, seed=11, extracts=2)
        broker = start_broker(root / "broker")
        job: subprocess.Popen[bytes] | None = None
        spark = None
        try:
            admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
            admin.create_topics([NewTopic(TOPIC, 1, 1)])  # one partition: the stream keeps the sending order
            admin.close()
            batch_config = load_config(_project(root / "batch", root / "landing", topic=None,
                                                bootstrap_servers=broker.bootstrap_servers))
            stream_conf = _project(root / "stream", root / "landing", topic=TOPIC,
                                   bootstrap_servers=broker.bootstrap_servers)
            stream_config = load_config(stream_conf)
            spark = build_session(batch_config.spark)
            batch = open_store(spark, batch_config)
            started = time.perf_counter()
            run_batch(spark, batch, batch_config, Run(batch, "bench-batch", "bench", "batch", {}),
                      sources=file_sources(batch_config), resolve=load_resolve_settings(batch_config))
            batch_seconds = time.perf_counter() - started

            source = stream_config.source("crm")
            rows = read_rows(sorted((root / "stream" / "data" / "landing" / "crm").glob("*.csv")), source,
                             limit=None)
            rows.sort(key=lambda row: row["updated_at"] or "")  # business-time order: what names new entities
            events = list(change_events(rows, source))
            stream = open_store(spark, stream_config)
            with (root / "stream_job.log").open("wb") as out:
                job = subprocess.Popen([sys.executable, str(REPO / "jobs" / "stream_job.py"), "--conf",
                                        str(stream_conf), "--trigger", "0.5", "--silver-every", "1",
                                        "--gold-every", "1"], stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all", linger_ms=5)
            sent, started = 0, time.perf_counter()
            for part in range(ROUNDS):
                for event in events[part * len(events) // ROUNDS:(part + 1) * len(events) // ROUNDS]:
                    producer.send(TOPIC, key=event.key, value=event.value)
                    sent += 1
                producer.flush()
                _wait(job, partial(_caught_up, stream, source, sent))
                log.info("round %d of %d: %d events through gold", part + 1, ROUNDS, sent)
            stream_seconds = time.perf_counter() - started
            producer.close()
            job.send_signal(signal.SIGTERM)
            if job.wait(timeout=300) != 0:
                raise RuntimeError(f"stream job exited with {job.returncode}; see its log")

            progress = stream.read("ops.stream_progress").where("status = 'OK'")
            increments = {hop: progress.where(F.col("hop") == hop).count() for hop in ("ingest", "silver", "gold")}
            silver_stream, silver_batch = _silver(stream), _silver(batch)
            silver_differing = silver_stream.exceptAll(silver_batch).count() + \
                silver_batch.exceptAll(silver_stream).count()
            ids_stream, ids_batch = _ids(stream), _ids(batch)
            differing = {r for r in ids_batch if ids_stream.get(r) != ids_batch[r]}
            changed_entities = {r.entity_id for r in stream.read("gold.entity_xref")
                                .where(F.col("change").isin(*STORED_STATE_CHANGES)).select("entity_id").collect()}
            explained = {r for r in differing if ids_stream.get(r) in changed_entities}
            groups_stream, groups_batch = _groupings(ids_stream), _groupings(ids_batch)
        finally:
            if job is not None and job.poll() is None:
                job.kill()
            if spark is not None:
                spark.stop()
            stop_broker(root / "broker")
    record("stream_batch_equivalence", {
        "events": len(events), "records": len(ids_batch),
        "ingest_increments": increments["ingest"], "silver_increments": increments["silver"],
        "gold_increments": increments["gold"],
        "silver_rows_differing": silver_differing,
        "groupings_batch": len(groups_batch), "groupings_only_batch": len(groups_batch - groups_stream),
        "groupings_only_stream": len(groups_stream - groups_batch),
        "ids_differing": len(differing), "ids_differing_explained": len(explained),
        "ids_differing_unexplained": len(differing - explained),
        "batch_seconds": round(batch_seconds, 1), "stream_seconds": round(stream_seconds, 1),
    }, workload={"records_requested": args.records, "rounds": ROUNDS, "order": "updated_at",
                 "max_offsets_per_trigger": 200},
        targets=[Target("silver_rows_differing", "<=", 0), Target("groupings_only_batch", "<=", 0),
                 Target("ids_differing_unexplained", "<=", 0)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
