"""The `eventlog` command line: inspect, produce, consume, administer and benchmark a log
directory (the broker-less counterpart of kafka-topics.sh, kafka-console-producer/consumer,
kafka-consumer-groups.sh, kcat and kafka-*-perf-test).

    eventlog --dir data topics
    eventlog --dir data topics create orders --partitions 4 --retention 7d
    printf 'k1\\thello\\n' | eventlog --dir data produce orders --key-separator '\\t'
    eventlog --dir data consume orders --from-beginning --format '%k %v %o'

Owns argument parsing, the directory (`--dir` or `EVENTLOG_DIR`), and turning every error
into one line on stderr with exit status 2 (usage) or 1 (failure). The commands themselves
live in `_cli_*.py`. Rules: stdout carries only the requested output (tables, or JSON with
`--json`); diagnostics, summaries and progress bars go to stderr, and progress bars and
colour appear only on a terminal. Nothing here writes to the log except through the public
API, apart from `verify --repair`, which cuts damaged bytes under the partition's append lock.
"""
import argparse
import os
import sys

from eventlog.cli import util as u
from eventlog._os.fs import storage_error
from eventlog.storage.names import TOPIC_NAME_RULE
from eventlog.errors import EventLogError, InvalidArgumentError, UnknownTopicError

ENV_DIR = "EVENTLOG_DIR"


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (exit 2) instead of usage + error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Deprecated(argparse.Action):
    """An old spelling of an option: works, with a warning on stderr naming the new one."""

    def __init__(self, *a, instead, **kw):
        self.instead = instead
        super().__init__(*a, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stderr.write(f"eventlog: warning: {option_string} is deprecated; use {self.instead}\n")
        setattr(namespace, self.dest, values)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=32, width=min(100, max(60, _term_width())))


def _term_width():
    import shutil
    return shutil.get_terminal_size((100, 20)).columns


class Context:
    """What every command gets: the parsed arguments, the log directory, styles for stdout
    and stderr, and the log itself (opened on first use)."""

    def __init__(self, args):
        self.args = args
        self.dir = getattr(args, "dir", None) or os.environ.get(ENV_DIR) or None
        mode = getattr(args, "color", "auto") or "auto"
        self.out = sys.stdout
        self.err = sys.stderr
        self.style = u.Style(u.colour_wanted(sys.stdout, mode))
        self.estyle = u.Style(u.colour_wanted(sys.stderr, mode))
        self.json = bool(getattr(args, "json", False))
        self._log = None

    def is_kafka(self):
        """--dir names a Kafka cluster (kafka://host:port,...), not a directory."""
        return bool(self.dir) and str(self.dir).lower().startswith("kafka://")

    def require_dir(self):
        if not self.dir:
            raise u.UsageError(f"no log directory: pass --dir DIR or set {ENV_DIR}")
        if self.is_kafka():
            return self.dir
        from eventlog.log import check_location
        try:
            return os.path.abspath(check_location(self.dir))  # a URL is refused, not made a path
        except InvalidArgumentError as e:
            raise u.UsageError(f"--dir/{ENV_DIR}: {e}") from None

    def log(self, create=False):
        """The Log at --dir. Unless `create`, the directory must already be an eventlog
        directory: reading commands never create one by accident (a typo in --dir)."""
        if self._log is not None:
            return self._log
        path = self.require_dir()
        if self.is_kafka():
            import eventlog
            self._log = eventlog.open(path)
            return self._log
        if not create:
            if os.path.lexists(path) and not os.path.isdir(path):
                raise u.CliError(f"no eventlog directory at {path}: it is a file, not a directory "
                                 f"(check --dir/{ENV_DIR})")
            if not os.path.isdir(path):
                raise u.CliError(f"no eventlog directory at {path}: it does not exist (check --dir/"
                                 f"{ENV_DIR}; 'eventlog --dir {self.dir} topics create NAME' makes one)")
            if not os.path.exists(os.path.join(path, "eventlog.json")):
                raise u.CliError(f"{path} is not an eventlog directory (it has no eventlog.json); "
                                 f"check --dir/{ENV_DIR}")
        import eventlog
        self._log = eventlog.open(path)
        return self._log

    def topic(self, name):
        """The topic `name`, with a CLI-worded error when it does not exist."""
        log = self.log()
        try:
            return log.topic(name)
        except UnknownTopicError:
            have = log.topics()
            known = f" (topics: {', '.join(have[:10])}{', ...' if len(have) > 10 else ''})" if have else " (there are no topics)"
            raise u.CliError(f"unknown topic {name!r} in {log.path}{known}; create it with "
                             f"'eventlog topics create {name}'") from None

    def close(self):
        if self._log is not None:
            try:
                self._log.close()
            except Exception:
                pass
            self._log = None

    def note(self, text):
        """A diagnostic line on stderr."""
        self.err.write(text + "\n")
        self.err.flush()

    def warn(self, text):
        self.err.write(self.estyle.yellow("warning: ") + text + "\n")
        self.err.flush()


