"""librdkafka-shaped statistics for `stats_cb`, emitted from `poll()` (and the calls that serve
events) every ``statistics.interval.ms`` (0, the default: never).

The JSON has the fields dashboards read from librdkafka's STATISTICS.md: client ``name``,
``client_id``, ``type``, ``ts``/``time``, message counts (``txmsgs``/``txmsg_bytes``,
``rxmsgs``/``rxmsg_bytes``), ``msg_cnt``, an empty ``brokers`` map (there is no broker), and
``topics`` -> ``partitions`` with per-partition ``txmsgs``, ``txbytes``, ``rxmsgs``,
``rxbytes``, ``lo_offset``, ``hi_offset``, ``app_offset``, ``committed_offset``,
``stored_offset`` and ``consumer_lag`` (-1 where unknown). Callbacks run on the polling thread.
"""
from __future__ import annotations

import collections
import itertools
import json
import time

_ids = itertools.count()


class Stats:
    """Counters of one client and the timer of its statistics callback."""

    def __init__(self, cb, interval_ms, client_id, client_type):
        self.cb = cb if interval_ms and interval_ms > 0 else None
        self.interval = (interval_ms or 0) / 1000.0
        self.client_id = client_id
        self.type = client_type
        self.name = f"{client_id}#{client_type}-{next(_ids) + 1}"
        self.start = time.monotonic()
        self.next_due = self.start + self.interval
        self.tx = collections.Counter()      # tp -> messages
        self.txb = collections.Counter()     # tp -> bytes
        self.rx = collections.Counter()
        self.rxb = collections.Counter()

    @property
    def enabled(self):
        return self.cb is not None

    def due_in(self):
        """Seconds until the next emission (a large number when disabled)."""
        return 3600.0 if self.cb is None else max(0.0, self.next_due - time.monotonic())

    def sent(self, tp, nbytes):
        self.tx[tp] += 1
        self.txb[tp] += nbytes

    def received(self, tp, nbytes):
        self.rx[tp] += 1
        self.rxb[tp] += nbytes

    def maybe_emit(self, partitions, msg_cnt=0):
        """Call the callback if due; `partitions()` gives {tp: {field: value}} of the
        partitions to report (offsets). Returns 1 if it was called, else 0."""
        if self.cb is None or time.monotonic() < self.next_due:
            return 0
        now = time.monotonic()
        self.next_due = now + self.interval
        self.cb(self.to_json(partitions(), msg_cnt))
        return 1

    def to_json(self, offsets, msg_cnt=0):
        topics = {}
        tps = set(offsets) | set(self.tx) | set(self.rx)
        for tp in sorted(tps):
            o = offsets.get(tp, {})
            lo, hi = o.get("lo_offset", -1), o.get("hi_offset", -1)
            app, committed = o.get("app_offset", -1001), o.get("committed_offset", -1001)
            base = app if app >= 0 else committed
            lag = hi - base if hi >= 0 and base >= 0 else -1
            t = topics.setdefault(tp.topic, {"topic": tp.topic, "age": 0, "metadata_age": 0,
                                             "partitions": {}})
            t["partitions"][str(tp.partition)] = {
                "partition": tp.partition, "broker": -1, "leader": -1, "desired": True,
                "msgq_cnt": 0, "msgq_bytes": 0, "xmit_msgq_cnt": 0, "xmit_msgq_bytes": 0,
                "txmsgs": self.tx[tp], "txbytes": self.txb[tp], "rxmsgs": self.rx[tp],
                "rxbytes": self.rxb[tp], "msgs": self.tx[tp] + self.rx[tp],
                "lo_offset": lo, "hi_offset": hi, "ls_offset": hi, "app_offset": app,
                "committed_offset": committed, "stored_offset": o.get("stored_offset", -1001),
                "next_offset": o.get("app_offset", -1001), "consumer_lag": lag,
                "consumer_lag_stored": lag, "fetch_state": "active" if "app_offset" in o else "none",
            }
        now = time.time()
        doc = {
            "name": self.name, "client_id": self.client_id, "type": self.type,
            "ts": int(time.monotonic() * 1e6), "time": int(now),
            "age": int((time.monotonic() - self.start) * 1e6), "replyq": 0,
            "msg_cnt": msg_cnt, "msg_size": 0, "msg_max": 100000, "msg_size_max": 1073741824,
            "tx": 0, "tx_bytes": 0, "rx": 0, "rx_bytes": 0,
            "txmsgs": sum(self.tx.values()), "txmsg_bytes": sum(self.txb.values()),
            "rxmsgs": sum(self.rx.values()), "rxmsg_bytes": sum(self.rxb.values()),
            "simple_cnt": 0, "metadata_cache_cnt": len(topics), "brokers": {}, "topics": topics,
        }
        return json.dumps(doc)
