"""A real single-node Apache Kafka 4.x broker (KRaft, broker + controller) on loopback.

For the test suite and for developers; no Docker. The broker's jars come from Maven Central
through ``deploy/kafka/pom.xml`` (package data in a wheel: ``engine.resources``) and are cached
(``ensure_kafka_libs``); ``LocalKafka`` formats a fresh data directory, starts ``kafka.Kafka``
under Java 17+ and waits until the broker answers a Kafka protocol request. Everything binds
and advertises 127.0.0.1 only.

Run one in the foreground (``engine.cli.dev``)::

    csla dev broker [--port 9092]

Pure stdlib: ``confluent_kafka`` is imported lazily, only to probe readiness (a raw
``ApiVersions`` request is used without it) and to create topics.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from engine import resources

__all__ = [
    "KAFKA_VERSION",
    "KafkaUnavailableError",
    "LocalKafka",
    "ensure_kafka_libs",
    "find_java",
]

#: Must equal ``kafka.version`` in deploy/kafka/pom.xml (a test checks it).
KAFKA_VERSION = "4.1.2"
MIN_JAVA_MAJOR = 17

_MARKER_NAME = ".csla-kafka-libs.json"
_LOG_TAIL_LINES = 50
_MVN_TIMEOUT_S = 1800.0
_STOP_TIMEOUT_S = 30.0


class KafkaUnavailableError(RuntimeError):
    """The local broker cannot be provided: no Java 17+, no Maven, no POM, or it did not start."""


# --------------------------------------------------------------------------- jars


def _pom_path() -> Path:
    return resources.kafka_pom()


def default_libs_dir() -> Path:
    """``$CSLA_KAFKA_LIBS``, else ``~/.cache/csla-engine/kafka-<version>/libs``."""
    override = os.environ.get("CSLA_KAFKA_LIBS")
    if override:
        return Path(override).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "csla-engine" / f"kafka-{KAFKA_VERSION}" / "libs"


def _expected_marker(pom: Path) -> dict[str, str]:
    return {
        "kafka_version": KAFKA_VERSION,
        "pom_sha256": hashlib.sha256(pom.read_bytes()).hexdigest(),
    }


def _read_marker(libs_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((libs_dir / _MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_complete(libs_dir: Path, pom: Path | None) -> bool:
    marker = _read_marker(libs_dir)
    if marker is None or not any(libs_dir.glob("kafka_2.13-*.jar")):
        return False
    # Without the POM (e.g. an installed package) a finished download is trusted as it is.
    return pom is None or marker == _expected_marker(pom)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_kafka_libs(cache_dir: Path | None = None) -> Path:
    """Return a directory holding the broker's jars, downloading them with Maven if needed.

    ``cache_dir`` is the jar directory itself (default: ``default_libs_dir()``). A download
    goes to a staging directory beside it and is moved into place with a marker file, so an
    interrupted run leaves nothing that looks complete; a file lock keeps two processes from
    downloading at once. A non-empty directory without our marker is never overwritten.
    """
    libs_dir = (cache_dir if cache_dir is not None else default_libs_dir()).expanduser()
    libs_dir = libs_dir.resolve()
    pom: Path | None = _pom_path() if _pom_path().is_file() else None
    if _is_complete(libs_dir, pom):
        return libs_dir

    with _file_lock(libs_dir.parent / f"{libs_dir.name}.lock"):
        if _is_complete(libs_dir, pom):  # another process finished while we waited
            return libs_dir
        if pom is None:
            raise KafkaUnavailableError(
                f"Kafka jars are missing from {libs_dir} and the POM that fetches them "
                f"({_pom_path()}) was not found: reinstall the package, run from a checkout of the repository, "
                "or set CSLA_KAFKA_LIBS to a directory made by ensure_kafka_libs()."
            )
        if libs_dir.exists() and any(libs_dir.iterdir()) and _read_marker(libs_dir) is None:
            raise KafkaUnavailableError(
                f"{libs_dir} is not empty and was not made by ensure_kafka_libs(); "
                "empty it or point CSLA_KAFKA_LIBS at another directory."
            )
        for stale in libs_dir.parent.glob(f".{libs_dir.name}-staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{libs_dir.name}-staging-", dir=libs_dir.parent))
        try:
            _run_maven(pom, staging)
            (staging / _MARKER_NAME).write_text(
                json.dumps(_expected_marker(pom), indent=2) + "\n", encoding="utf-8"
            )
            staging.chmod(0o755)  # mkdtemp makes it private
            if libs_dir.exists():  # ours, but from another POM: replace it whole
                shutil.rmtree(libs_dir)
            os.replace(staging, libs_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return libs_dir


def _run_maven(pom: Path, out_dir: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailableError(
            "Maven ('mvn') is not on PATH; it is needed once to fetch the Kafka broker jars "
            "(or set CSLA_KAFKA_LIBS to a directory made by ensure_kafka_libs())."
        )
    cmd = [mvn, "-B", "-q", "-f", str(pom), "package", f"-Dkafka.libs.dir={out_dir}"]
    proc = subprocess.run(
        cmd,
        cwd=pom.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=_MVN_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0 or not any(out_dir.glob("kafka_2.13-*.jar")):
        tail = "\n".join(proc.stdout.splitlines()[-_LOG_TAIL_LINES:])
        raise KafkaUnavailableError(
            f"fetching the Kafka jars failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}"
        )


# --------------------------------------------------------------------------- java


def find_java() -> str:
    """Path of a Java 17+ ``java`` (``$JAVA_HOME/bin/java``, else ``PATH``); raise if none."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate is not None and candidate.is_file() else shutil.which("java")
    if java is None:
        raise KafkaUnavailableError(
            f"Java {MIN_JAVA_MAJOR}+ is needed to run the local Kafka broker, but no 'java' was "
            "found on PATH or in $JAVA_HOME (Debian: apt-get install openjdk-17-jre-headless)."
        )
    out = subprocess.run(
        [java, "-version"], capture_output=True, text=True, timeout=60, check=False
    ).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        raise KafkaUnavailableError(f"cannot tell the version of {java}: {out.strip()!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    if major < MIN_JAVA_MAJOR:
        raise KafkaUnavailableError(
            f"Kafka 4 needs Java {MIN_JAVA_MAJOR}+, but {java} is Java {major}."
        )
    return java


# --------------------------------------------------------------------------- broker


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _api_versions_ok(port: int, timeout_s: float) -> bool:
    """Send a Kafka ``ApiVersions`` v0 request; True if the broker answers without error."""
    client_id = b"csla-local-broker"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(sock, 10)  # size, correlation id, error code
    except OSError:
        return False
    if head is None:
        return False
    _size, correlation_id, error_code = struct.unpack(">iih", head)
    return bool(correlation_id == 1 and error_code == 0)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _new_admin(bootstrap: str, *, quiet: bool = False) -> Any:
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError as exc:  # pragma: no cover - confluent-kafka is a test dependency
        raise KafkaUnavailableError(
            "confluent-kafka is needed for this (pip install -e '.[test]')"
        ) from exc
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap}
    if quiet:  # connection-refused noise while the broker is still starting
        conf["log_level"] = 0
    return AdminClient(conf)