# -- the parser ------------------------------------------------------------------------------------

EPILOG = """\
Durations: 500ms, 30s, 15m, 1h, 7d, 2w, 1h30m.  Sizes: 1048576, 512KiB, 64MiB, 10GiB.
Every reading command takes --json (one JSON document; JSON lines for consume and dump).
Exit status: 0 success, 1 failure, 2 bad usage.  Docs: docs/cli.md.
"""


def _common(json=False):
    """Options accepted both before and after the command name."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--dir", "-d", metavar="DIR", default=argparse.SUPPRESS,
                   help=f"the log directory (default: ${ENV_DIR})")
    p.add_argument("--color", choices=("auto", "always", "never"), default=argparse.SUPPRESS,
                   help="colour output: auto (only on a terminal; honours NO_COLOR), always, never")
    if json:
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="machine-readable JSON output")
    return p


def build_parser():
    from eventlog.cli import check as _cli_check
    from eventlog.cli import groups as _cli_groups
    from eventlog.cli import io as _cli_io
    from eventlog.cli import perf as _cli_perf
    from eventlog.cli import topics as _cli_topics
    from eventlog.cli import transactions as _cli_txn

    common = _common()
    common_json = _common(json=True)
    parser = _Parser(
        prog="eventlog", formatter_class=_Formatter, parents=[common],
        description="Inspect, produce, consume, administer and benchmark an eventlog directory.",
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"eventlog {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def cmd(parent, name, help, func, json=True, **kw):
        p = parent.add_parser(name, help=help, description=kw.pop("description", help),
                              formatter_class=_Formatter, parents=[common_json if json else common], **kw)
        p.set_defaults(func=func)
        return p

    # topics ---------------------------------------------------------------------------------
    tp = cmd(sub, "topics", "list, create, describe, alter and delete topics", _cli_topics.cmd_list,
             description="Topics of the log. Without a subcommand: the list of topics (like "
                         "'topics list').",
             epilog="examples:\n  eventlog --dir data topics\n"
                    "  eventlog --dir data topics create orders --partitions 4 --retention 7d\n"
                    "  eventlog --dir data topics describe orders\n"
                    "  eventlog --dir data topics alter orders --retention 1h\n"
                    "  eventlog --dir data topics delete orders --yes")
    tsub = tp.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    cmd(tsub, "list", "table of topics: partitions, records, size, cleanup policy, retention",
        _cli_topics.cmd_list)
    p = cmd(tsub, "create", "create a topic", _cli_topics.cmd_create, json=False,
            epilog="example:\n  eventlog --dir data topics create users --partitions 4 --compact "
                   "--config min.compaction.lag.ms=1h")
    p.add_argument("topic", help=f"name: {TOPIC_NAME_RULE}")
    p.add_argument("--partitions", "-p", type=u.positive_int_arg, default=1, metavar="N",
                   help="number of partitions (default 1)")
    p.add_argument("--if-not-exists", action="store_true", help="succeed quietly if the topic exists")
    p.add_argument("--allow-many-partitions", action="store_true",
                   help=f"allow more than {_cli_topics.MANY_PARTITIONS:,} partitions (each is a directory)")
    _cli_topics.add_setting_options(p)
    p = cmd(tsub, "describe", "a topic's settings and, per partition, offsets, segments, size, last write",
            _cli_topics.cmd_describe)
    p.add_argument("topic")
    p = cmd(tsub, "alter", "change settings of a topic (partitions can only grow)",
            _cli_topics.cmd_alter, json=False)
    p.add_argument("topic")
    p.add_argument("--partitions", "-p", type=u.positive_int_arg, metavar="N", help="grow to this many partitions")
    p.add_argument("--allow-many-partitions", action="store_true",
                   help=f"allow more than {_cli_topics.MANY_PARTITIONS:,} partitions (each is a directory)")
    _cli_topics.add_setting_options(p)
    p = cmd(tsub, "delete", "delete a topic and all its records (needs --yes)", _cli_topics.cmd_delete, json=False)
    p.add_argument("topic")
    p.add_argument("--yes", "-y", action="store_true", help="really delete it")
    p.add_argument("--if-exists", action="store_true", help="succeed quietly if there is no such topic")

    # produce --------------------------------------------------------------------------------
    p = cmd(sub, "produce", "write records read from stdin, one per line", _cli_io.cmd_produce, json=False,
            description="Write records to a topic, one per line of stdin (like kafka-console-producer "
                        "and 'kcat -P'). A bad line (malformed JSON, no key separator, too large) "
                        "stops the command with exit status 1, naming the line: the records of "
                        "the lines before it are written, nothing from the bad line on is "
                        "(--all-or-nothing: nothing at all).",
            epilog="examples:\n  printf 'k1\\thello\\nk2\\tworld\\n' | eventlog --dir data produce orders "
                   "--key-separator '\\t'\n"
                   "  eventlog --dir data produce orders --json < events.jsonl\n"
                   "      (a line: {\"key\": \"k1\", \"value\": \"hello\", \"headers\": {\"trace\": \"1\"}})")
    p.add_argument("topic")
    p.add_argument("--key-separator", "-K", metavar="SEP",
                   help="split each line at the first SEP into key and value (escapes such as '\\t' work); "
                        "a line without SEP is an error")
    p.add_argument("--key", "-k", metavar="KEY", help="the same key for every record")
    p.add_argument("--json", action="store_true",
                   help="each line is a JSON object: key, value (strings, null, or any JSON, stored "
                        "as its text), key_b64/value_b64 (binary), headers ({name: value} or "
                        "[[name, value], ...]), partition, timestamp_ms")
    p.add_argument("--header", "-H", action="append", default=[], metavar="NAME=VALUE",
                   help="add this header to every record (repeatable)")
    p.add_argument("--partition", "-p", type=u.nonneg_int_arg, metavar="N",
                   help="write every record to this partition")
    p.add_argument("-P", dest="partition", type=u.nonneg_int_arg, action=_Deprecated, help=argparse.SUPPRESS,
                   instead="-p/--partition")
    p.add_argument("--all-or-nothing", action="store_true",
                   help="read and check all of stdin first; write nothing if any line is bad")
    p.add_argument("--linger-ms", type=u.nonneg_int_arg, default=5, help="producer linger (default 5)")
    p.add_argument("--fsync", choices=("never", "batch"), help="override the topic's fsync setting")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="say how many records were written (on stderr; automatic on a terminal)")

    # consume --------------------------------------------------------------------------------
    p = cmd(sub, "consume", "print records of a topic", _cli_io.cmd_consume,
            description="Print records of a topic (like kafka-console-consumer and 'kcat -C'). "
                        "Without --follow it stops at the end of the log; with --follow it waits "
                        "for more until Ctrl-C (or SIGTERM). Starts at the end unless "
                        "--from-beginning, --offset or --since; with --group it resumes from the "
                        "group's committed offsets and commits what it printed.",
            epilog="format codes: %k key, %v (or %s) value, %o offset, %p partition, %t topic, %T timestamp (ms),\n"
                   "  %d date-time, %h headers (name=value,...), %K key size, %S value size, %% a '%'.\n"
                   "  Escapes \\t \\n work; a newline ends each record unless the format ends with one.\n"
                   "examples:\n"
                   "  eventlog --dir data consume orders --from-beginning --format '%k %v %o %T'\n"
                   "  eventlog --dir data consume orders --from-beginning --follow --group billing\n"
                   "  eventlog --dir data consume orders --offset 42 --partition 1 --max 10 --json")
    p.add_argument("topic")
    p.add_argument("--from-beginning", "-b", action="store_true", help="start at the oldest record")
    p.add_argument("--follow", "-f", action="store_true", help="keep waiting for new records")
    p.add_argument("--group", "-g", metavar="GROUP", help="consume as this consumer group and commit offsets")
    p.add_argument("--partition", "-p", type=u.nonneg_int_arg, action="append",
                   help="only this partition (repeatable)")
    p.add_argument("--offset", "-o", metavar="OFFSET",
                   help="start at OFFSET: a number, -N (N before the end), earliest (beginning), "
                        "latest (end), or s@MS (the first record at or after MS ms since the epoch)")
    p.add_argument("--since", metavar="WHEN",
                   help="start at the first record at or after WHEN: a date-time (2026-01-01T12:00) "
                        "or a duration ago (1h)")
    p.add_argument("--max", "-n", "-c", type=u.positive_int_arg, metavar="N", help="stop after N records")
    p.add_argument("--format", "-F", metavar="FMT", help="how to print each record (default '%%v')")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="with --group and no --follow: how long to wait to be assigned partitions (default 10)")

    # transactions ---------------------------------------------------------------------------
    xp = cmd(sub, "transactions", "list open transactions, abort a stuck one", _cli_txn.cmd_list,
             description="Transactions (docs/transactions.md). Without a subcommand: the open ones.",
             epilog="examples:\n  eventlog --dir data transactions\n  eventlog --dir data transactions list --all\n"
                    "  eventlog --dir data transactions abort enricher-1")
    xp.set_defaults(all=False)
    xsub = xp.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    p = cmd(xsub, "list", "table of open transactions: id, state, producer id/epoch, age, partitions",
            _cli_txn.cmd_list)
    p.add_argument("--all", action="store_true", help="every transactional id, also those with none open")
    p = cmd(xsub, "abort", "abort the open transaction of an id (fences its producer)", _cli_txn.cmd_abort,
            json=False)
    p.add_argument("transactional_id")

    # groups ---------------------------------------------------------------------------------
    gp = cmd(sub, "groups", "list, describe, reset and delete consumer groups", _cli_groups.cmd_list,
             description="Consumer groups. Without a subcommand: the list of groups.",
             epilog="examples:\n  eventlog --dir data groups\n  eventlog --dir data groups describe billing\n"
                    "  eventlog --dir data groups reset-offsets billing --to-earliest --topic orders --execute\n"
                    "  eventlog --dir data groups delete-offsets billing --topic orders\n"
                    "  eventlog --dir data groups delete billing")
    gsub = gp.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    cmd(gsub, "list", "table of groups: members, topics, committed partitions, lag", _cli_groups.cmd_list)
    p = cmd(gsub, "describe", "a group's members and, per partition, committed offset, end offset, lag, owner",
            _cli_groups.cmd_describe)
    p.add_argument("group")
    p = cmd(gsub, "reset-offsets", "move a group's committed offsets (a dry run unless --execute)",
            _cli_groups.cmd_reset,
            description="Move the committed offsets of a group. Shows the plan and changes nothing "
                        "unless --execute; refused while the group has live members (they are named).")
    p.add_argument("group")
    to = p.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-earliest", action="store_true", help="to each partition's start offset")
    to.add_argument("--to-latest", action="store_true", help="to each partition's end offset")
    to.add_argument("--to-datetime", type=u.datetime_arg, metavar="WHEN",
                    help="to the first record at or after WHEN (ISO 8601, local time unless a zone is given)")
    to.add_argument("--by-duration", type=u.duration_arg, metavar="DURATION",
                    help="to the first record at or after DURATION ago")
    to.add_argument("--to-offset", type=u.nonneg_int_arg, metavar="N", help="to offset N (clamped to the log)")
    to.add_argument("--shift-by", type=int, metavar="N", help="move the committed offset by N (may be negative)")
    p.add_argument("--topic", "-t", action="append", metavar="TOPIC[:P,...]",
                   help="only this topic (or these partitions of it); repeatable. Default: every "
                        "topic the group has committed offsets for")
    p.add_argument("--execute", action="store_true", help="apply the change (otherwise: a dry run)")
    p = cmd(gsub, "delete", "delete a group: its committed offsets and membership files",
            _cli_groups.cmd_delete,
            description="Delete consumer groups (their committed offsets and every group file), as "
                        "kafka-consumer-groups --delete. Refused while a group has live members.")
    p.add_argument("group", nargs="+")
    p = cmd(gsub, "delete-offsets", "delete a group's committed offsets of some topics",
            _cli_groups.cmd_delete_offsets,
            description="Delete the committed offsets a group has for the given topics (which need "
                        "not exist any more), as kafka-consumer-groups --delete-offsets. Its members "
                        "then start those topics from auto_offset_reset. Refused while the group "
                        "has live members.")
    p.add_argument("group")
    p.add_argument("--topic", "-t", action="append", required=True, metavar="TOPIC",
                   help="a topic whose offsets to delete; repeatable")

    # kcat -------------------------------------------------------------------------------------
    # listed for --help; its arguments are split off before argparse (see _split_kcat)
    cmd(sub, "kcat", "kcat's flags (-C/-P/-L/-G, -t, -p, -o, -e, -f, -J, ...) over a log directory",
        None, json=False, add_help=False)

    # dump / verify / maintain ------------------------------------------------------------------
    p = cmd(sub, "dump", "print the batches (and records) of a segment or index file", _cli_check.cmd_dump,
            description="Print the batches of a segment file (.log) and, with --records, their "
                        "records; or the entries of an .index/.timeindex file. For debugging: it "
                        "reads the file directly and reports damage instead of stopping at it.",
            epilog="example:\n  eventlog dump data/topics/orders/0/00000000000000000000.log --records")
    p.add_argument("file")
    p.add_argument("--records", "-r", action="store_true", help="also print every record")
    p.add_argument("--max-value", type=u.nonneg_int_arg, default=80, metavar="CHARS",
                   help="cut keys and values longer than this in the text output (default 80; 0: never)")
    p = cmd(sub, "verify", "check every batch CRC, offset sequence and index (--repair cuts damage)",
            _cli_check.cmd_verify,
            description="Check every segment of every partition: batch headers and CRCs, that base "
                        "offsets continue the sequence, and that the indexes agree with the log. "
                        "Exit status 1 if anything is wrong. --repair --yes cuts each damaged "
                        "segment back to its last valid batch and rebuilds indexes, holding the "
                        "partition's append lock (writers wait meanwhile).",
            epilog="examples:\n  eventlog --dir data verify\n  eventlog --dir data verify orders --repair --yes")
    p.add_argument("topics", nargs="*", metavar="TOPIC", help="only these topics (default: all)")
    p.add_argument("--deep", action="store_true", help="also decode every record (slower)")
    p.add_argument("--repair", action="store_true", help="cut damaged tails and rebuild indexes (needs --yes)")
    p.add_argument("--yes", "-y", action="store_true", help="with --repair: really change files")
    p.add_argument("--strict", action="store_true", help="exit status 1 for warnings too (torn tail, indexes)")
    p = cmd(sub, "maintain", "apply retention and compaction now and say what was done", _cli_check.cmd_maintain,
            description="Apply retention and compaction now to every partition (or those of the "
                        "given topics) and print, per partition, what was done. --json: "
                        '{"seconds": ..., "partitions": [{"topic", "partition", ...}]}.',
            epilog="examples:\n  eventlog --dir data maintain\n  eventlog --dir data maintain orders --json")
    p.add_argument("topics", nargs="*", metavar="TOPIC", help="only these topics (default: all)")

    # perf ----------------------------------------------------------------------------------------
    pp = cmd(sub, "perf", "benchmark producing or consuming (like kafka-*-perf-test)", None, json=False)
    psub = pp.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    psub.required = True
    p = cmd(psub, "produce", "send records as fast as possible; report records/s, MB/s, latency",
            _cli_perf.cmd_produce,
            epilog="example:\n  eventlog --dir data perf produce --records 1000000 --size 100")
    p.add_argument("--topic", "-t", default="perf-test", help="topic (created if missing; default perf-test)")
    p.add_argument("--records", "-n", type=u.positive_int_arg, default=100_000, help="how many (default 100000)")
    p.add_argument("--size", "-s", type=u.size_arg, default=100, help="value size (default 100 bytes)")
    p.add_argument("--keys", type=u.nonneg_int_arg, default=0, metavar="N",
                   help="cycle through N distinct keys (default 0: no keys)")
    p.add_argument("--partitions", "-p", type=u.positive_int_arg, default=1,
                   help="partitions of the topic if it is created (default 1)")
    p.add_argument("--batch-size", type=u.size_arg, default=16384, help="producer batch_size (default 16384)")
    p.add_argument("--linger-ms", type=u.nonneg_int_arg, default=5, help="producer linger_ms (default 5)")
    p.add_argument("--fsync", choices=("never", "batch"), help="producer fsync (default: the topic's)")
    p.add_argument("--compression", choices=("none", "zstd"), help="compression of the topic if it is created")
    p = cmd(psub, "consume", "read records as fast as possible; report records/s, MB/s, poll latency",
            _cli_perf.cmd_consume,
            epilog="example:\n  eventlog --dir data perf consume --records 1000000")
    p.add_argument("--topic", "-t", default="perf-test", help="topic (default perf-test)")
    p.add_argument("--records", "-n", type=u.positive_int_arg,
                   help="how many (default: everything from the beginning to the end)")
    p.add_argument("--max-poll-records", type=u.positive_int_arg, default=500, help="per poll (default 500)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="give up when no record arrives for this long (default 10)")
    from eventlog.cli import mirror as _cli_mirror
    _cli_mirror.add_parser(sub, cmd)
    return parser


def _version():
    try:
        from eventlog import __version__
        return __version__
    except ImportError:
        return "?"


def _split_kcat(argv):
    """(global options, kcat arguments) when the command is `kcat`, else None. kcat's flags
    are parsed by kcat's own rules (getopt), not argparse, so they are split off first."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "kcat":
            return argv[:i], argv[i + 1:]
        if a in ("--dir", "-d", "--color"):
            i += 2
        elif a.startswith(("--dir=", "--color=")) or (a.startswith("-d") and len(a) > 2):
            i += 1
        else:
            return None
    return None


