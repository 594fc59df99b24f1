"""The package's shape: no import cycle, dependencies point one way, one decision service.

The import graph is read from the source with the standard library's ``ast`` (every
``import``, at module level, inside functions and under ``TYPE_CHECKING`` alike: a lazy
import is still a dependency). docs/architecture.md draws the same layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "plugin" / "mlgate"

# Bottom to top: a module may import modules of its own layer or of a lower one.
# Modules the picture does not name are placed where they belong:
# - the bottom: leaf helpers every layer uses (errors, JSON reading, name folding, safe
#   text, target names, the policy revision, the package's version);
# - waivers, gitpolicy and policygates read policy files, so they sit with policy (policy loads
#   waivers.json through waivers);
# - policylint and policytest (tooling over the engines) sit with the runner, above engine/;
# - serverrecord (the client of a server's decision log), logentry (an entry, the current
#   state, the DecisionRecord protocol both satisfy) and logtable (the SQL table) sit with
#   decisionlog; references (what a command names before the registry is read) with
#   evidence; uris (URI parsing and masking) and mlflowapi (MLflow's calls, typed) with
#   the leaf helpers; modelfiles (hashing model files, stdlib only) with the gate input,
#   since the decision service records the model-files digest each decision was made on;
# - bulk (reading a registry in bulk), audit and impact (decisions over a registry:
#   audit and policy impact) and scenarios (the conformance corpus of a policy set,
#   decided case by case) sit above the registry reader and the log, below output/;
# - demo, clidoc, docgen and schemas are entry points, with commands/ at the top.
LAYERS: list[tuple[str, set[str]]] = [
    ("helpers", {"mlgate", "mlgate.errors", "mlgate.jsondoc", "mlgate.names", "mlgate.timetokens",
                 "mlgate.textsafe", "mlgate.targets", "mlgate.revision", "mlgate.jsonsubset",
                 "mlgate.uris", "mlgate.mlflowapi", "mlgate.dsse"}),
    ("models", {"mlgate.models", "mlgate.tags"}),
    ("policy", {"mlgate.policy", "mlgate.policygates", "mlgate.regosource", "mlgate.policydata",
                "mlgate.metadata",
                "mlgate.waivers", "mlgate.gitpolicy"}),
    ("gate input", {"mlgate.gate_input", "mlgate.facts", "mlgate.evalrun", "mlgate.modelfiles"}),
    ("engine", {"mlgate.engine.*"}),
    ("runner", {"mlgate.runner", "mlgate.policylint", "mlgate.regolint", "mlgate.policytest",
                "mlgate.testexplain"}),
    ("gate", {"mlgate.gate"}),
    ("reader and log", {"mlgate.evidence", "mlgate.references", "mlgate.decisionlog",
                        "mlgate.logchain", "mlgate.logsign", "mlgate.ledger",
                        "mlgate.logentry", "mlgate.logtable", "mlgate.serverrecord",
                        "mlgate.sharedartifacts", "mlgate.attestation"}),
    ("bulk decisions", {"mlgate.bulk", "mlgate.audit", "mlgate.impact", "mlgate.scenarios",
                        "mlgate.integrity"}),
    ("output", {"mlgate.output.*"}),
    ("entry points", {"mlgate.commands.*", "mlgate.registry.*", "mlgate.cli",
                      "mlgate.clidoc", "mlgate.docgen", "mlgate.demo", "mlgate.schemas"}),
]

# Known exceptions still to remove (issue 11), each with why it is here. Empty: keep it so.
ALLOWED_CYCLES: set[frozenset[str]] = set()
ALLOWED_UPWARD: set[tuple[str, str]] = set()

# The one module, outside engine/ and the runner, that calls an engine's evaluate.
DECISION_SERVICE = "mlgate.gate"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def _imported(name: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The package's modules that ``node`` in module ``name`` imports."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        package = name.split(".") if MODULES[name].name == "__init__.py" else name.split(".")[:-1]
        base = package[: len(package) - node.level + 1] if node.level else []
        module = ".".join([*base, *([node.module] if node.module else [])])
        # ``from . import gate`` imports a module; ``from .x import y`` imports x.
        targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
    found = set()
    for target in targets:
        while target and target not in MODULES and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in MODULES and target != name:
            found.add(target)
    # ``from .x import y`` where y is not a module is an import of x alone.
    if isinstance(node, ast.ImportFrom) and len(found) > 1:
        module_targets = {t for t in found if t.rsplit(".", 1)[-1] in
                          {a.name for a in node.names}}
        found = module_targets or found
    return sorted(found)


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[name].update(_imported(name, node))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(name: str) -> int:
    for number, (_, members) in enumerate(LAYERS):
        for pattern in members:
            if name == pattern or (
                pattern.endswith(".*") and (name + ".").startswith(pattern[:-1])
            ):
                return number
    raise AssertionError(f"{name}: in no layer of tests/test_architecture.py; place it")


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_the_graph_sees_function_level_imports() -> None:
    # The server's gate imports the decision service inside its methods only.
    assert "mlgate.gate" in import_graph()["mlgate.registry.servergate"]
    assert "mlgate.decisionlog" in import_graph()["mlgate.commands.registry"]


def test_no_import_cycle() -> None:
    found = [c for c in cycles(import_graph()) if c not in ALLOWED_CYCLES]
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_cycle_detection_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]


def test_no_lower_layer_imports_a_higher_one() -> None:
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for name, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(name) and (name, target) not in ALLOWED_UPWARD
    ]
    assert upward == []


def _calls_evaluate(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Name) and func.id == "evaluate") or (
                isinstance(func, ast.Attribute) and func.attr == "evaluate"
            ):
                return True
    return False


def test_one_decision_service_calls_evaluate() -> None:
    callers = {
        name
        for name, tree in TREES.items()
        if not name.startswith("mlgate.engine") and name != "mlgate.runner"
        and _calls_evaluate(tree)
    }
    assert callers == {DECISION_SERVICE}


@pytest.mark.parametrize("name", ["mlgate.demo", "mlgate.audit", "mlgate.impact"])
def test_library_code_does_not_import_the_commands(name: str) -> None:
    assert not {t for t in import_graph()[name] if t.startswith("mlgate.commands")}


def test_the_cli_starts_without_its_heavy_libraries() -> None:
    """`mlgate --help` stays fast: pydantic, mlflow, sqlalchemy and the engines load only
    where a command needs them (an eager import in output/ once cost 0.1 s at start-up)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import mlgate.cli\n"
        "print(sorted(m for m in ('pydantic', 'mlflow', 'sqlalchemy', 'regorus', 'rich')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
