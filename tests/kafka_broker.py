"""A real one-node Apache Kafka 4.x broker (KRaft: broker and controller in one JVM) for the tests.

Rules it keeps:
- The broker's jars come from the Maven registry through `tests/kafka/pom.xml`, fetched once
  (`mvn dependency:copy-dependencies`) into a cache outside the checkout:
  `$EVENTLOG_KAFKA_CACHE` or `~/.cache/eventlog-kafka/<version>/libs`. A fetch goes to a
  temporary directory and is renamed into place only when complete, under a file lock, so a
  killed fetch or two concurrent test runs never leave a half-filled cache.
- Every broker gets a freshly formatted data directory, listens on 127.0.0.1 only (two free
  ports: clients and controller), and counts as started only once it answers a metadata request
  that lists a broker, within a deadline; otherwise start fails with the tail of its log.
- `stop()` ends the JVM it started, by its pid only: SIGTERM, then SIGKILL after a grace period.
  The JVM also dies with the process that started it (PR_SET_PDEATHSIG, through `setpriv` or
  prctl), so a killed pytest leaves no broker behind.
- `unavailable()` says why a broker cannot be had here (no java, no mvn and no cached jars);
  callers skip with that reason. `EVENTLOG_TEST_KAFKA=host:port` names a running broker to use
  instead of starting one.

`python tests/kafka_broker.py [--port N]` starts one by hand and prints its bootstrap address.
"""
import base64
import contextlib
import fcntl
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

VERSION = os.environ.get("EVENTLOG_KAFKA_VERSION", "4.4.0")
POM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kafka", "pom.xml")
HEAP = "-Xmx512m -Xms512m"
FETCH_TIMEOUT_S = 900
START_TIMEOUT_S = 120
STOP_GRACE_S = 30
ENV_REUSE = "EVENTLOG_TEST_KAFKA"

# One node: replication factor 1 for the internal topics; no wait before the first rebalance;
# the log cleaner wakes often, so compaction tests wait seconds, not minutes. (Retention checks
# keep Kafka's 5 min: tests must not set record timestamps older than retention.ms.)
SETTINGS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "inter.broker.listener.name": "PLAINTEXT",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "auto.create.topics.enable": "true",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "log.cleaner.backoff.ms": "200",
    "log.initial.task.delay.ms": "0",
}


class BrokerError(RuntimeError):
    """The broker could not be fetched, formatted or started; the message says why."""


def cache_dir(version=VERSION):
    root = os.environ.get("EVENTLOG_KAFKA_CACHE")
    if root:
        return os.path.join(root, version)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "eventlog-kafka", version)


def _libs(version):
    return os.path.join(cache_dir(version), "libs")


def _have_jars(version):
    libs = _libs(version)
    return os.path.isfile(os.path.join(libs, ".complete")) and any(
        n.startswith("kafka_2.13-") for n in os.listdir(libs))


def unavailable(version=VERSION):
    """Why no broker can be started here (None if one can)."""
    if importlib.util.find_spec("confluent_kafka") is None:
        return "confluent-kafka is not installed (the broker's readiness check uses it): pip install -e '.[test]'"
    if shutil.which("java") is None:
        return "no `java` on PATH: the real Kafka broker tests need Java 17+ (apt-get install openjdk-17-jre-headless)"
    if not _have_jars(version) and shutil.which("mvn") is None:
        return (f"no `mvn` on PATH and no cached Kafka {version} jars in {_libs(version)}: "
                "the real Kafka broker tests need Maven once to fetch them")
    return None