def main(argv=None):
    """Run the command line; returns the exit status (0, 1 failure, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    kcat = _split_kcat(argv)
    try:
        args = parser.parse_args(kcat[0] + ["kcat"] if kcat else argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    ctx = Context(args)
    prog = "eventlog"
    try:
        if kcat:
            from eventlog.cli import kcat as _cli_kcat
            return _cli_kcat.run(ctx, kcat[1]) or 0
        return args.func(ctx, args) or 0
    except u.CliError as e:
        ctx.err.write(f"{prog}: {ctx.estyle.red('error:')} {e}\n")
        return e.exit_code
    except EventLogError as e:
        ctx.err.write(f"{prog}: {ctx.estyle.red('error:')} {_one_line(e)}\n")
        return 1
    except KeyboardInterrupt:
        ctx.err.write("\n")
        return 130
    except BrokenPipeError:
        u.quiet_stdout()
        return 0
    except OSError as e:  # from the CLI's own file access (dump, verify): worded as the library's
        wrapped = storage_error(e, f"run 'eventlog {args.command}'", getattr(ctx, "dir", None))
        ctx.err.write(f"{prog}: {ctx.estyle.red('error:')} {_one_line(wrapped or _os_message(e))}\n")
        return 1
    except Exception as e:  # a bug: still one line, with a way to see more
        if os.environ.get("EVENTLOG_DEBUG"):
            raise
        ctx.err.write(f"{prog}: internal error: {type(e).__name__}: {_one_line(e)} "
                      "(set EVENTLOG_DEBUG=1 to see the traceback)\n")
        return 1
    finally:
        ctx.close()
        try:
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            u.quiet_stdout()


def _os_message(e):
    """An OSError as "what: path" instead of Python's "[Errno N] what: 'path'"."""
    if e.strerror:
        where = f": {os.fsdecode(e.filename)}" if e.filename is not None else ""
        return f"{e.strerror}{where}"
    return str(e)


def _one_line(e):
    return " ".join(str(e).split()) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
