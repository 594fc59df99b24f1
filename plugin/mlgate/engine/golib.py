"""OPA's own Go library in-process, through ``opa-golib-python-bindings`` (optional).

The package embeds OPA's Go library (``github.com/open-policy-agent/opa/v1/rego``) as a C
shared library. Its metadata says ``Requires-Python >=3.14`` although the wheels are not
tied to a Python version, so it cannot be a declared dependency: it is installed in a
separate ``pip install --ignore-requires-python`` step (see :data:`BINDINGS_PIN`) by the
Makefile and ``.ci/run``. Everything here is used only when it is importable:

- ``mlgate policy check`` adds OPA's compile verdict (parser, compiler, type checker);
- ``mlgate policy test --engine opa`` runs every ``test_*`` rule on OPA;
- the test suite decides every scenario, Rego test and random input on OPA as well as on
  regorus, and its OPA REST test server compiles and evaluates with it.

The bindings report errors as text (``N errors occurred: file:row: code: message``, as
OPA's ``ast.Errors`` print); :func:`opa_errors` rebuilds OPA's error objects from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..errors import EngineError, PolicyError, one_line
from ..policy import PolicySet
from .base import DECISION_PATH

BINDINGS_PACKAGE = "opa-golib-python-bindings"
BINDINGS_PIN = f"{BINDINGS_PACKAGE}==0.4.4"
OPA_VERSION = "v1.20.2"  # the OPA Go library the pinned bindings embed
INSTALL_HINT = f"pip install --ignore-requires-python {BINDINGS_PIN}"

# One error as OPA's ast.Error prints it: "file:row: code: message" (no location:
# "code: message"), then detail lines each starting with a tab.
_ERROR_HEAD = re.compile(
    r"^(?:(?P<file>[^\n]+?):(?P<row>\d+): )?(?P<code>rego_[a-z_]+|eval_[a-z_]+): (?P<message>.*)$"
)
_COUNT_PREFIX = re.compile(r"^(?:bundle activation failed: )?\d+ errors? occurred:\s*")


def unavailable_reason() -> str | None:
    """Why OPA's Go library cannot be used here, or ``None`` when it can."""
    return _load_problem()


@cache
def _load_problem() -> str | None:
    try:
        import opa_bindings

        # The package imports without its shared library; an engine loads it.
        opa_bindings.OpaEngine().close()
    except ImportError as exc:
        return f"{BINDINGS_PACKAGE} is not importable ({exc}); install it with: {INSTALL_HINT}"
    except OSError as exc:  # the shared library did not load (wrong platform)
        return f"{BINDINGS_PACKAGE} cannot load OPA's shared library: {one_line(str(exc))}"
    return None


@dataclass
class OpaRejected(Exception):
    """OPA refused a module set; ``errors`` are OPA's error objects (code, message, location)."""

    stage: str  # "parse" or "compile"
    errors: list[dict[str, Any]]

    def __str__(self) -> str:
        return "; ".join(error_line(e) for e in self.errors)


def error_line(error: dict[str, Any]) -> str:
    """``file:row:col: code: message`` for one OPA error object."""
    loc = error.get("location") or {}
    where = ":".join(str(loc[k]) for k in ("file", "row", "col") if loc.get(k) is not None)
    what = f"{error.get('code', '')}: {error.get('message', '')}"
    return f"{where}: {what}" if where else what


