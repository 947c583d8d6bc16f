"""Every code block in README.md and docs/*.md runs, so a stale example fails CI.

- ```python blocks of one page run in order, in one namespace, in a fresh subprocess whose
  working directory is an empty temporary directory (like a notebook of that page).
- ```sh / ```bash / ```console blocks: each command line that runs `eventlog` (alone, or fed by
  `printf`/`echo`/`cat` through a pipe) runs in bash in that page's directory and must exit 0;
  `export NAME=value` lines carry over; other lines (pip install, python, pytest) are not run.
- ```json blocks must parse (as one document, or as JSON lines).
- Markers, as HTML comments (invisible on the rendered page) right before a block:
  `<!-- snippet: skip REASON -->` skips the next block (only for blocks that cannot run here,
  e.g. they need a broker or Docker, or wait until Ctrl-C; a reason is required);
  `<!-- snippet: setup python ... -->` / `<!-- snippet: setup sh ... -->` hold code that
  runs at that point but is not shown (fixtures a reader would already have: an open `log`,
  a topic to read from).
"""
import glob
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARK = re.compile(r"<!--\s*snippet:\s*(skip|setup)\b(.*?)-->", re.S)
SHELL = {"sh", "bash", "console", "shell"}


def blocks(page):
    """[(kind, lang, line, code)] in page order; kind is 'code', 'setup' or 'skip'."""
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        text = f.read()
    found = []
    for m in _FENCE.finditer(text):
        found.append((m.start(), "code", m.group(1).lower(), m.group(2)))
    for m in _MARK.finditer(text):
        if m.group(1) == "skip":
            reason = m.group(2).strip()
            assert reason, f"{page}: <!-- snippet: skip --> needs a reason"
            found.append((m.start(), "skip", "", reason))
        else:
            lang, _, code = m.group(2).lstrip(" ").partition("\n")
            assert lang.strip() in ("python", "sh"), f"{page}: snippet setup takes 'python' or 'sh'"
            found.append((m.start(), "setup", lang.strip(), textwrap.dedent(code)))
    found.sort()
    out = []
    skip_next = None
    for pos, kind, lang, code in found:
        line = text.count("\n", 0, pos) + 1
        if kind == "skip":
            skip_next = code
            continue
        if kind == "code" and skip_next is not None:
            out.append(("skip", lang, line, skip_next))
            skip_next = None
            continue
        out.append((kind, lang, line, code))
    return out


def _shell_commands(code):
    """Command lines of a shell block worth running: those that run eventlog, and exports."""
    lines = code.replace("\\\n", " ").splitlines()
    keep = []
    for ln in lines:
        s = ln.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("export "):
            keep.append(s)
        elif re.match(r"^(eventlog\b|(printf|echo|cat)\b[^|]*\|\s*eventlog\b)", s):
            keep.append(s)
    return keep


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("EVENTLOG_DIR", None)
    env["COLUMNS"] = "100"
    return env


_RUNNER = r"""
import sys, traceback
ns = {"__name__": "__snippet__"}
for where, code in BLOCKS:
    try:
        exec(compile(code, where, "exec"), ns)
    except BaseException:
        traceback.print_exc()
        print(f"SNIPPET FAILED: {where}", file=sys.stderr)
        sys.exit(1)
"""


def _have_eventlog_script():
    return os.path.exists(os.path.join(os.path.dirname(sys.executable), "eventlog"))


@pytest.mark.parametrize("page", PAGES)
def test_page_snippets_run(page, tmp_path):
    env = _env()
    ran = 0
    py = []          # python blocks waiting to run (flushed before each shell block)

    def flush():
        nonlocal py
        if not py:
            return
        script = "BLOCKS = " + repr(py) + "\n" + _RUNNER
        p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, f"{page}: a python block failed:\n{p.stderr[-3000:]}"
        py = []

    # python blocks of a page share one namespace: run them in one process, in order, with the
    # shell blocks of the page at their places in between
    pending_shell = []
    for kind, lang, line, code in blocks(page):
        where = f"{page}:{line}"
        if kind == "skip":
            continue
        if lang == "python":
            py.append((where, code))
            ran += kind == "code"
        elif lang in SHELL or (kind == "setup" and lang == "sh"):
            cmds = _shell_commands(code) if kind == "code" else [c for c in code.splitlines() if c.strip()]
            if not cmds:
                continue
            pending_shell.append((where, cmds))
            ran += kind == "code"
        elif lang == "json" and kind == "code":
            try:
                json.loads(code)
            except ValueError:
                for ln in code.splitlines():
                    if ln.strip():
                        json.loads(ln)
    # one namespace for all python blocks would need them all before the shell ones; pages mix
    # them rarely, so run python first, then shell (a page that needs another order says so
    # with a setup block)
    flush()
    if pending_shell and not _have_eventlog_script():
        pytest.skip("the eventlog console script is not installed (pip install -e .)")
    exports = {}
    for where, cmds in pending_shell:
        for cmd in cmds:
            m = re.match(r"export\s+(\w+)=(\S*)", cmd)
            if m:
                exports[m.group(1)] = m.group(2)
                continue
            p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=tmp_path, env=dict(env, **exports),
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, f"{where}: `{cmd}` exited {p.returncode}:\n{p.stderr[-2000:]}"
    if ran == 0:
        pytest.skip(f"{page} has no runnable code blocks")


def test_every_page_is_covered():
    """Every fenced block is python, shell, json, toml, mermaid or text (so none escapes the runner
    by an unknown language by accident)."""
    for page in PAGES:
        for kind, lang, line, _code in blocks(page):
            assert lang in {"python", "json", "toml", "text", "mermaid", ""} | SHELL, f"{page}:{line}: ```{lang}"
