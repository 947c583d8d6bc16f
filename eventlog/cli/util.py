"""Shared helpers of the command line: the CLI's errors, parsing of human input (durations,
sizes, date-times, escapes), and output for people and programs (tables, human sizes and
durations, colour, JSON, progress bars).

Rules kept here: every parser either returns a value or raises `argparse.ArgumentTypeError`
with a message that says what is allowed (argparse turns it into a one-line usage error,
exit 2); output for people goes to stdout, diagnostics to stderr; colour and progress bars
appear only when the stream they go to is a terminal, so piped output is plain and has
nothing extra in it.
"""
import argparse
import base64
import datetime as _dt
import json
import math
import os
import re
import shutil
import sys
import time


class CliError(Exception):
    """A failure the CLI reports as one line on stderr, exit status 1."""

    exit_code = 1


class UsageError(CliError):
    """Bad command-line input found after parsing: one line on stderr, exit status 2."""

    exit_code = 2


# -- parsing human input -------------------------------------------------------------------

_DURATION_UNITS = {"ms": 1, "s": 1000, "sec": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000,
                   "d": 86_400_000, "w": 7 * 86_400_000}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|sec|min|s|m|h|d|w)")
_NONE_WORDS = ("none", "forever", "unlimited", "infinite", "-1")
DURATION_HELP = "a duration such as 500ms, 30s, 15m, 1h, 7d, 2w or 1h30m"
SIZE_HELP = "a size such as 1048576, 512KiB, 64MiB or 10GiB (K/M/G are 1024-based; KB/MB/GB 1000-based)"


def parse_duration_ms(text, allow_none=False):
    """Milliseconds of a duration like '500ms', '30s', '15m', '1h', '7d', '2w', '1h30m'.
    With `allow_none`, 'none'/'forever'/'-1' give None (no limit)."""
    t = str(text).strip().lower().replace(" ", "")
    if allow_none and t in _NONE_WORDS:
        return None
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not t or pos != len(t):
        extra = " (or 'none' for no limit)" if allow_none else ""
        hint = "; a unit is required" if t.isdigit() else ""
        raise argparse.ArgumentTypeError(f"bad duration {text!r}: use {DURATION_HELP}{extra}{hint}")
    return int(round(total))


def duration_arg(text):
    return parse_duration_ms(text)


def duration_or_none_arg(text):
    return parse_duration_ms(text, allow_none=True)


_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)", re.I)
_SIZE_POW = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text, allow_none=False):
    """Bytes of a size like '1048576', '512KiB', '64MiB', '10GiB', '1.5G', '100MB'."""
    t = str(text).strip()
    if allow_none and t.lower() in _NONE_WORDS:
        return None
    m = _SIZE_RE.fullmatch(t)
    if not m or (m.group(3) and not m.group(2)):
        extra = " (or 'none' for no limit)" if allow_none else ""
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use {SIZE_HELP}{extra}")
    num, prefix, binary, b = m.groups()
    prefix = prefix.lower()
    # "10KB" is decimal, "10KiB" and a bare "10K" are binary (as most people mean it)
    base = 1000 if (prefix and b and not binary) else 1024
    return int(float(num) * base ** _SIZE_POW[prefix])


def size_arg(text):
    return parse_size(text)


def size_or_none_arg(text):
    return parse_size(text, allow_none=True)


def positive_int_arg(text):
    try:
        n = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        n = -1
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return n


def nonneg_int_arg(text):
    try:
        n = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return n


def parse_datetime_ms(text):
    """Milliseconds since the epoch of an ISO 8601 date-time ('2026-01-01', '2026-01-01T12:00',
    '2026-01-01T12:00:00Z', '...+02:00'; without a zone: local time), or of a plain integer
    (already ms since the epoch)."""
    t = str(text).strip()
    if re.fullmatch(r"\d{10,}", t):
        return int(t)
    try:
        d = _dt.datetime.fromisoformat(t.replace("z", "Z").replace(" ", "T", 1) if "T" not in t else t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad date-time {text!r}: use ISO 8601 such as 2026-01-01T00:00 (local time), "
            "2026-01-01T00:00:00Z (UTC) or milliseconds since the epoch") from None
    if d.tzinfo is None:
        d = d.astimezone()  # local time, as people type it
    return int(d.timestamp() * 1000)


