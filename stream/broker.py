"""A real Kafka broker for the demo and the tests: the given one, a container, or local KRaft jars.

Order of preference (DESIGN.md): STREAMDRIFT_BOOTSTRAP, then testcontainers' Kafka when a
Docker engine answers, then a single-node Apache Kafka launched from the official jars that
Maven resolves once into a cache folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import BrokerError

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
CACHE_DIR = Path(os.environ.get("STREAMDRIFT_CACHE", Path.home() / ".cache" / "streamdrift"))
HEAP = os.environ.get("STREAMDRIFT_BROKER_HEAP", "512m")

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>streamdrift</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{scala}</artifactId>
      <version>{version}</version></dependency>
    <!-- Kafka logs through slf4j; the no-op binding keeps the broker quiet and its log small. -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def kafka_jars(version: str = KAFKA_VERSION, progress=print) -> Path:
    """The folder of the broker's jars, resolved with Maven on first use and cached."""
    lib = CACHE_DIR / f"kafka_{SCALA_VERSION}-{version}" / "lib"
    if (lib / ".complete").exists():
        return lib
    if shutil.which("mvn") is None:
        raise BrokerError(
            "Maven (mvn) is needed once to fetch the Apache Kafka jars: install it (apt-get install maven), "
            "or point STREAMDRIFT_BOOTSTRAP at a running broker"
        )
    progress(f"Resolving Apache Kafka {version} jars with Maven into {lib.parent} (first run only)...")
    lib.parent.mkdir(parents=True, exist_ok=True)
    pom = lib.parent / "pom.xml"
    pom.write_text(_POM.format(scala=SCALA_VERSION, version=version))
    cmd = ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
           f"-DoutputDirectory={lib}", "-DincludeScope=runtime"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BrokerError(f"Maven could not resolve the Kafka jars ({' '.join(cmd)}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    (lib / ".complete").touch()
    return lib


def die_with_parent() -> None:
    """Run in the child: the kernel kills the JVM if the Python process that started it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
DIR_PREFIX = "streamdrift-kafka-"

# The broker folder's reaper, a process of its own: it reads the pid of each JVM launched on the
# folder from stdin and, at EOF (the owner stopped the broker, or died, even by SIGKILL), waits for
# those JVMs to be gone (killing one that is still up on this folder) and removes the folder.
_REAPER = r"""
import os, shutil, signal, sys, time
for s in (signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
folder = sys.argv[1]
pids = [int(line) for line in sys.stdin if line.strip()]
def runs_here(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return folder.encode() in f.read()
    except OSError:
        return False
deadline = time.monotonic() + 30
for pid in pids:
    if runs_here(pid):
        os.kill(pid, signal.SIGKILL)
    while runs_here(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
shutil.rmtree(folder, ignore_errors=True)
"""


class LocalKafka:
    """A single-node KRaft broker in a temporary folder; stop() leaves no process and no files."""

    def __init__(self, port: int | None = None, *, heap: str = HEAP, extra_properties: dict[str, str] | None = None,
                 listener_protocol: str = "PLAINTEXT", jaas: str | None = None, format_args: tuple[str, ...] = (),
                 client_settings: dict[str, object] | None = None, keep_data: bool = False):
        self.port = port
        self.heap = heap
        self.extra_properties = extra_properties or {}
        self.listener_protocol = listener_protocol
        self.jaas = jaas
        # e.g. ("--add-scram", "SCRAM-SHA-256=[name=alice,password=...]"): users must exist before first start.
        self.format_args = tuple(format_args)
        # kafka-python security settings the readiness check connects with (a SASL listener needs credentials).
        self.client_settings = dict(client_settings or {})
        # By default the data folder goes with the broker however it ends; keep_data leaves it for the user.
        self.keep_data = keep_data
        self._proc: subprocess.Popen | None = None
        self._dir: Path | None = None
        self._reaper: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path | None:
        """The broker's folder (configuration, log, data) while it exists."""
        return self._dir

    @classmethod
    def with_scram(cls, users: dict[str, str], *, admin: str = "admin", admin_password: str | None = None,
                   inter_broker_mechanism: str = "SCRAM-SHA-512", port: int | None = None,
                   tls: dict[str, str] | None = None, **options) -> LocalKafka:
        """A broker whose client listener wants SASL/SCRAM; the controller listener stays PLAINTEXT.

        Every user in `users` (and the admin the broker itself and the readiness check use) gets
        credentials for both SCRAM-SHA-512 and SCRAM-SHA-256, written into the metadata log at format
        time. `tls` ({"keystore": path, "password": ...}) makes the listener SASL_SSL.
        """
        admin_password = admin_password or secrets.token_urlsafe(16)
        everyone = {**users, admin: admin_password}
        for name, password in everyone.items():
            # StorageTool parses "[name=...,password=...]"; these characters would split the entry.
            if any(c in name + password for c in ',[]="'):
                raise ValueError(f"SCRAM user {name!r}: names and passwords may not contain , [ ] = or \"")
        format_args: list[str] = []
        for mechanism in SCRAM_MECHANISMS:
            for name, password in everyone.items():
                format_args += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        protocol = "SASL_SSL" if tls else "SASL_PLAINTEXT"
        listener = protocol.lower()
        module = "org.apache.kafka.common.security.scram.ScramLoginModule required"
        props = {
            "sasl.enabled.mechanisms": ",".join(SCRAM_MECHANISMS),
            "sasl.mechanism.inter.broker.protocol": inter_broker_mechanism,
        }
        for mechanism in SCRAM_MECHANISMS:
            # Server side, per listener and mechanism; the inter-broker mechanism also logs the broker in as admin.
            login = f' username="{admin}" password="{admin_password}"' if mechanism == inter_broker_mechanism else ""
            props[f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config"] = f"{module}{login};"
        client = {"security_protocol": protocol, "sasl_mechanism": inter_broker_mechanism,
                  "sasl_plain_username": admin, "sasl_plain_password": admin_password}
        if tls:
            props |= {
                "ssl.keystore.location": tls["keystore"], "ssl.keystore.password": tls["password"],
                "ssl.keystore.type": tls.get("keystore_type", "PKCS12"),
                "ssl.truststore.location": tls.get("truststore", tls["keystore"]),
                "ssl.truststore.password": tls.get("truststore_password", tls["password"]),
                "ssl.truststore.type": tls.get("truststore_type", tls.get("keystore_type", "PKCS12")),
                "ssl.endpoint.identification.algorithm": "",
            }
            client |= {"ssl_cafile": tls["cafile"], "ssl_check_hostname": False} if "cafile" in tls else {}
        props |= options.pop("extra_properties", {})
        return cls(port, listener_protocol=protocol, extra_properties=props, format_args=tuple(format_args),
                   client_settings=client, **options)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise BrokerError(
                "Java 17+ is needed to run the local Kafka broker: install it (apt-get install openjdk-17-jre-headless), "
                "or point STREAMDRIFT_BOOTSTRAP at a running broker"
            )
        return java

    def properties(self, controller_port: int) -> str:
        proto = self.listener_protocol
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": f"{proto}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"{proto}://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": proto,
            "listener.security.protocol.map": f"{proto}:{proto},CONTROLLER:PLAINTEXT",
            "log.dirs": str(self._dir / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.backoff.ms": "1000",
            "auto.create.topics.enable": "false",
            **self.extra_properties,
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _jvm(self) -> list[str]:
        jvm = [self._java(), f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Djava.awt.headless=true", "-cp", f"{kafka_jars()}/*"]
        if self.jaas:
            jvm.insert(1, f"-Djava.security.auth.login.config={self._dir / 'jaas.conf'}")
        return jvm

    def start(self, timeout_s: float = 90.0, progress=print) -> str:
        self._java()
        kafka_jars(progress=progress)
        if self.port is None:
            self.port = free_port()
        elif not port_is_free(self.port):
            raise BrokerError(f"port {self.port} is taken: choose another with --broker-port, or stop what uses it")
        controller_port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        if not self.keep_data:
            self._reaper = subprocess.Popen([sys.executable, "-c", _REAPER, str(self._dir)], stdin=subprocess.PIPE,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
        config = self._dir / "server.properties"
        config.write_text(self.properties(controller_port))
        if self.jaas:
            (self._dir / "jaas.conf").write_text(self.jaas)
        cluster_id = str(uuid.uuid4()).replace("-", "")[:22]
        fmt = subprocess.run([*self._jvm(), "kafka.tools.StorageTool", "format", "-t", cluster_id,
                              "-c", str(config), *self.format_args], capture_output=True, text=True)
        if fmt.returncode != 0:
            self.stop()
            raise BrokerError(f"formatting the Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")
        self._launch(timeout_s)
        return self.bootstrap

    def _launch(self, timeout_s: float) -> None:
        with open(self._dir / "broker.log", "ab") as log:
            self._proc = subprocess.Popen([*self._jvm(), "kafka.Kafka", str(self._dir / "server.properties")],
                                          stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          # Own session: a terminal's Ctrl-C goes to our process, which
                                          # stops the broker last, after its clients.
                                          preexec_fn=die_with_parent, start_new_session=True)
        if self._reaper is not None:
            self._reaper.stdin.write(f"{self._proc.pid}\n".encode())
            self._reaper.stdin.flush()
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise BrokerError(f"the Kafka broker exited with code {self._proc.returncode}:\n{tail}")
            if self._answers_metadata():
                return
            time.sleep(0.3)
        tail = self.log_tail()
        self.stop()
        raise BrokerError(f"the Kafka broker did not answer a metadata request within {timeout_s:.0f} s:\n{tail}")

    def _answers_metadata(self) -> bool:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
        except OSError:
            return False
        if self.listener_protocol != "PLAINTEXT" and not self.client_settings:
            return True  # the port is open; a SASL handshake needs credentials this check was not given
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000,
                                     bootstrap_timeout_ms=3000, **self.client_settings)
        except (KafkaError, OSError):
            return False
        try:
            return bool(admin.describe_cluster().get("brokers"))
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()

    def log_tail(self, lines: int = 30) -> str:
        path = self._dir / "broker.log" if self._dir else None
        if path is None or not path.exists():
            return "(no broker log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the broker but keep its data, for restart tests."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def restart(self, timeout_s: float = 90.0) -> None:
        """Start again on the same port and data folder."""
        self.kill()
        self._launch(timeout_s)

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._dir and not self.keep_data:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        if self._reaper is not None:
            self._reaper.stdin.close()
            self._reaper.wait(timeout=35)
            self._reaper = None

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def docker_available() -> bool:
    """True when a Docker engine answers (not merely when the docker client is installed)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if not os.path.exists(path):
            return False
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # any failure means: no usable engine
        return False


@contextlib.contextmanager
def kafka_broker(port: int | None = None, progress=print, keep_data: bool = False) -> Iterator[str]:
    """Yield a bootstrap address of a real broker, stopping whatever this call started."""
    given = os.environ.get("STREAMDRIFT_BOOTSTRAP")
    if given:
        progress(f"Using the Kafka broker at {given} (STREAMDRIFT_BOOTSTRAP)")
        yield given
        return
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        progress("Starting Kafka in a container (testcontainers)...")
        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    progress(f"Starting a local Apache Kafka {KAFKA_VERSION} broker (KRaft)...")
    broker = LocalKafka(port, keep_data=keep_data)
    broker.start(progress=progress)
    if keep_data:
        progress(f"Broker data kept in {broker.data_dir}")
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def main(port: int | None = None, keep_data: bool = False) -> None:
    """`streamdrift broker`: run until SIGINT or SIGTERM, then stop the broker (and remove its folder)."""
    # Handled, not default: SIGTERM's default action would end us before the broker and its folder go.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with kafka_broker(port, keep_data=keep_data) as bootstrap:
        print(f"Kafka broker ready at {bootstrap}; Ctrl-C stops it", flush=True)
        while not stop.wait(1.0):
            pass
        print("Stopping the broker...", flush=True)
