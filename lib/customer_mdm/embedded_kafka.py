"""The embedded Kafka broker of the demo, the tests and the benchmarks.

Production points the stream job at its own Kafka cluster. Locally the
project starts a real Kafka-protocol broker itself: noida-db (pinned in
requirements.txt), the PyPI broker that behaved like Apache Kafka in every
client check (../shared/KAFKA.md). Each broker gets its own data dir holding
``broker.json`` (pid, host, port) and ``broker.log``; it is stopped by that
pid, never by name, so brokers of parallel test runs do not meet.

    python -m customer_mdm.embedded_kafka up --data-dir data/broker --port 9092
    python -m customer_mdm.embedded_kafka status --data-dir data/broker
    python -m customer_mdm.embedded_kafka down --data-dir data/broker
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from customer_mdm.errors import SourceError
from customer_mdm.logs import configure_logging

log = logging.getLogger(__name__)

STATE_FILE = "broker.json"
LOG_FILE = "broker.log"


@dataclass(frozen=True)
class EmbeddedBroker:
    """A running broker: where it listens and the pid that stops it."""

    data_dir: str
    host: str
    port: int
    pid: int

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"


def free_port(host: str = "127.0.0.1", port: int = 0) -> int:
    """``port`` if nothing listens on it right now, else a port that is free (the broker binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the broker does: TIME_WAIT is no owner
        sock.bind((host, port))
        return int(sock.getsockname()[1])


def running_broker(data_dir: str | Path) -> EmbeddedBroker | None:
    """The broker recorded in ``data_dir`` if its process is still alive."""
    state = Path(data_dir) / STATE_FILE
    if not state.is_file():
        return None
    broker = EmbeddedBroker(**json.loads(state.read_text(encoding="utf-8")))
    return broker if _alive(broker.pid) else None


def start_broker(data_dir: str | Path, *, port: int | None = None, host: str = "127.0.0.1",
                 timeout: float = 30.0) -> EmbeddedBroker:
    """Starts a broker in the background (or returns the one already running there); waits until it answers."""
    folder = Path(data_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    existing = running_broker(folder)
    if existing is not None:
        log.info("Kafka broker already running at %s (pid %d, data %s)", existing.bootstrap_servers, existing.pid,
                 folder)
        return existing
    try:
        port = free_port(host, port or 0)
    except OSError as exc:
        raise SourceError(f"cannot start a Kafka broker on {host}:{port}: {exc.strerror} (another broker there? "
                          "stop it or choose another port)") from None
    started = time.monotonic()
    with open(folder / LOG_FILE, "ab") as out:
        process = subprocess.Popen(
            [_binary(), "start", "--only", "kafka", "--host", host, "--kafka-port", str(port),
             "--data-dir", str(folder)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    broker = EmbeddedBroker(data_dir=str(folder), host=host, port=port, pid=process.pid)
    (folder / STATE_FILE).write_text(json.dumps(asdict(broker)), encoding="utf-8")
    while process.poll() is None and not _answers(broker.bootstrap_servers):
        if time.monotonic() - started > timeout:
            break
        time.sleep(0.1)
    if process.poll() is not None or time.monotonic() - started > timeout:
        stop_broker(folder)
        raise SourceError(f"embedded Kafka broker did not come up on {broker.bootstrap_servers} within "
                          f"{timeout:.0f} s; its log {folder / LOG_FILE} ends with:\n{_tail(folder / LOG_FILE)}")
    log.info("Kafka broker up at %s (pid %d, data %s) in %.1f s", broker.bootstrap_servers, broker.pid, folder,
             time.monotonic() - started)
    return broker


def stop_broker(data_dir: str | Path, *, timeout: float = 10.0) -> bool:
    """SIGTERM (the broker saves its data), SIGKILL after ``timeout``; False when none was running."""
    folder = Path(data_dir).resolve()
    broker = running_broker(folder)
    (folder / STATE_FILE).unlink(missing_ok=True)
    if broker is None:
        return False
    os.kill(broker.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(broker.pid):
        if time.monotonic() > deadline:
            log.warning("Kafka broker pid %d ignored SIGTERM for %.0f s; killing it", broker.pid, timeout)
            os.kill(broker.pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.05)
    log.info("Kafka broker at %s stopped (pid %d)", broker.bootstrap_servers, broker.pid)
    return True


def _binary() -> str:
    """The broker executable shipped inside the noida-db wheel (run directly, so its pid is the broker's)."""
    path = Path(str(files("noida_db").joinpath("noida-db")))
    if not path.is_file():
        raise SourceError(f"noida-db binary not found at {path}: install the pinned noida-db (make venv)")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


def _alive(pid: int) -> bool:
    """Whether the process runs; reaps it first when it is our own exited child."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    return not cmdline.exists() or b"noida-db" in cmdline.read_bytes()


def _answers(bootstrap_servers: str) -> bool:
    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, bootstrap_timeout_ms=500, enable_auto_commit=False)
    except KafkaError:
        return False
    try:
        consumer.topics()
        return True
    except KafkaError:
        return False
    finally:
        consumer.close()


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m customer_mdm.embedded_kafka", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--data-dir", default="data/broker", help="broker data, pid and log (default: %(default)s)")
    parser.add_argument("--port", type=int, default=None, help="Kafka port (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    configure_logging()
    if args.command == "up":
        try:
            print(start_broker(args.data_dir, port=args.port, host=args.host).bootstrap_servers)
        except SourceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    elif args.command == "down":
        if not stop_broker(args.data_dir):
            print(f"no broker running in {args.data_dir}")
    else:
        broker = running_broker(args.data_dir)
        print(f"running at {broker.bootstrap_servers} (pid {broker.pid})" if broker else "not running")
        return 0 if broker else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