def fetch(version=VERSION, log=sys.stderr):
    """Make sure Kafka `version`'s jars are in the cache; return the libs directory.

    Fetches through Maven once; later calls return at once."""
    libs = _libs(version)
    if _have_jars(version):
        return libs
    os.makedirs(cache_dir(version), exist_ok=True)
    with open(os.path.join(cache_dir(version), ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # another run may be fetching: wait for it
        if _have_jars(version):
            return libs
        tmp = tempfile.mkdtemp(prefix="libs.", dir=cache_dir(version))
        t0 = time.monotonic()
        print(f"eventlog tests: fetching Kafka {version} jars from the Maven registry into {libs} ...",
              file=log, flush=True)
        cmd = ["mvn", "-q", "-B", "-f", POM, f"-Dkafka.version={version}", "dependency:copy-dependencies",
               "-DincludeScope=runtime", f"-DoutputDirectory={tmp}"]
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=FETCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BrokerError(f"fetching Kafka {version} through Maven took over {FETCH_TIMEOUT_S} s: {' '.join(cmd)}")
        if r.returncode != 0 or not any(n.startswith("kafka_2.13-") for n in os.listdir(tmp)):
            shutil.rmtree(tmp, ignore_errors=True)
            raise BrokerError(f"Maven could not fetch Kafka {version} (exit {r.returncode}): "
                              f"{' '.join(cmd)}\n{r.stdout[-3000:]}")
        open(os.path.join(tmp, ".complete"), "w").close()
        if os.path.isdir(libs):
            shutil.rmtree(libs)   # an incomplete older fetch (no .complete marker)
        os.rename(tmp, libs)
        print(f"eventlog tests: Kafka jars fetched in {time.monotonic() - t0:.1f} s", file=log, flush=True)
    return libs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_id():
    """A KRaft cluster id as Kafka's `Uuid.randomUuid().toString()` makes it (22 base64url
    characters; never starting with '-'), without a JVM start for `storage random-uuid`."""
    while True:
        s = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not s.startswith("-"):
            return s


def _with_parent_death_signal(cmd):
    """`cmd` made to receive SIGKILL when the process that started it dies: through util-linux's
    `setpriv --pdeathsig` (an exec wrapper: nothing runs in the forked child of this threaded
    process), else prctl(PR_SET_PDEATHSIG) from a preexec_fn whose function is resolved here."""
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--"] + cmd, None
    import ctypes
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return cmd, None
    return cmd, lambda: prctl(1, signal.SIGKILL)   # 1 = PR_SET_PDEATHSIG


def answers(bootstrap, timeout=5.0):
    """True if a Kafka broker at `bootstrap` answers a metadata request listing a broker.

    Asks from a fresh interpreter with the real confluent-kafka, so a facade patched into this
    process's sys.modules can never answer in the broker's place."""
    code = ("import sys\nfrom confluent_kafka.admin import AdminClient\n"
            "a = AdminClient({'bootstrap.servers': sys.argv[1], 'log_level': 0})\n"
            "sys.exit(0 if a.list_topics(timeout=float(sys.argv[2])).brokers else 1)\n")
    try:
        r = subprocess.run([sys.executable, "-c", code, bootstrap, str(timeout)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0


def _port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Broker:
    """One broker JVM. `Broker.start()` returns it running; `bootstrap` is "127.0.0.1:PORT";
    `stop()` ends it (idempotent). Timings of the last start are in `timings` (seconds)."""

    def __init__(self, data_dir, port, controller_port, proc, own_dir, timings):
        self.data_dir = data_dir
        self.port = port
        self.controller_port = controller_port
        self.bootstrap = f"127.0.0.1:{port}"
        self.proc = proc
        self._own_dir = own_dir
        self.timings = timings

    @property
    def log_path(self):
        return os.path.join(self.data_dir, "broker.log")

    @classmethod
    def start(cls, data_dir=None, version=VERSION, extra=None, timeout=START_TIMEOUT_S):
        """Fetch (if needed), format `data_dir` (a fresh temporary directory if None) and start
        a broker; raise BrokerError if it does not answer within `timeout` seconds."""
        why = unavailable(version)
        if why:
            raise BrokerError(why)
        t0 = time.monotonic()
        libs = fetch(version)
        timings = {"fetch_s": time.monotonic() - t0}
        own = data_dir is None
        data_dir = tempfile.mkdtemp(prefix="eventlog-kafka-") if own else str(data_dir)
        try:
            for attempt in range(3):   # a free port can be taken between probe and bind: retry
                port, cport = free_port(), free_port()
                try:
                    proc = cls._launch(data_dir, libs, port, cport, extra or {}, timings)
                    b = cls(data_dir, port, cport, proc, own, timings)
                    b._wait_ready(timeout, timings)
                    return b
                except BrokerError as e:
                    if "Address already in use" not in str(e) or attempt == 2:
                        raise
        except BaseException:
            if own:
                shutil.rmtree(data_dir, ignore_errors=True)
            raise

    @staticmethod
    def _launch(data_dir, libs, port, cport, extra, timings):
        data = os.path.join(data_dir, "data")
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        props = dict(SETTINGS)
        props.update({
            "controller.quorum.voters": f"1@127.0.0.1:{cport}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "log.dirs": data,
        })
        props.update(extra)
        conf = os.path.join(data_dir, "server.properties")
        with open(conf, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in props.items())
        cp = os.path.join(libs, "*")
        java = ["java", "-Djava.awt.headless=true", "-Dlog4j2.level=WARN", f"-Dkafka.logs.dir={data_dir}"]
        t0 = time.monotonic()
        r = subprocess.run(java + ["-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        timings["format_s"] = time.monotonic() - t0
        if r.returncode != 0:
            raise BrokerError(f"formatting the broker's data directory failed: {r.stdout[-3000:]}")
        cmd, preexec = _with_parent_death_signal(
            java + HEAP.split() + ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-cp", cp, "kafka.Kafka", conf])
        log = open(os.path.join(data_dir, "broker.log"), "ab")
        try:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=data_dir, start_new_session=True, preexec_fn=preexec)
        finally:
            log.close()

    def _wait_ready(self, timeout, timings):
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                tail = self._log_tail()
                self.stop()
                raise BrokerError(f"the Kafka broker exited with {self.proc.returncode} while starting; "
                                  f"tail of {self.log_path}:\n{tail}")
            if _port_open(self.port) and answers(self.bootstrap, timeout=5.0):
                timings["start_s"] = time.monotonic() - t0
                return
            if time.monotonic() >= deadline:
                tail = self._log_tail()
                self.stop()
                raise BrokerError(f"the Kafka broker did not answer on {self.bootstrap} within {timeout} s; "
                                  f"tail of {self.log_path}:\n{tail}")
            time.sleep(0.2)

    def _log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError as e:
            return f"(no log: {e})"

    def stop(self):
        """End the JVM (SIGTERM, SIGKILL after STOP_GRACE_S) and remove a data dir we made."""
        p = self.proc
        if p is not None and p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                p.wait()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self._own_dir = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Start a real one-node Kafka broker on 127.0.0.1 until Ctrl-C.")
    ap.add_argument("--fetch-only", action="store_true", help="only fetch the jars into the cache")
    args = ap.parse_args(argv)
    if args.fetch_only:
        print(fetch())
        return 0
    with Broker.start() as b:
        print(f"BOOTSTRAP={b.bootstrap}\nDATA={b.data_dir}\nPID={b.proc.pid}\nTIMINGS={b.timings}", flush=True)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    sys.exit(main())
