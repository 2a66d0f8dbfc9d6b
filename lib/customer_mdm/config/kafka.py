"""Kafka connection settings (``kafka:`` in pipeline.yaml).

Secrets never live in YAML: a secret-bearing client option holds a reference,
``env:NAME`` (an environment variable) or ``file:/path`` (a secret file), that
is resolved only when a client is built, so neither the config objects, the
Spark plan nor any log line ever holds the secret itself.

``options`` are client options in Kafka's dotted spelling
(``security.protocol``, ``sasl.mechanism``, ``ssl.cafile``...). With the
default ``kafka-python`` client each name maps to the kafka-python keyword of
the same words (``sasl.plain.username`` -> ``sasl_plain_username``); with
``client: spark`` they are handed to Spark's kafka connector as
``kafka.<name>`` and follow the Java client's names.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from customer_mdm.config.reader import Section
from customer_mdm.config.secrets import EXPECTED_REFERENCE, MASK, is_reference, resolve_reference

# kafka-python: the mdm_kafka Python source (no jar needed); spark: Spark's own kafka source (the
# spark-sql-kafka jar must be on the classpath). A confluent-kafka reader is not offered yet.
KafkaClient = Literal["kafka-python", "spark"]
KAFKA_CLIENTS: tuple[str, ...] = ("kafka-python", "spark")

# Kafka's own markers inside a startingOffsets JSON document.
EARLIEST = -2
LATEST = -1
StartingOffsets = Literal["earliest", "latest"] | dict[str, dict[int, int]]

# kafka-python consumer keywords a user may set, with their value types. The
# source owns group, commit, reset and deserialisation behaviour itself.
KAFKA_PYTHON_OPTIONS: Mapping[str, type] = {
    "security_protocol": str, "sasl_mechanism": str, "sasl_plain_username": str, "sasl_plain_password": str,
    "sasl_kerberos_service_name": str, "sasl_kerberos_domain_name": str, "ssl_cafile": str,
    "ssl_certfile": str, "ssl_keyfile": str, "ssl_password": str, "ssl_crlfile": str, "ssl_ciphers": str,
    "ssl_check_hostname": bool, "client_id": str, "client_rack": str, "client_dns_lookup": str,
    "isolation_level": str, "request_timeout_ms": int, "bootstrap_timeout_ms": int,
    "metadata_max_age_ms": int, "reconnect_backoff_ms": int, "reconnect_backoff_max_ms": int,
    "retry_backoff_ms": int, "connections_max_idle_ms": int, "fetch_max_bytes": int,
    "max_partition_fetch_bytes": int, "fetch_max_wait_ms": int, "fetch_min_bytes": int,
    "max_poll_records": int, "receive_buffer_bytes": int, "send_buffer_bytes": int, "check_crcs": bool,
}
# Options every client role (consumer, producer, admin) understands: how to connect, not how to fetch.
_CONNECTION_PREFIXES = ("security_", "sasl_", "ssl_", "client_id", "client_dns_lookup", "request_timeout_ms",
                        "reconnect_backoff", "retry_backoff_ms", "connections_max_idle_ms", "metadata_max_age_ms")
_SECRET_WORDS = ("password", "secret", "token", "jaas", "credential")


@dataclass(frozen=True)
class KafkaSettings:
    """How the stream job reaches Kafka; one set for every Kafka source of a pipeline."""

    bootstrap_servers: str = "127.0.0.1:9092"
    client: KafkaClient = "kafka-python"
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    poll_timeout_ms: int = 120_000
    connect_backoff_max_seconds: float = 30.0
    options: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"KafkaSettings(bootstrap_servers={self.bootstrap_servers!r}, client={self.client!r}, "
                f"starting_offsets={self.starting_offsets!r}, max_offsets_per_trigger="
                f"{self.max_offsets_per_trigger!r}, fail_on_data_loss={self.fail_on_data_loss!r}, "
                f"poll_timeout_ms={self.poll_timeout_ms!r}, connect_backoff_max_seconds="
                f"{self.connect_backoff_max_seconds!r}, options={masked(self.options)!r})")


def kafka_settings(s: Section) -> KafkaSettings:
    s.allow_only(["bootstrap_servers", "client", "starting_offsets", "max_offsets_per_trigger",
                  "fail_on_data_loss", "poll_timeout_ms", "connect_backoff_max_seconds", "options"])
    d = KafkaSettings()
    client = s.choice("client", KAFKA_CLIENTS, d.client)
    starting = s.string("starting_offsets", d.starting_offsets)
    try:
        parse_starting_offsets(starting)
    except ValueError as exc:
        s.problem("starting_offsets", str(exc), starting)
    options = s.string_map("options", {})
    for name, value in options.items():
        problem = option_problem(name, value, client=client)
        if problem is not None:
            s.problem(f"options.{name}", problem, MASK if is_secret(name) else value)
    return KafkaSettings(
        bootstrap_servers=s.string("bootstrap_servers", d.bootstrap_servers),
        client=client,
        starting_offsets=starting,
        max_offsets_per_trigger=s.integer("max_offsets_per_trigger", None, minimum=1),
        fail_on_data_loss=s.boolean("fail_on_data_loss", d.fail_on_data_loss),
        poll_timeout_ms=s.integer("poll_timeout_ms", d.poll_timeout_ms, minimum=1000),
        connect_backoff_max_seconds=s.number("connect_backoff_max_seconds", d.connect_backoff_max_seconds,
                                             minimum=0.1),
        options=options,
    )


def parse_starting_offsets(text: str) -> StartingOffsets:
    """``earliest``, ``latest`` or Spark's JSON ``{"topic": {"0": 23, "1": -2}}`` (-2 earliest, -1 latest)."""
    expected = ('earliest, latest or a JSON object like {"topic": {"0": 23, "1": -2}} '
                "(-2 = earliest, -1 = latest)")
    word = text.strip().lower()
    if word in ("earliest", "latest"):
        return "earliest" if word == "earliest" else "latest"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(expected) from None
    if not isinstance(doc, dict) or not doc:
        raise ValueError(expected)
    parsed: dict[str, dict[int, int]] = {}
    for topic, partitions in doc.items():
        if not isinstance(partitions, dict) or not partitions:
            raise ValueError(expected)
        parsed[topic] = {}
        for partition, offset in partitions.items():
            if not str(partition).isdigit() or isinstance(offset, bool) or not isinstance(offset, int) \
                    or offset < EARLIEST:
                raise ValueError(expected)
            parsed[topic][int(partition)] = offset
    return parsed


