"""`eventlog transactions`: list transactional ids and their open transactions, abort a
stuck one. Uses the coordinator's public API (`log.transaction_coordinator()`: `list()`,
`abort(id)`); docs/transactions.md says what the states mean.

`abort` fences the id's producer (its next send or commit raises ProducerFencedError) and
writes abort markers; a transaction already decided to commit (PREPARE_COMMIT) is rolled
forward instead, since committing is then the only all-or-nothing end.
"""
import time

from eventlog.cli import util as u


def _age(st):
    if st["state"] not in ("ONGOING", "PREPARE_COMMIT", "PREPARE_ABORT") or not st.get("started_ms"):
        return "-"
    return f"{max(0, time.time() * 1000 - st['started_ms']) / 1000:.1f}s"


def cmd_list(ctx, args):
    coord = ctx.log().transaction_coordinator()
    docs = coord.list() if args.all else coord.open_transactions()
    if ctx.json:
        u.print_json(docs)
        return 0
    if not docs:
        ctx.note("no open transactions" + ("" if args.all else " (--all lists every transactional id)"))
        return 0
    u.print_table([[d["transactional_id"], d["state"], d["producer_id"], d["producer_epoch"], _age(d),
                    f"{d['transaction_timeout_ms'] / 1000:g}s",
                    ",".join(f"{t}[{p}]" for t, p in d["partitions"]) or "-",
                    d["offsets"]["group"] if d.get("offsets") else "-"] for d in docs],
                  [("TRANSACTIONAL ID", "<"), ("STATE", "<"), ("PRODUCER ID", ">"), ("EPOCH", ">"),
                   ("AGE", ">"), ("TIMEOUT", ">"), ("PARTITIONS", "<"), ("GROUP", "<")], style=ctx.style)
    return 0


def cmd_abort(ctx, args):
    coord = ctx.log().transaction_coordinator()
    if args.transactional_id not in {d["transactional_id"] for d in coord.list()}:
        raise u.CliError(f"unknown transactional id {args.transactional_id!r} in {ctx.log().path}")
    state = coord.abort(args.transactional_id)
    if ctx.json:
        u.print_json({"transactional_id": args.transactional_id, "state": state})
    else:
        print(f"{args.transactional_id}: {state}")
    return 0