def datetime_arg(text):
    return parse_datetime_ms(text)


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "0": "\0", "\\": "\\", "a": "\a", "e": "\x1b"}


def unescape(text):
    r"""Interpret backslash escapes as typed on a shell command line: \t \n \r \0 \\ \xHH."""
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n in _ESCAPES:
                out.append(_ESCAPES[n])
                i += 2
                continue
            if n == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2:i + 4]):
                out.append(chr(int(text[i + 2:i + 4], 16)))
                i += 4
                continue
        out.append(c)
        i += 1
    return "".join(out)


# -- human output ---------------------------------------------------------------------------

def human_size(n):
    if n is None:
        return "none"
    n = int(n)
    if abs(n) < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024.0
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if abs(n) < 100 else f"{n:.0f} {unit}"
    return f"{n} B"


def human_duration_ms(ms, parts=None):
    """'500ms', '30s', '1h30m', '7d' - in the syntax `parse_duration_ms` reads back. Exact
    unless `parts` is given (then rounded down to that many units from the largest)."""
    if ms is None:
        return "none"
    ms = int(ms)
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if parts is not None and len(out) >= parts:
            break
        if ms >= size:
            q, ms = divmod(ms, size)
            out.append(f"{q}{unit}")
        elif out:
            out.append("")  # a zero unit still counts, so '1d0h5m' is shown as '1d'
    return sign + "".join(out)


def human_seconds(s):
    if s < 1:
        return f"{s * 1000:.0f}ms" if s >= 0.001 else f"{s * 1e6:.0f}µs"
    if s < 60:
        return f"{s:.1f}s"
    return human_duration_ms(int(s * 1000))


def human_time(ms):
    """A local date-time for a ms timestamp ('2026-01-01 12:00:05'), or '-'."""
    if ms is None:
        return "-"
    try:
        return _dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return str(ms)


def iso_time(ms):
    try:
        return _dt.datetime.fromtimestamp(ms / 1000).astimezone().isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return str(ms)


def human_age(ms, now_ms=None):
    if ms is None:
        return "-"
    now_ms = now_ms if now_ms is not None else time.time() * 1000
    d = int(now_ms - ms)
    if d < 0:
        return "in the future"
    if d < 1000:
        return "just now"
    return human_duration_ms(d - d % 1000, parts=1) + " ago"


def human_count(n):
    return f"{n:,}" if isinstance(n, int) else str(n)


def plural(n, word, words=None):
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


# -- terminals, colour, JSON -------------------------------------------------------------------

class Style:
    """ANSI styling that is a no-op unless enabled (stdout/stderr is a terminal, NO_COLOR unset,
    or --color always)."""

    def __init__(self, enabled):
        self.enabled = enabled

    def _wrap(self, code, text):
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text

    def bold(self, t):
        return self._wrap("1", t)

    def dim(self, t):
        return self._wrap("2", t)

    def red(self, t):
        return self._wrap("31", t)

    def green(self, t):
        return self._wrap("32", t)

    def yellow(self, t):
        return self._wrap("33", t)


def colour_wanted(stream, mode="auto"):
    if mode == "always":
        return True
    if mode == "never":
        return False
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def is_tty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def print_table(rows, columns, out=None, style=None, indent=""):
    """Print `rows` (lists of cells) under `columns`: a list of (header, align) with align
    '<' or '>'. Cells are str()ed; columns are as wide as their widest cell."""
    out = out or sys.stdout
    style = style or Style(False)
    heads = [c[0] for c in columns]
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(heads)]

    def fmt(values, header=False):
        parts = []
        for i, (v, (_h, align)) in enumerate(zip(values, columns)):
            last = i == len(values) - 1
            if align == ">":
                parts.append(v.rjust(widths[i]))
            else:
                parts.append(v if last else v.ljust(widths[i]))
        line = indent + "  ".join(parts)
        return style.bold(line) if header else line

    out.write(fmt(heads, True) + "\n")
    for r in cells:
        out.write(fmt(r) + "\n")


