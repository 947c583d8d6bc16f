"""KafkaLog: `eventlog.open("kafka://...")`, the directory Log's public API on a Kafka cluster.

Owns the cluster connection of one opened log: an AdminClient (topics, groups, configs,
delete_records), one internal producer (for `Partition.append`) and one internal metadata
consumer (watermarks, `offset_for_time`, `Partition.read`), all made on first use and closed by
`close()`. Topic, Partition and group handles are thin views that ask the cluster on each call.

Rules it keeps:
- Same objects, types and errors as a directory: `Record`, `TopicPartition`, `RecordMetadata`,
  `TopicConfig`, `MemberDescription`, EventLogError subclasses (Kafka errors mapped in _client).
- Topics exist only when created (no auto-creation); `create_topic` returns once the broker
  serves every partition, `delete_topic` once the metadata no longer lists it.
- What has no meaning on a cluster (`fsync=`, `maintain()`, `verify()`, `path`) raises
  `UnsupportedOperationError` naming the Kafka setting that replaces it.
- An AdminClient is kept referenced until its futures resolve (they fail with _DESTROY
  otherwise), and "coordinator load in progress" right after a broker starts is retried.
"""
import threading
import time
import uuid

from eventlog.backends.kafka import _client
from eventlog.backends.kafka import producer as _producer
from eventlog.backends.kafka._client import NO_GROUP_PREFIX, records_from
from eventlog.backends.kafka._client import ck, map_error, unsupported
from eventlog.errors import (InvalidArgumentError, InvalidTypeError, LogClosedError, OffsetOutOfRangeError,
                             TopicExistsError, UnknownPartitionError, UnknownTopicError, KafkaTimeoutError)
from eventlog.record import Record, TopicPartition
from eventlog.storage.names import is_valid_topic_name
from eventlog.storage.topic import TopicConfig, validate_topic_name

