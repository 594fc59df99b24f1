"""The conformance corpus of a policy set: scenarios that live beside the gates they test.

A policy directory may hold ``scenarios/`` (the loader reads only ``*.rego``,
``data.json`` and ``waivers.json``, so none of it reaches an engine)::

    scenarios/base.json               one complete gate input, times relative to now
    scenarios/<name>/scenario.json    {"description", "patch", "policy_data", "forged", "now"}
    scenarios/<name>/expected.json    the essentials of the decision (see ESSENTIALS)

A case's gate input is ``base.json`` with its ``patch`` applied (an RFC 7396 JSON merge
patch: objects merge, anything else replaces, ``null`` deletes), its time tokens then
resolved at the evaluation time. Its ``policy_data`` is a merge patch on ``data.json``'s
``mlgate.config``: a case that tests a number (``max_age_days``) pins it there, so the
shipped default can change, and a case can switch on a gate that ships switched off.

Time tokens are strings, anywhere in the document, replaced when a case is materialised:

- ``@now`` (RFC 3339 UTC, to the second) and ``@now_ns`` (an integer): the evaluation time;
- ``@date`` (``YYYY-MM-DD``) and ``@date_ns`` (midnight UTC of that day, an integer);
- ``@midnight`` (RFC 3339): 00:00 UTC of the evaluation day;

each optionally followed by offsets (``@date-200d``, ``@now+1h30m``, ``@now_ns-1ns``) and
``@midnight`` by an UTC offset to render in (``@midnight-365d+23h30m@+08:00``). Days count
from the evaluation day, so ``@date-365d`` is 365 calendar days before it. ``"@null"`` is
a null value (a merge patch's ``null`` deletes the key). A case about the time of day sets
``"now": "HH:MM:SS[.fffffffff]"``: the evaluation day at that time.

Materialising at any moment decides as at any other (that is the point): the tests run
the corpus at the current time, and at a fixed moment to prove the tokens are honest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError, MlgateError, PolicyError
from .policy import SCENARIO_DIR
from .timetokens import TIME_OF_DAY, evaluation_time, merge_patch, resolve_times

if TYPE_CHECKING:
    from .engine.base import Engine
    from .models import Decision, EngineName, GateInput
    from .policy import PolicySet
    from .tags import TagDeclarations

BASE_FILE = "base.json"
SCENARIO_FILE = "scenario.json"
EXPECTED_FILE = "expected.json"
# What a case pins of a decision: per gate its status and sorted violation codes.
# Messages are wording: they live in the METADATA, not in the corpus.
ESSENTIALS = ("allowed", "in_scope", "enforcement", "gates", "waivers_applied")
SCENARIO_KEYS = {"description", "patch", "policy_data", "forged", "now"}
NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")

EngineFactory = Callable[["PolicySet"], "Engine"]


@dataclass(frozen=True)
class Scenario:
    """One case of the corpus, as written in its folder."""

    name: str
    description: str
    patch: dict[str, Any]
    policy_data: dict[str, Any] | None
    forged: bool
    now: str | None  # a time of day pinned by the case, else None
    expected: dict[str, Any] | None  # None: expected.json not written yet

    def to_json(self) -> dict[str, Any]:
        """scenario.json's content (keys left at their default are omitted)."""
        doc: dict[str, Any] = {"description": self.description}
        if self.forged:
            doc["forged"] = True
        if self.now is not None:
            doc["now"] = self.now
        if self.policy_data is not None:
            doc["policy_data"] = self.policy_data
        doc["patch"] = self.patch
        return doc


# --------------------------------------------------------------------------- reading


def corpus_dir(policy_set: PolicySet) -> Path:
    return Path(policy_set.root) / SCENARIO_DIR