def print_json(obj, out=None):
    out = out or sys.stdout
    out.write(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def json_line(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(o):
    return jsonable(o)


def jsonable(o):
    """A JSON-friendly version of whatever a library call returned (attrs classes, named
    tuples, sets, bytes...)."""
    if o is None or isinstance(o, (bool, int, float, str)):
        return o
    if isinstance(o, bytes):
        return bytes_to_text(o)[1] if bytes_to_text(o)[0] else base64.b64encode(o).decode()
    if hasattr(o, "_asdict"):  # namedtuple (TopicPartition, Record)
        return {k: jsonable(v) for k, v in o._asdict().items()}
    if hasattr(o, "__attrs_attrs__"):
        return {a.name: jsonable(getattr(o, a.name)) for a in o.__attrs_attrs__}
    if isinstance(o, dict):
        return {_json_key(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set, frozenset, range)):
        items = list(o)
        if isinstance(o, (set, frozenset)):
            try:
                items.sort()
            except TypeError:
                pass
        return [jsonable(v) for v in items]
    if hasattr(o, "__dict__"):
        return {k: jsonable(v) for k, v in vars(o).items() if not k.startswith("_")}
    return str(o)


def _json_key(k):
    if isinstance(k, str):
        return k
    if isinstance(k, tuple) and len(k) == 2 and isinstance(k[0], str) and isinstance(k[1], int):
        return f"{k[0]}[{k[1]}]"
    return str(k)


def bytes_to_text(b):
    """(True, str) if `b` is UTF-8, else (False, None)."""
    try:
        return True, b.decode("utf-8")
    except UnicodeDecodeError:
        return False, None


def show_bytes(b, limit=80):
    """A readable, bounded rendering of bytes for people (dump): text if UTF-8, else repr."""
    if b is None:
        return "null"
    ok, s = bytes_to_text(b)
    if ok and s.isprintable():
        r = json.dumps(s, ensure_ascii=False)
    else:
        r = repr(bytes(b))
    if len(r) > limit:
        r = r[:limit - 3] + "..." + f" ({len(b)} bytes)"
    return r


# -- progress ---------------------------------------------------------------------------------

class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal (and at most
    ten times a second); `total` None draws a spinner with a running count."""

    def __init__(self, label, total=None, unit="", stream=None, enabled=None, fmt=None):
        self.stream = stream or sys.stderr
        self.enabled = is_tty(self.stream) if enabled is None else enabled
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.fmt = fmt or (human_size if unit == "bytes" else human_count)
        self.start = time.monotonic()
        self._last = self.start + 0.2  # quick work shows no bar at all
        self._spin = 0
        self._shown = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n=0, label=None):
        self.done += n
        if label is not None:
            self.label = label
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        self._draw(now)

    def set(self, done, label=None):
        self.update(done - self.done, label)

    def _draw(self, now):
        width = shutil.get_terminal_size((80, 20)).columns
        elapsed = now - self.start
        if self.total:
            frac = min(1.0, self.done / self.total)
            tail = f" {frac * 100:3.0f}%  {self.fmt(self.done)}/{self.fmt(self.total)}  {human_seconds(elapsed)}"
            room = max(10, min(40, width - len(self.label) - len(tail) - 4))
            fill = int(frac * room)
            bar = "#" * fill + "." * (room - fill)
            line = f"{self.label} [{bar}]{tail}"
        else:
            self._spin = (self._spin + 1) % 4
            count = self.fmt(self.done) + "  " if self.done else ""
            line = f"{self.label} {('|/-' + chr(92))[self._spin]} {count}{human_seconds(elapsed)}"
        self.stream.write("\r" + line[:width - 1].ljust(width - 1))
        self.stream.flush()
        self._shown = True

    def close(self):
        if self.enabled and self._shown:
            width = shutil.get_terminal_size((80, 20)).columns
            self.stream.write("\r" + " " * (width - 1) + "\r")
            self.stream.flush()
            self._shown = False


def percentile(sorted_values, q):
    """The q-th percentile (0..100) of already sorted values (nearest rank), or 0.0."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def quiet_stdout():
    """After a closed pipe (`| head`): point stdout at /dev/null so the interpreter's final
    flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