TIMEOUT_S = 30.0
class KafkaLog:
    """A Kafka cluster behind eventlog's Log API. Create with `eventlog.open("kafka://...")`;
    a context manager. `url` is the location it was opened with, `config` the librdkafka
    settings every client made from it starts from."""

    def __init__(self, url, *, fsync=None, max_open_partitions=None, background_maintenance=False,
                 timeout_s=TIMEOUT_S):
        if fsync is not None:
            raise unsupported(f"eventlog.open(..., fsync={fsync!r})", _client.UNSUPPORTED_SETTINGS["fsync"])
        if background_maintenance:
            raise unsupported("background_maintenance", "the broker applies retention and compaction "
                              "itself (log.retention.check.interval.ms, log.cleaner.enable)")
        if max_open_partitions is not None:
            raise unsupported("max_open_partitions", "the broker manages its own file handles "
                              "(the broker's ulimit -n)")
        self.url = url
        self.config = _client.parse_url(url)
        ck()  # ImportError naming the extra, before anything else
        self.timeout = float(timeout_s)
        self._lock = threading.RLock()
        self._closed = False
        self._admin_client = None
        self._writer = None
        self._reader = None
        self.reader_lock = threading.Lock()   # held by whoever uses reader() (assign/consume)
        self._clients = []      # producers and consumers made from this log, closed with it

    # -- plumbing ------------------------------------------------------------------------------
    def client_config(self, **extra):
        """A copy of the URL's librdkafka settings plus `extra` (allow.auto.create.topics off)."""
        conf = dict(self.config)
        conf.setdefault("allow.auto.create.topics", "false")
        conf.update(extra)
        return conf

    def _check(self):
        if self._closed:
            raise LogClosedError(f"the log at {self.url} is closed")

    def add_client(self, client):
        """Register a producer or consumer made from this log, so that `close()` closes it."""
        self._clients.append(client)

    def remove_client(self, client):
        """Forget a client registered with `add_client` (it closed itself); absent is fine."""
        try:
            self._clients.remove(client)
        except ValueError:
            pass

    @property
    def admin(self):
        """This log's AdminClient (confluent-kafka), made on first use; LogClosedError once closed."""
        self._check()
        if self._admin_client is None:
            with self._lock:
                if self._admin_client is None:
                    self._admin_client = ck().admin.AdminClient(self.client_config())
        return self._admin_client

    def admin_results(self, futures, what):
        """{key: result} of a dict of admin futures, each waited for up to `self.timeout`;
        the first error raises (mapped to an EventLogError, its message starting with `what`)."""
        out = {}
        for k, f in futures.items():
            try:
                out[k] = f.result(timeout=self.timeout)
            except ck().KafkaException as e:
                raise map_error(e, f"{what} {k}") from e
            except TimeoutError:
                raise KafkaTimeoutError(f"{what} {k}: no answer from {self.config['bootstrap.servers']} "
                                        f"within {self.timeout} s") from None
        return out

    def retrying(self, fn, what):
        """Return fn(), retrying up to `self.timeout` on 'coordinator load in progress' / not available."""
        E = ck().KafkaError
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return fn()
            except ck().KafkaException as e:
                err = e.args[0] if e.args else None
                code = err.code() if isinstance(err, E) else None
                if code in (E.COORDINATOR_LOAD_IN_PROGRESS, E.COORDINATOR_NOT_AVAILABLE,
                            E.NOT_COORDINATOR) and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                raise map_error(e, what) from e

    def _metadata(self, topic=None):
        try:
            return self.admin.list_topics(topic=topic, timeout=self.timeout)
        except ck().KafkaException as e:
            raise map_error(e, "metadata request") from e

    def _topic_meta(self, name):
        validate_topic_name(name)
        md = self._metadata(name).topics.get(name)
        if md is None or md.error is not None and md.error.code() == ck().KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise UnknownTopicError(f"unknown topic {name!r} on {self.url}; create it with "
                                    f"log.create_topic({name!r}, partitions=...)")
        if md.error is not None:
            raise map_error(md.error, f"metadata of topic {name!r}")
        return md

    def partition_count(self, name):
        return len(self._topic_meta(name).partitions)

    def writer(self):
        """The internal producer of Partition.append (acks=all, no linger), made on first use."""
        self._check()
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    from eventlog.backends.kafka.producer import KafkaProducer
                    self._writer = KafkaProducer(self, linger_ms=0, _internal=True)
        return self._writer

    def reader(self):
        """The internal consumer of reads and offset look-ups (no group, EOF events on), made on
        first use; hold `reader_lock` while assigning and consuming with it."""
        self._check()
        if self._reader is None:
            with self._lock:
                if self._reader is None:
                    self._reader = ck().Consumer(self.client_config(**{
                        "group.id": NO_GROUP_PREFIX + uuid.uuid4().hex, "enable.auto.commit": False,
                        "enable.auto.offset.store": False, "enable.partition.eof": True,
                        # a directory's read() and end_offset see every record (the high
                        # watermark); librdkafka's default would be read_committed (the LSO)
                        "isolation.level": "read_uncommitted"}))
        return self._reader

    def watermarks(self, tp, client=None):
        """(start offset, end offset) of `tp`, from the partition leader now. Retriable errors
        (a leader not known yet, as right after a topic is created) are retried until
        `self.timeout` has passed. `client` (a confluent Consumer; default the internal
        read_uncommitted one) is the one asked: a read_committed consumer gets the last
        stable offset as the end, as Kafka's ListOffsets answers that isolation level."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return (client or self.reader()).get_watermark_offsets(ck().TopicPartition(tp.topic, tp.partition),
                                                          timeout=self.timeout, cached=False)
            except ck().KafkaException as e:
                err = e.args[0] if e.args else None
                K = ck().KafkaError
                transient = err is not None and (err.retriable() or err.code() in (
                    K.NOT_LEADER_FOR_PARTITION, K.LEADER_NOT_AVAILABLE, K.UNKNOWN_TOPIC_OR_PART))
                if transient and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise map_error(e, f"offsets of {tp.topic}[{tp.partition}]") from e

    def offsets_for_times(self, timestamps):
        """{tp: first offset with timestamp >= ts, or None} for {tp: ts_ms}, one request (each
        partition once: librdkafka answers -1 for a partition listed twice)."""
        req = [ck().TopicPartition(tp.topic, tp.partition, ts) for tp, ts in timestamps.items()]
        if not req:
            return {}
        try:
            res = self.reader().offsets_for_times(req, timeout=self.timeout)
        except ck().KafkaException as e:
            raise map_error(e, "offsets_for_times") from e
        out = {}
        for r in res:
            if r.error is not None:
                raise map_error(r.error, f"offsets_for_times of {r.topic}[{r.partition}]")
            out[TopicPartition(r.topic, r.partition)] = r.offset if r.offset >= 0 else None
        return out

    # -- the Log API ---------------------------------------------------------------------------
    def __repr__(self):
        return f"<eventlog.KafkaLog {self.url!r}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def path(self):
        raise unsupported("log.path (a local directory)", f"the cluster is {self.config['bootstrap.servers']}; "
                          "use log.url")

    def close(self):
        """Flush and close every producer and consumer made from this log, then the internal clients."""
        if self._closed:
            return
        for c in list(self._clients):
            try:
                c.close()
            except Exception:
                pass
        for c in (self._writer,):
            if c is not None:
                c.close()
        if self._reader is not None:
            self._reader.close()
        with self._lock:
            self._closed = True
            self._admin_client = None

    def topics(self):
        """Names of all topics, sorted (Kafka's internal topics, named "__...", left out)."""
        self._check()
        return sorted(n for n in self._metadata().topics if not n.startswith("__") and is_valid_topic_name(n))

    def create_topic(self, name, partitions=1, *, replication_factor=-1, config=None, **settings):
        """Create a topic and return it. Settings are the directory log's (Kafka's names with
        underscores, see `eventlog.Log.create_topic`), mapped to Kafka topic configs;
        `replication_factor` (-1: the broker's default) and `config` (raw Kafka topic configs,
        e.g. {"min.insync.replicas": "2"}) are Kafka-only. `fsync` and `cleaner_buffer_bytes`
        raise UnsupportedOperationError. TopicExistsError if it exists."""
        self._check()
        validate_topic_name(name)
        for k in settings:
            if k in _client.UNSUPPORTED_SETTINGS:
                raise unsupported(f"the topic setting {k}=", _client.UNSUPPORTED_SETTINGS[k])
        TopicConfig.make(partitions=partitions, **settings)   # the same validation as a directory
        configs = _client.topic_configs(settings)
        if config:
            configs.update({str(k): str(v) for k, v in config.items()})
        nt = ck().admin.NewTopic(name, partitions, replication_factor=replication_factor, config=configs)
        admin = self.admin
        self.admin_results(admin.create_topics([nt], operation_timeout=self.timeout), "create_topic")
        self.wait_until(lambda: self.is_served(name, partitions), f"topic {name!r} to be served")
        return self.topic(name)

    def is_served(self, name, partitions):
        """True once topic `name` exists with >= `partitions` partitions, each with a leader."""
        md = self._metadata(name).topics.get(name)
        return (md is not None and md.error is None and len(md.partitions) >= partitions
                and all(p.leader >= 0 for p in md.partitions.values()))

    def wait_until(self, cond, what):
        """Poll cond() until true; KafkaTimeoutError naming `what` after `self.timeout`."""
        deadline = time.monotonic() + self.timeout
        while not cond():
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(f"waited {self.timeout} s for {what} on {self.url}")
            time.sleep(0.05)

    def topic(self, name):
        """The topic `name`; UnknownTopicError if it does not exist."""
        self._check()
        md = self._topic_meta(name)
        return KafkaTopic(self, name, len(md.partitions))

    def delete_topic(self, name):
        """Delete a topic and its data (the cluster also drops the groups' offsets of it).
        UnknownTopicError if absent."""
        self._check()
        self._topic_meta(name)
        self.admin_results(self.admin.delete_topics([name], operation_timeout=self.timeout), "delete_topic")
        self.wait_until(lambda: name not in self._metadata().topics, f"topic {name!r} to disappear")

    def producer(self, **options):
        """A new Producer (see `eventlog.backends.kafka.producer.KafkaProducer` for options);
        with `transactional_id=`, a transactional one
        (`eventlog.backends.kafka.transactional.KafkaTransactionalProducer`)."""
        self._check()
        if options.get("transactional_id") is not None:
            from eventlog.backends.kafka.transactional import KafkaTransactionalProducer
            return KafkaTransactionalProducer(self, **options)
        options.pop("transactional_id", None)
        from eventlog.backends.kafka.producer import KafkaProducer
        return KafkaProducer(self, **options)

    def consumer(self, **options):
        """A new Consumer (see `eventlog.backends.kafka.consumer.KafkaConsumer` for options)."""
        self._check()
        from eventlog.backends.kafka.consumer import KafkaConsumer
        return KafkaConsumer(self, **options)

    def transaction_coordinator(self, **_kw):
        raise unsupported("log.transaction_coordinator() (and `eventlog transactions`)",
                          "the broker's transaction coordinator keeps the transactional ids: "
                          "kafka-transactions.sh list / describe --transactional-id ID / abort")

    def group(self, group_id):
        """The consumer group `group_id` (members, committed, lag, reset_offsets, delete)."""
        self._check()
        from eventlog.backends.kafka.group import KafkaGroup
        return KafkaGroup(self, group_id)

    def groups(self):
        """Ids of the cluster's consumer groups, sorted."""
        self._check()
        res = self.retrying(lambda: self.admin.list_consumer_groups(request_timeout=self.timeout)
                             .result(timeout=self.timeout), "list groups")
        return sorted(g.group_id for g in res.valid if not g.group_id.startswith(NO_GROUP_PREFIX))

    def maintain(self, topics=None):
        raise unsupported("log.maintain()", "the broker applies retention (retention.ms, retention.bytes, "
                          "checked every log.retention.check.interval.ms) and compaction "
                          "(cleanup.policy=compact, log.cleaner.enable) continuously by itself")

    def verify(self, topics=None, *, deep=False):
        raise unsupported("log.verify()", "the broker checks its segments itself on start "
                          "(log recovery); kafka-dump-log.sh --deep-iteration reads a segment file")


class KafkaTopic:
    """A topic of a KafkaLog: `name`, `config` (a TopicConfig read from the cluster),
    `partitions`, `partition(n)`, `alter(...)`, `add_partitions(n)`."""

    def __init__(self, log, name, count):
        self._log = log
        self.name = name
        self._count = count
        self._config = None

    def __repr__(self):
        return f"<KafkaTopic {self.name!r} partitions={self._count}>"

    @property
    def config(self):
        """The topic's settings as a TopicConfig (from describe_configs)."""
        if self._config is None:
            self._config = self._read_config()
        return self._config

    def kafka_configs(self):
        """{Kafka topic config name: value} as the cluster reports them."""
        res = ck().admin.ConfigResource(ck().admin.ResourceType.TOPIC, self.name)
        got = self._log.admin_results(self._log.admin.describe_configs([res], request_timeout=self._log.timeout),
                              "describe topic")
        entries = next(iter(got.values()))
        return {k: e.value for k, e in entries.items()}

    def _read_config(self):
        s = _client.settings_from_configs(self.kafka_configs())
        try:
            return TopicConfig.make(partitions=self._count, **s)
        except InvalidArgumentError:   # a broker value outside eventlog's bounds: keep what fits
            ok = {}
            for k, v in s.items():
                try:
                    TopicConfig.make(partitions=self._count, **ok, **{k: v})
                    ok[k] = v
                except InvalidArgumentError:
                    pass
            return TopicConfig.make(partitions=self._count, **ok)

    @property
    def partition_count(self):
        return self._count

    @property
    def partitions(self):
        return [KafkaPartition(self._log, self.name, i) for i in range(self._count)]

    def partition(self, number):
        """Partition `number`; UnknownPartitionError if there is none."""
        if type(number) is not int:
            raise InvalidTypeError(f"partition number must be an int, got {type(number).__name__}: {number!r}")
        if not 0 <= number < self._count:
            raise UnknownPartitionError(
                f"topic {self.name!r} has no partition {number}; it has {self._count} (0..{self._count - 1})")
        return KafkaPartition(self._log, self.name, number)

    def alter(self, **settings):
        """Change settings (incremental_alter_configs); `partitions` may only grow
        (create_partitions). Returns the new TopicConfig."""
        log = self._log
        partitions = settings.pop("partitions", None)
        for k in settings:
            if k in _client.UNSUPPORTED_SETTINGS:
                raise unsupported(f"the topic setting {k}=", _client.UNSUPPORTED_SETTINGS[k])
        import attrs
        attrs.evolve(self.config, **settings)   # names and values checked as for a directory
        TopicConfig.make(**{**attrs.asdict(self.config), **settings})
        if partitions is not None and partitions != self._count:
            if type(partitions) is not int or partitions < self._count:
                raise InvalidArgumentError(
                    f"partitions can only grow (topic {self.name!r} has {self._count}, asked {partitions!r})")
            log.admin_results(log.admin.create_partitions([ck().admin.NewPartitions(self.name, partitions)],
                                                   operation_timeout=log.timeout), "add partitions")
            log.wait_until(lambda: log.is_served(self.name, partitions), f"{self.name!r} to have {partitions} partitions")
            self._count = partitions
        if settings:
            A = ck().admin
            entries = [A.ConfigEntry(k, v, incremental_operation=A.AlterConfigOpType.SET)
                       for k, v in _client.topic_configs(settings).items()]
            res = A.ConfigResource(A.ResourceType.TOPIC, self.name, incremental_configs=entries)
            log.admin_results(log.admin.incremental_alter_configs([res]), "alter topic")
            want = _client.topic_configs(settings)
            log.wait_until(lambda: all(self.kafka_configs().get(k) == v for k, v in want.items()),
                       f"the new settings of {self.name!r} to apply")
        self._config = None
        return self.config

    def add_partitions(self, total):
        """Grow the topic to `total` partitions (Kafka's CreatePartitions)."""
        return self.alter(partitions=total)

    def close(self):
        pass


class KafkaPartition:
    """One partition of a topic on a cluster: offsets, reads, appends, delete_records."""

    def __init__(self, log, topic, number):
        self._log = log
        self.topic = topic
        self.partition = number
        self.tp = TopicPartition(topic, number)

    def __repr__(self):
        return f"<KafkaPartition {self.topic}[{self.partition}]>"

    @property
    def start_offset(self):
        """The log start offset (Kafka's low watermark)."""
        return self._log.watermarks(self.tp)[0]

    @property
    def end_offset(self):
        """The log end offset (Kafka's high watermark: the next offset consumers will see)."""
        return self._log.watermarks(self.tp)[1]

    def append(self, value, key=None, headers=(), timestamp_ms=None):
        """Append one record (acks=all); return its offset."""
        f = self._log.writer().send(self.topic, value=value, key=key, headers=headers or None,
                                    partition=self.partition, timestamp_ms=timestamp_ms)
        self._log.writer().flush()
        return f.result().offset

    def append_batch(self, records, timestamp_ms=None):
        """Append `(key, value[, headers[, timestamp_ms]])` records in order; return the range
        of their offsets. On a cluster the records are not one atomic batch: another writer's
        records may interleave (then the range spans them too)."""
        if not isinstance(records, (list, tuple)):
            records = list(records)
        if not records:
            end = self.end_offset
            return range(end, end)
        # every record is checked before the first is sent: a bad one writes nothing
        batch = []
        for i, r in enumerate(records):
            if not isinstance(r, (tuple, list)) or not 2 <= len(r) <= 4:
                raise InvalidArgumentError(f"record {i}: each record must be (key, value), (key, value, headers) "
                                           f"or (key, value, headers, timestamp_ms), got {r!r:.80}")
            for what, x in (("key", r[0]), ("value", r[1])):
                if not isinstance(x, (bytes, bytearray, memoryview, type(None))):
                    raise InvalidTypeError(
                        f"record {i}: {what} must be bytes or None, got {type(x).__name__} {x!r:.60}"
                        + (" (encode it, or give the producer a serializer)" if isinstance(x, str) else ""))
            h = r[2] if len(r) > 2 else None
            if h:
                try:
                    h = _producer.check_headers(h)
                except InvalidTypeError as e:
                    raise InvalidTypeError(f"record {i}: {e}") from None
            ts = r[3] if len(r) > 3 else timestamp_ms
            if ts is not None and (type(ts) is not int or not 0 <= ts < 2**63):
                raise InvalidArgumentError(f"record {i}: timestamp_ms must be an int in [0, 2**63), got {ts!r}")
            batch.append((r[0], r[1], h or None, ts))
        p = self._log.writer()
        futs = [p.send(self.topic, value=v, key=k, headers=h, partition=self.partition, timestamp_ms=ts)
                for k, v, h, ts in batch]
        p.flush()
        offs = [f.result().offset for f in futs]
        return range(min(offs), max(offs) + 1)

    def read(self, offset, max_records=500):
        """Records from `offset` on (at most `max_records`); [] at the end of the log.
        OffsetOutOfRangeError below the start offset or past the end."""
        if type(offset) is not int or offset < 0:
            raise InvalidArgumentError(f"offset must be an int >= 0, got {offset!r}")
        if type(max_records) is not int or max_records < 1:
            raise InvalidArgumentError(f"max_records must be an int >= 1, got {max_records!r}")
        lo, hi = self._log.watermarks(self.tp)
        if offset < lo or offset > hi:
            raise OffsetOutOfRangeError(
                f"offset {offset} is out of range for {self.topic}[{self.partition}]: valid offsets are {lo}..{hi}")
        if offset == hi:
            return []
        log = self._log
        with log.reader_lock:
            c = log.reader()
            c.assign([ck().TopicPartition(self.topic, self.partition, offset)])
            out = []
            deadline = time.monotonic() + log.timeout
            try:
                while len(out) < max_records:
                    msgs = c.consume(max_records - len(out), 0)
                    if not msgs:
                        m = c.poll(0.2)
                        msgs = [m] if m is not None else []
                    eof = any(m.error() is not None and m.error().code() == ck().KafkaError._PARTITION_EOF
                              for m in msgs)
                    out.extend(r for r in records_from(msgs) if r.offset >= offset)
                    if eof or (out and out[-1].offset >= hi - 1):
                        break
                    if time.monotonic() > deadline:
                        raise KafkaTimeoutError(f"read of {self.topic}[{self.partition}] from {offset}: "
                                                f"no records within {log.timeout} s")
            finally:
                c.unassign()
        return out[:max_records]

    def offset_for_time(self, timestamp_ms):
        """The first offset whose timestamp is >= `timestamp_ms`, or None."""
        if type(timestamp_ms) is not int:
            raise InvalidArgumentError(f"timestamp_ms must be an int (ms since the epoch), got {timestamp_ms!r}")
        return self._log.offsets_for_times({self.tp: timestamp_ms})[self.tp]

    def delete_records(self, before_offset):
        """Move the log start offset to `before_offset` (Kafka's DeleteRecords); return the new
        start offset. OffsetOutOfRangeError past the end offset."""
        if type(before_offset) is not int or before_offset < 0:
            raise InvalidArgumentError(f"before_offset must be an int >= 0, got {before_offset!r}")
        lo, hi = self._log.watermarks(self.tp)
        if before_offset > hi:
            raise OffsetOutOfRangeError(
                f"delete_records({before_offset}) on {self.topic}[{self.partition}]: past the end offset {hi}")
        if before_offset <= lo:
            return lo
        log = self._log
        req = ck().TopicPartition(self.topic, self.partition, before_offset)
        res = log.admin_results(log.admin.delete_records([req], operation_timeout=log.timeout), "delete_records")
        return next(iter(res.values())).low_watermark

    def check(self, deep=False):
        raise unsupported("Partition.check()", "the broker checks its segments itself (log recovery)")