def is_secret(name: str) -> bool:
    """Whether an option name carries a secret (its value is masked and must be a reference)."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def masked(options: Mapping[str, str]) -> dict[str, str]:
    """The options fit for a log line: secret-bearing values replaced by ``***``."""
    return {name: MASK if is_secret(name) else value for name, value in options.items()}


def kafka_python_name(name: str) -> str:
    """``sasl.plain.username`` (Kafka spelling) -> ``sasl_plain_username`` (kafka-python keyword)."""
    return name.lower().replace(".", "_")


def option_problem(name: str, value: str, *, client: str) -> str | None:
    """What is wrong with one client option, as the 'expected ...' part of a config issue."""
    if is_secret(name) and not is_reference(value):
        return EXPECTED_REFERENCE
    if client != "kafka-python":
        return None
    keyword = kafka_python_name(name)
    if keyword not in KAFKA_PYTHON_OPTIONS:
        known = sorted(k.replace("_", ".") for k in KAFKA_PYTHON_OPTIONS)
        return f"a kafka-python client option, one of {known}"
    if not is_reference(value):
        try:
            _convert(keyword, value)
        except ValueError as exc:
            return str(exc)
    return None


def resolve_secret(name: str, value: str) -> str:
    """The value an option reference points to; raises LookupError naming the option, never the secret."""
    try:
        return resolve_reference(value)
    except LookupError as exc:
        raise LookupError(f"Kafka option {name!r} refers to {exc}") from None


def kafka_python_config(options: Mapping[str, str], *, connection_only: bool = False) -> dict[str, Any]:
    """kafka-python keyword arguments from dotted Kafka options, secrets resolved, values typed.

    ``connection_only`` keeps what producers and admin clients accept too
    (security, timeouts), dropping consumer fetch tuning.
    """
    config: dict[str, Any] = {}
    for name, value in options.items():
        keyword = kafka_python_name(name)
        if keyword not in KAFKA_PYTHON_OPTIONS:
            raise ValueError(f"unknown kafka-python client option {name!r}")
        if connection_only and not keyword.startswith(_CONNECTION_PREFIXES):
            continue
        config[keyword] = _convert(keyword, resolve_secret(name, value))
    return config


def _convert(keyword: str, value: str) -> Any:
    kind = KAFKA_PYTHON_OPTIONS[keyword]
    if kind is bool:
        if value.lower() not in ("true", "false"):
            raise ValueError("true or false")
        return value.lower() == "true"
    if kind is int:
        try:
            return int(value)
        except ValueError:
            raise ValueError("an integer") from None
    return value