def read_json(path: Path) -> Any:
    from .jsondoc import DocumentError, loads

    try:
        return loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    except (DocumentError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from exc


def load_base(directory: Path) -> dict[str, Any]:
    base = read_json(directory / BASE_FILE)
    if not isinstance(base, dict):
        raise InputError(f"{directory / BASE_FILE}: expected a JSON object (a gate input)")
    return base


def case_names(directory: Path) -> list[str]:
    """The cases of a corpus: every folder holding a scenario.json, sorted."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if (p / SCENARIO_FILE).is_file())


def load_scenario(directory: Path, name: str) -> Scenario:
    folder = directory / name
    where = folder / SCENARIO_FILE
    doc = read_json(where)
    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a JSON object")
    unknown = sorted(set(doc) - SCENARIO_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; expected {sorted(SCENARIO_KEYS)}")
    patch, policy_data = doc.get("patch", {}), doc.get("policy_data")
    if not isinstance(patch, dict):
        raise InputError(f"{where}: field patch: expected an object (a JSON merge patch)")
    if policy_data is not None and not isinstance(policy_data, dict):
        raise InputError(f"{where}: field policy_data: expected an object (a merge patch)")
    if not isinstance(doc.get("description", ""), str):
        raise InputError(f"{where}: field description: expected a string")
    if not isinstance(doc.get("forged", False), bool):
        raise InputError(f"{where}: field forged: expected true or false")
    now = doc.get("now")
    if now is not None and not (isinstance(now, str) and TIME_OF_DAY.match(now)):
        raise InputError(f"{where}: field now: expected a time of day HH:MM:SS[.fffffffff]")
    expected = None
    if (folder / EXPECTED_FILE).is_file():
        expected = read_json(folder / EXPECTED_FILE)
        if not isinstance(expected, dict) or not set(ESSENTIALS) <= set(expected):
            raise InputError(f"{folder / EXPECTED_FILE}: expected an object with {ESSENTIALS}")
    return Scenario(
        name=name,
        description=doc.get("description", ""),
        patch=patch,
        policy_data=policy_data,
        forged=doc.get("forged", False),
        now=now,
        expected=expected,
    )


def load_corpus(directory: Path, names: Iterable[str] | None = None) -> list[Scenario]:
    """The named cases (default: all), each read and checked; unknown names are refused."""
    known = case_names(directory)
    wanted = list(names) if names else known
    missing = [n for n in wanted if n not in known]
    if missing:
        raise InputError(f"{directory}: no scenario {missing[0]!r} (no {SCENARIO_FILE})")
    return [load_scenario(directory, name) for name in wanted]


# --------------------------------------------------------------------------- materialising


def materialise(
    base: dict[str, Any], scenario: Scenario, now: datetime | None = None
) -> dict[str, Any]:
    """The case's gate input document at ``now`` (default: this moment, to the second)."""
    document = merge_patch(base, scenario.patch)
    document.setdefault("now", "@now")
    document.setdefault("now_ns", "@now_ns")
    resolved: dict[str, Any] = resolve_times(document, evaluation_time(now, scenario.now))
    return resolved


def gate_input(
    base: dict[str, Any],
    scenario: Scenario,
    now: datetime | None = None,
    declarations: TagDeclarations | None = None,
) -> GateInput:
    """The case's gate input at ``now``; its facts checked against ``declarations`` (the
    policy set's tag declarations; default the bundled ones), as ``check --input`` does."""
    from pydantic import ValidationError

    from .models import GateInput
    from .tags import facts_model

    if declarations is None:
        from .policy import bundled_declarations

        declarations = bundled_declarations()
    where: tuple[str, ...] = ()
    try:
        document = GateInput.model_validate(materialise(base, scenario, now))
        where = ("facts",)
        facts_model(declarations).model_validate(document.facts, strict=True)
        return document
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in (*where, *err["loc"]))
        raise InputError(f"scenario {scenario.name}: field {loc}: {err['msg']}") from exc


def policy_set_for(policy_set: PolicySet, scenario: Scenario) -> PolicySet:
    """The policy set a case is decided under: its ``policy_data`` merged onto data.json's
    ``mlgate.config`` and validated as data.json is; the same set when it has none."""
    if scenario.policy_data is None:
        return policy_set
    from .policy import DATA_FILE, policy_set_from_files

    data_file = dict(policy_set.data_file)
    mlgate = dict(data_file.get("mlgate") or {})
    mlgate["config"] = merge_patch(mlgate.get("config") or {}, scenario.policy_data)
    data_file["mlgate"] = mlgate
    files = {
        **policy_set.modules,
        **policy_set.tests,
        **policy_set.declaration_files,
        DATA_FILE: json.dumps(data_file),
    }
    case = f"{policy_set.root}/{SCENARIO_DIR}/{scenario.name}/{SCENARIO_FILE}"
    try:
        changed = policy_set_from_files(policy_set.root, files, policy_set.revision)
    except PolicyError as exc:
        raise InputError(f"{case}: policy_data: {exc}") from exc
    return replace(changed, root=policy_set.root, waivers=policy_set.waivers)


# --------------------------------------------------------------------------- deciding


def essentials(decision: Decision) -> dict[str, Any]:
    """What a scenario pins down of a decision."""
    return {
        "allowed": decision.allowed,
        "in_scope": decision.in_scope,
        "enforcement": decision.enforcement,
        "gates": {
            g.id: {"status": g.status, "codes": sorted(v.code for v in g.violations)}
            for g in decision.gates
        },
        "waivers_applied": list(decision.waivers_applied),
    }


class EnginePool:
    """One engine per distinct policy data: cases without an override share one."""

    def __init__(self, factory: EngineFactory) -> None:
        self.factory = factory
        self._engines: dict[str, Engine] = {}

    def get(self, policy_set: PolicySet) -> Engine:
        key = policy_set.fingerprint()
        if key not in self._engines:
            self._engines[key] = self.factory(policy_set)
        return self._engines[key]