def opa_errors(text: str, sources: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """OPA's error objects from the text the bindings report.

    ``location.col`` is rebuilt for parse errors from the caret line OPA prints under
    the offending source line (OPA strips the line's leading tabs before printing it, so
    ``sources`` gives them back); other errors print no column, so it is left out.
    """
    body = _COUNT_PREFIX.sub("", text.strip())
    errors: list[dict[str, Any]] = []
    details: list[str] = []

    def close() -> None:
        if errors and details:
            _attach_details(errors[-1], details, sources or {})
        details.clear()

    for line in body.split("\n"):
        head = _ERROR_HEAD.match(line)
        if head and not line.startswith("\t"):
            close()
            error: dict[str, Any] = {"code": head["code"], "message": head["message"]}
            if head["file"] is not None:
                error["location"] = {"file": head["file"], "row": int(head["row"])}
            errors.append(error)
        elif errors:
            details.append(line.removeprefix("\t"))
    close()
    if not errors:
        return [{"code": "rego_unknown_error", "message": one_line(text)}]
    return errors


def _attach_details(error: dict[str, Any], lines: list[str], sources: dict[str, str]) -> None:
    """OPA's parse error ``details`` ({line, idx}) and ``location.col``, from the caret.

    OPA prints the source line without its leading tabs and the caret indented by the
    column less those tabs; the source gives the tabs back.
    """
    loc = error.get("location")
    if not loc or len(lines) != 2 or not lines[1].endswith("^"):
        return
    source = sources.get(loc["file"])
    row = loc["row"]
    if source is None or not 0 < row <= len(source.split("\n")):
        return
    original = source.split("\n")[row - 1]
    idx = len(original) - len(original.lstrip("\t")) + len(lines[1]) - 1
    loc["col"] = idx + 1
    error["details"] = {"line": original, "idx": idx}


def _bindings() -> Any:
    reason = unavailable_reason()
    if reason:
        raise EngineError(reason)
    import opa_bindings

    return opa_bindings


def compile_modules(
    modules: dict[str, str], data: dict[str, Any] | None = None, *, prefix: str = ""
) -> Any:
    """A compiled ``opa_bindings.OpaEngine`` holding ``modules`` (ids as file names) and data.

    Every module is parsed, then the set is compiled as a whole (OPA compiles lazily: a
    trivial query forces it), as OPA's server does on a policy upload. Raises
    :class:`OpaRejected` with OPA's errors; ``prefix`` is put before each module id.
    """
    opa = _bindings()
    named = {f"{prefix}{module_id}": source for module_id, source in modules.items()}
    engine = opa.OpaEngine()
    errors = _add_modules(engine, named)
    if errors:
        engine.close()
        raise OpaRejected("parse", errors)
    try:
        if data:
            engine.add_data(data)
        engine.eval_query("true")
    except opa.OpaError as exc:
        engine.close()
        raise OpaRejected("compile", opa_errors(exc.message, named)) from exc
    return engine


def parse_errors(modules: dict[str, str]) -> list[dict[str, Any]]:
    """OPA's parse errors of each module on its own (no compilation); ``[]`` when none."""
    with _bindings().OpaEngine() as engine:
        return _add_modules(engine, modules)


def _add_modules(engine: Any, modules: dict[str, str]) -> list[dict[str, Any]]:
    """Add (parse) every module, in path order; the parse errors of all of them."""
    opa = _bindings()
    errors: list[dict[str, Any]] = []
    for name, source in sorted(modules.items()):
        try:
            engine.add_policy(name, source)
        except opa.OpaError as exc:
            errors += opa_errors(exc.message, modules)
    return errors


def compile_policy_set(policy_set: PolicySet, *, with_tests: bool = False) -> Any:
    """The policy set (and optionally its tests) on OPA; :class:`PolicyError` if rejected."""
    modules = dict(policy_set.modules)
    if with_tests:
        modules.update(policy_set.tests)
    try:
        return compile_modules(modules, policy_set.data, prefix=_root_prefix(policy_set))
    except OpaRejected as exc:
        raise PolicyError(f"OPA {OPA_VERSION} rejects the policies: {exc}") from exc


def _root_prefix(policy_set: PolicySet) -> str:
    return policy_set.root.rstrip("/") + "/"


class GolibEngine:
    """Decides ``data.mlgate.main.decision`` with OPA's Go library in-process.

    Not a product engine: the test suite and the benchmark use it to compare OPA with
    regorus on many inputs without an HTTP round trip per decision. One compiled OPA
    engine is shared by all threads (the bindings serialise evaluations on it).
    """

    name = "opa-golib"

    def __init__(self, policy_set: PolicySet) -> None:
        self.policy_set = policy_set
        self._engine = compile_policy_set(policy_set)
        self._opa = _bindings()

    def evaluate(self, gate_input: dict[str, Any], text: str | None = None) -> Any:
        path = DECISION_PATH.replace("/", ".")
        try:
            return self._engine.eval_document(path, gate_input)
        except self._opa.OpaUndefinedError as exc:
            raise EngineError(f"data.{path} is undefined for this input") from exc
        except self._opa.OpaError as exc:
            raise EngineError(f"OPA failed: {one_line(exc.message)}") from exc

    def revision(self) -> str:
        return self.policy_set.revision

    def close(self) -> None:
        self._engine.close()
