"""The architecture, kept: imports point only down the layers, and no module imports in a cycle.

The layers, bottom to top (docs/architecture.md says what each owns):

    types        eventlog.errors, eventlog.record
    _os          eventlog._os.*             files, wake-ups, fork safety, clocks
    storage      eventlog.storage.*         codec, segments, partitions, topics, checks
    maintenance  eventlog.maintenance.*     retention and compaction
    offsets      eventlog.offsets           committed-offset stores
    transactions eventlog.transactions.*    transaction coordinator, read_committed views
    clients      eventlog.clients.*         producer, consumer, partitioners, serde
    groups       eventlog.groups.*          consumer groups through file locks
    backends     eventlog.backends.*        the same API on a Kafka cluster (confluent-kafka)
    api          eventlog, eventlog.log     the Log users open, and the package's exports
    cli          eventlog.cli.*
    compat       eventlog.compat.*          kafka-python and confluent-kafka facades
    testing      eventlog.testing.*, eventlog.pytest_plugin

A module may import modules of its own layer or of layers below it; imports made inside functions
count too (they are runtime dependencies all the same). The import graph between modules must have
no cycle, whatever the layers.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "eventlog"

LAYERS = [
    ("types", ("eventlog.errors", "eventlog.record")),
    ("_os", ("eventlog._os",)),
    ("storage", ("eventlog.storage",)),
    ("maintenance", ("eventlog.maintenance",)),
    ("offsets", ("eventlog.offsets",)),
    ("transactions", ("eventlog.transactions",)),
    ("clients", ("eventlog.clients", "eventlog.serde", "eventlog.partitioners")),
    ("groups", ("eventlog.groups",)),
    ("backends", ("eventlog.backends",)),
    ("api", ("eventlog.log",)),
    ("cli", ("eventlog.cli", "eventlog.__main__")),
    ("compat", ("eventlog.compat",)),
    ("testing", ("eventlog.testing", "eventlog.pytest_plugin")),
]


def layer_of(module):
    if module == "eventlog":
        return "api"
    best = None
    for name, prefixes in LAYERS:
        for p in prefixes:
            if module == p or module.startswith(p + "."):
                if best is None or len(p) > len(best[1]):
                    best = (name, p)
    assert best is not None, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best[0]


RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def module_name(path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules():
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(module, path, known):
    """Every eventlog module `module` imports (at top level or inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    found = set()

    def resolve(name):
        # the longest known module that `name` is or is inside of
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "eventlog" or a.name.startswith("eventlog."):
                    found.add(resolve(a.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not (mod == "eventlog" or mod.startswith("eventlog.")):
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                found.add(sub if sub in known else resolve(mod))
    found.discard(None)
    found.discard(module)
    return found


def graph():
    known = modules()
    return {m: imports_of(m, p, known) for m, p in known.items()}


# Known upward imports, one entry per importing module: the helper who removes a violation
# removes its entry (each is its own strict xfail, so a fixed one fails until it is removed).
KNOWN_UPWARD = {
}


def upward_imports(mod, g):
    return sorted(f"{mod} ({layer_of(mod)}) imports {dep} ({layer_of(dep)})"
                  for dep in g.get(mod, ()) if RANK[layer_of(dep)] > RANK[layer_of(mod)])


@pytest.mark.parametrize("mod", [
    pytest.param(m, marks=pytest.mark.xfail(strict=True, reason=KNOWN_UPWARD[m])) if m in KNOWN_UPWARD else m
    for m in sorted(modules())])
def test_every_import_points_down_or_sideways(mod):
    upward = upward_imports(mod, _graph_cached())
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_known_violations_name_real_modules():
    assert set(KNOWN_UPWARD) <= set(modules())


def _graph_cached(_cache=[]):
    if not _cache:
        _cache.append(graph())
    return _cache[0]


def test_no_import_cycles():
    g = graph()
    cycles, state, stack = [], {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("mod", sorted(modules()))
def test_every_module_is_in_a_layer(mod):
    layer_of(mod)


def test_the_0_1_import_paths_of_public_modules_still_work():
    """`eventlog.serde` and `eventlog.partitioners` were public modules in 0.1; they are the
    same module objects as their homes under eventlog.clients now."""
    import eventlog.partitioners
    import eventlog.serde
    from eventlog.clients import partitioners, serde
    from eventlog.serde import json_serializer  # noqa: F401
    assert eventlog.serde is serde and eventlog.partitioners is partitioners