def decide(
    base: dict[str, Any],
    scenario: Scenario,
    policy_set: PolicySet,
    engines: EnginePool,
    now: datetime | None = None,
) -> Decision:
    """The decision on the case's gate input, by the engine for its policy data."""
    from .gate import decide_input

    effective = policy_set_for(policy_set, scenario)
    document = gate_input(base, scenario, now, effective.tag_declarations)
    return decide_input(document, engines.get(effective), effective)


@dataclass(frozen=True)
class Outcome:
    """A case decided by some engines: their essentials (or the error each raised)."""

    scenario: Scenario
    got: dict[str, dict[str, Any] | str]  # engine name -> essentials, or an error line

    @property
    def agree(self) -> bool:
        values = list(self.got.values())
        return all(v == values[0] for v in values)

    @property
    def errors(self) -> dict[str, str]:
        return {k: v for k, v in self.got.items() if isinstance(v, str)}

    @property
    def passed(self) -> bool:
        want = self.scenario.expected
        return want is not None and all(
            not isinstance(v, str) and v == pinned(want) for v in self.got.values()
        )


def pinned(expected: dict[str, Any]) -> dict[str, Any]:
    return {key: expected[key] for key in ESSENTIALS}


def run_corpus(
    policy_set: PolicySet,
    factories: dict[str, EngineFactory],
    *,
    names: Iterable[str] | None = None,
    now: datetime | None = None,
    directory: Path | None = None,
) -> list[Outcome]:
    """Decide every case (or the named ones) on every engine of ``factories``."""
    directory = directory or corpus_dir(policy_set)
    base = load_base(directory)
    pools = {name: EnginePool(factory) for name, factory in factories.items()}
    outcomes = []
    for scenario in load_corpus(directory, names):
        got: dict[str, dict[str, Any] | str] = {}
        for name, pool in pools.items():
            try:
                got[name] = essentials(decide(base, scenario, policy_set, pool, now))
            except InputError:
                raise  # the case itself is malformed: the corpus is, not the policy
            except MlgateError as exc:
                got[name] = str(exc)
        outcomes.append(Outcome(scenario, got))
    return outcomes


def local_engines() -> dict[str, EngineFactory]:
    """The engines that run here without a server: regorus, and OPA's Go library when
    installed (``opa-golib-python-bindings``)."""
    from .engine import golib
    from .engine.embedded import EmbeddedEngine

    factories: dict[str, EngineFactory] = {"embedded": EmbeddedEngine}
    if golib.unavailable_reason() is None:
        factories["opa"] = in_process_opa
    return factories


def in_process_opa(policy_set: PolicySet) -> Engine:
    """OPA's Go library deciding ``policy_set`` in-process; its decisions say ``opa``."""
    from .engine.golib import GolibEngine

    class InProcessOpa(GolibEngine):
        name: EngineName = "opa"  # OPA's own code decides: decisions say engine "opa"

    return InProcessOpa(policy_set)


def changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """How an expectation changes, one line per difference (``gates.x.status: a -> b``)."""
    if old is None:
        return ["new expectation"]
    lines = []
    for key in ESSENTIALS:
        if key == "gates":
            for gate in sorted(set(old.get("gates", {})) | set(new["gates"])):
                before = old.get("gates", {}).get(gate)
                after = new["gates"].get(gate)
                if before != after:
                    lines.append(f"gates.{gate}: {_gate_text(before)} -> {_gate_text(after)}")
        elif old.get(key) != new[key]:
            lines.append(f"{key}: {json.dumps(old.get(key))} -> {json.dumps(new[key])}")
    return lines


def _gate_text(gate: dict[str, Any] | None) -> str:
    if gate is None:
        return "(absent)"
    codes = ",".join(gate.get("codes", []))
    return f"{gate.get('status')}" + (f" [{codes}]" if codes else "")


def write_json(path: Path, document: Any) -> None:
    """A corpus file as the corpus writes them: 2-space indent, a final newline."""
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def expected_text(decided: dict[str, Any]) -> str:
    """expected.json's text: one line per key, and per gate."""
    lines = []
    for key, value in decided.items():
        if key == "gates":
            gates = [f'    "{g}": {json.dumps(v)}' for g, v in value.items()]
            lines.append('  "gates": {\n' + ",\n".join(gates) + "\n  }")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_expected(directory: Path, name: str, decided: dict[str, Any]) -> None:
    (directory / name / EXPECTED_FILE).write_text(expected_text(decided), encoding="utf-8")


def write_scenario(directory: Path, scenario: Scenario) -> None:
    if not NAME.match(scenario.name):
        raise InputError(
            f"scenario name {scenario.name!r}: expected lower-case letters, digits and _"
        )
    (directory / scenario.name).mkdir(parents=True, exist_ok=True)
    write_json(directory / scenario.name / SCENARIO_FILE, scenario.to_json())