@dataclass
class _Run:
    """What one started broker leaves behind; ``_cleanup`` disposes of it."""

    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "broker.log"


def _cleanup(run: _Run) -> None:
    """SIGTERM the broker, SIGKILL it after 30 s, remove its directory (also at exit)."""
    proc = run.proc
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=_STOP_TIMEOUT_S)
    if run.log_file is not None:
        run.log_file.close()
    shutil.rmtree(run.workdir, ignore_errors=True)


class LocalKafka:
    """A throw-away single-node Kafka broker (KRaft combined mode) on 127.0.0.1.

    ``with LocalKafka() as kafka: ... kafka.bootstrap ...``. Ports are picked free unless
    given; the data directory is a fresh temporary directory that ``stop()`` removes (so does
    interpreter exit, if ``stop()`` was never called). ``properties`` overrides or adds
    ``server.properties`` entries.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        libs_dir: Path | None = None,
        properties: Mapping[str, str] | None = None,
        startup_timeout_s: float = 90.0,
    ) -> None:
        self._requested_port = port
        self._requested_controller_port = controller_port
        self._libs_dir = libs_dir
        self._extra_properties = dict(properties or {})
        self._startup_timeout_s = startup_timeout_s
        self._run: _Run | None = None
        self._finalizer: weakref.finalize[[_Run], LocalKafka] | None = None
        self._admin: Any = None
        self.port = 0
        self.controller_port = 0
        self.properties: dict[str, str] = {}
        self.startup_s = 0.0

    # -- lifecycle ----------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``"127.0.0.1:PORT"`` of the PLAINTEXT listener."""
        if self._run is None:
            raise RuntimeError("LocalKafka is not started; call start() or use it as a context")
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return (
            self._run is not None and self._run.proc is not None and self._run.proc.poll() is None
        )

    @property
    def log_path(self) -> Path | None:
        """The broker's stdout/stderr log (removed by ``stop()``)."""
        return None if self._run is None else self._run.log_path

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalKafka:
        """Format a fresh data directory, start the broker and wait until it answers."""
        if self._run is not None:
            return self
        java = find_java()
        libs = ensure_kafka_libs(self._libs_dir)
        started = time.monotonic()
        # A picked free port may be taken by someone else before Java binds it: try again.
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(1, attempts + 1):
            self._run = _Run(workdir=Path(tempfile.mkdtemp(prefix="csla-kafka-")))
            self._finalizer = weakref.finalize(self, _cleanup, self._run)
            try:
                self._launch(java, libs, self._run)
                self._wait_ready(self._run)
            except KafkaUnavailableError as exc:
                self.stop()
                if attempt == attempts or "Address already in use" not in str(exc):
                    raise
            except BaseException:  # e.g. Ctrl-C while starting
                self.stop()
                raise
            else:
                self.startup_s = time.monotonic() - started
                return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """SIGTERM the broker, SIGKILL it after 30 s, and remove its data directory."""
        self._admin = None  # closed first, or librdkafka logs the broker going away
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = None
        self._run = None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the broker's log."""
        if self._run is None:
            return "(not started)"
        if self._run.log_file is not None:
            self._run.log_file.flush()
        try:
            text = self._run.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    # -- topics -------------------------------------------------------------

    def create_topic(
        self, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> None:
        """Create ``name`` (replication factor 1) and wait until every partition has a leader."""
        from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

        if self._admin is None:
            self._admin = _new_admin(self.bootstrap)
        admin = self._admin
        topic = NewTopic(
            name, num_partitions=partitions, replication_factor=1, config=dict(config or {})
        )
        admin.create_topics([topic], operation_timeout=30)[name].result(timeout=60)
        deadline = time.monotonic() + 30
        while True:
            meta = admin.list_topics(topic=name, timeout=5).topics.get(name)
            if (
                meta is not None
                and meta.error is None
                and len(meta.partitions) == partitions
                and all(p.leader >= 0 for p in meta.partitions.values())
            ):
                return
            if time.monotonic() > deadline:
                raise KafkaUnavailableError(f"topic {name!r} has no leaders after 30 s: {meta}")
            time.sleep(0.05)

    # -- internals ----------------------------------------------------------

    def _server_properties(self, data_dir: Path) -> dict[str, str]:
        broker = f"127.0.0.1:{self.port}"
        controller = f"127.0.0.1:{self.controller_port}"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(data_dir),
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            "group.coordinator.rebalance.protocols": "classic,consumer",
            "group.initial.rebalance.delay.ms": "0",
            "group.min.session.timeout.ms": "1000",
            "log.retention.check.interval.ms": "60000",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        }
        props.update(self._extra_properties)
        return props

    def _launch(self, java: str, libs: Path, run: _Run) -> None:
        self.port = self._requested_port or _free_port()
        self.controller_port = self._requested_controller_port or _free_port()
        while self.controller_port == self.port:
            self.controller_port = _free_port()
        config = run.workdir / "server.properties"
        self.properties = self._server_properties(run.workdir / "data")
        config.write_text(
            "".join(f"{key}={value}\n" for key, value in self.properties.items()), encoding="utf-8"
        )
        options = ["-Djava.awt.headless=true"]
        log4j = resources.kafka_log4j()
        if log4j.is_file():
            options.append(f"-Dlog4j2.configurationFile={log4j}")
        classpath = ["-cp", str(libs / "*")]
        storage_tool = [java, *options, *classpath, "kafka.tools.StorageTool"]
        cluster_id = _run_tool([*storage_tool, "random-uuid"]).strip()
        _run_tool([*storage_tool, "format", "--standalone", "-t", cluster_id, "-c", str(config)])
        run.log_file = run.log_path.open("wb")
        heap = ["-Xms256m", "-Xmx512m", "-XX:+UseG1GC"]
        run.proc = subprocess.Popen(
            [java, *heap, *options, *classpath, "kafka.Kafka", str(config)],
            cwd=run.workdir,
            stdin=subprocess.DEVNULL,
            stdout=run.log_file,
            stderr=subprocess.STDOUT,
        )

    def _wait_ready(self, run: _Run) -> None:
        assert run.proc is not None
        deadline = time.monotonic() + self._startup_timeout_s
        admin = None
        while time.monotonic() < deadline:
            if run.proc.poll() is not None:
                raise KafkaUnavailableError(
                    f"the Kafka broker exited with code {run.proc.returncode} while starting; "
                    f"last lines of its log:\n{self.log_tail()}"
                )
            if _api_versions_ok(self.port, timeout_s=2.0):
                try:
                    import confluent_kafka  # noqa: F401
                except ImportError:  # the raw ApiVersions answer has to do
                    return
                admin = admin or _new_admin(f"127.0.0.1:{self.port}", quiet=True)
                with contextlib.suppress(Exception):
                    if admin.list_topics(timeout=2).brokers:
                        return
            time.sleep(0.1)
        raise KafkaUnavailableError(
            f"the Kafka broker on 127.0.0.1:{self.port} was not ready after "
            f"{self._startup_timeout_s:.0f} s; last lines of its log:\n{self.log_tail()}"
        )


def _run_tool(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise KafkaUnavailableError(
            f"{' '.join(cmd[-6:])} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout
