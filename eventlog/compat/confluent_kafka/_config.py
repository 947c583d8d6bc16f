"""Configuration dicts: merging `default.topic.config`, typed reads, the network-only keys every
client accepts and ignores, and opening the log named by ``bootstrap.servers``.
Errors are librdkafka's: `KafkaException(_INVALID_ARG)` naming the property."""
from __future__ import annotations

from eventlog.compat import _common
from eventlog.compat.confluent_kafka._types import KafkaError, KafkaException


_NETWORK_COMMON = {
    "security.protocol", "ssl.", "sasl.", "socket.", "api.version.", "broker.", "reconnect.",
    "retry.backoff.ms", "retry.backoff.max.ms", "request.timeout.ms", "statistics.interval.ms",
    "debug", "log_level", "log.", "enable.ssl.certificate.verification", "client.dns.lookup",
    "metadata.", "topic.metadata.", "connections.max.idle.ms", "max.in.flight.requests.per.connection",
    "max.in.flight", "receive.message.max.bytes", "message.copy.max.bytes", "internal.termination.signal",
    "client.rack", "client.software.name", "client.software.version", "oauthbearer_token_refresh_cb",
    "enable.sasl.oauthbearer.unsecure.jwt", "builtin.features", "plugin.library.paths",
    "resolve_cb", "connect_cb", "closesocket_cb", "open_cb", "background_event_cb", "opaque",
    "enable.random.seed", "enable.metrics.push", "allow.auto.create.topics", "https.", "ssl_key",
    "bootstrap.servers", "metadata.broker.list", "client.id", "error_cb", "throttle_cb", "stats_cb",
    "logger", "default.topic.config", "group.protocol.type", "api.version.request",
}
_REFUSED_COMMON = {
    "test.mock.num.brokers": "it starts librdkafka's mock cluster; eventlog is the broker here",
    "test.mock.broker.rtt": "mock cluster setting",
}


def _merge_conf(conf, kwargs, what):
    if conf is None:
        if not kwargs:
            raise TypeError("expected configuration dict")
        conf = {}
    elif not isinstance(conf, dict):
        raise TypeError(f"expected configuration dict, got {type(conf).__name__}")
    c = dict(conf)
    c.update(kwargs)
    dtc = c.pop("default.topic.config", None)
    if isinstance(dtc, dict):
        for k, v in dtc.items():
            c.setdefault(k, v)
    return c


def _cfg_error(e):
    return KafkaException(KafkaError(KafkaError._INVALID_ARG, str(e)))


def _int(c, key, default):
    v = c.get(key, default)
    try:
        return int(v)
    except (TypeError, ValueError):
        raise _cfg_error(f'Invalid value "{v}" for configuration property "{key}"') from None


def _bool(c, key, default):
    v = c.get(key, default)
    if isinstance(v, bool):
        return v
    s = str(v).lower()
    if s in ("true", "1", "t", "yes"):
        return True
    if s in ("false", "0", "f", "no"):
        return False
    raise _cfg_error(f'Invalid value "{v}" for configuration property "{key}"')


def _open(conf, what):
    servers = conf.get("bootstrap.servers", conf.get("metadata.broker.list"))
    try:
        return _common.open_log(servers)
    except _common.NoLogConfigured as e:
        raise KafkaException(KafkaError(KafkaError._INVALID_ARG, f"{what}: {e}")) from None


def _bytes(x, what):
    if x is None or type(x) is bytes:
        return x
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise TypeError(f"{what} must be str, bytes or None, not {type(x).__name__}")


def _headers(h):
    if h is None:
        return None
    items = h.items() if isinstance(h, dict) else h
    out = []
    for item in items:
        try:
            k, v = item
        except (TypeError, ValueError):
            raise TypeError("Headers are expected to be a list of (key, value) tuples or a dict") from None
        if not isinstance(k, str):
            k = str(k)  # as confluent-kafka, which converts the key with str()
        out.append((k, _bytes(v, "Header value")))
    return out or None


# -- producer -------------------------------------------------------------------------------------
