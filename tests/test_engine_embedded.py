"""The embedded engine (regorus, in-process): per-thread compilation, and failing closed
on broken policy sets; then OPA's Go library on the same broken sets. Broken sets are
tmp_path copies of policies/ with one edit."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from fixtures_opa import require_opa_golib
from helpers import EXAMPLES, POLICIES
from mlgate.engine import embedded
from mlgate.engine.embedded import EmbeddedEngine
from mlgate.engine.golib import GolibEngine, opa_errors
from mlgate.errors import EngineError, PolicyError
from mlgate.policy import PolicySet, load_policy_dir
from mlgate.runner import evaluate, load_gate_input

FILING = Path("gates/filing/filing.rego")
MAIN = Path("main/main.rego")


def copy_policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` (which must be there, once) by ``new``; the 1-based line of the edit."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: expected {old!r} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def gate_input_document(name: str = "allowed") -> dict[str, Any]:
    return load_gate_input(EXAMPLES / f"gate_input_{name}.json").model_dump(mode="json")


# --------------------------------------------------------------------------- threads


def test_compiles_once_per_thread_and_decides_identically(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy_set = load_policy_dir(POLICIES)
    compiled_on: list[int] = []
    real_compile = embedded.compile_engine

    def counting_compile(ps: PolicySet, **kwargs: Any) -> Any:
        compiled_on.append(threading.get_ident())
        return real_compile(ps, **kwargs)

    monkeypatch.setattr(embedded, "compile_engine", counting_compile)
    engine = EmbeddedEngine(policy_set)
    documents = [gate_input_document("allowed"), gate_input_document("blocked")]
    expected = [engine.evaluate(d) for d in documents]
    main_thread_compiles = len(compiled_on)

    def decide(i: int) -> tuple[int, Any]:
        return threading.get_ident(), engine.evaluate(documents[i % 2])

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(decide, range(24)))

    assert [value for _, value in results] == [expected[i % 2] for i in range(24)]
    workers = {ident for ident, _ in results}
    per_thread = Counter(compiled_on[main_thread_compiles:])
    assert set(per_thread) == workers  # every worker thread compiled its own engine...
    assert set(per_thread.values()) == {1}  # ...exactly once, however often it evaluated


# --------------------------------------------------------------------------- broken sets


def test_a_syntax_error_is_a_policy_error_naming_file_and_line(tmp_path: Path) -> None:
    policies = copy_policies(tmp_path)
    line = edit(policies / FILING, "result := lib.gate_result", "result := := lib.gate_result")
    with pytest.raises(PolicyError) as err:
        EmbeddedEngine(load_policy_dir(policies))
    assert f"{FILING.as_posix()}:{line}:" in str(err.value)


def test_a_call_to_an_unknown_function_is_a_policy_error(tmp_path: Path) -> None:
    policies = copy_policies(tmp_path)
    line = edit(
        policies / FILING, "filing_id_present if {\n", "filing_id_present if {\n\tfoo.bar(1)\n"
    )
    with pytest.raises(PolicyError) as err:
        EmbeddedEngine(load_policy_dir(policies))
    assert f"{FILING.as_posix()}:{line + 1}:" in str(err.value) and "foo.bar" in str(err.value)


def test_an_unknown_function_behind_a_false_guard_is_still_rejected(tmp_path: Path) -> None:
    """regorus resolves functions only when reached; compile_engine probes every call."""
    policies = copy_policies(tmp_path)
    edit(
        policies / FILING,
        "filing_id_present if {\n",
        "filing_id_present if {\n\tfalse\n\tnope(1)\n",
    )
    with pytest.raises(PolicyError, match="function nope is not supported"):
        EmbeddedEngine(load_policy_dir(policies))


def test_a_gate_left_undefined_is_an_engine_error_naming_it(tmp_path: Path) -> None:
    policies = copy_policies(tmp_path)
    edit(policies / FILING, "result := lib.gate_result(", "result_disabled := lib.gate_result(")
    policy_set = load_policy_dir(policies)
    gate_input = load_gate_input(EXAMPLES / "gate_input_allowed.json")
    with pytest.raises(EngineError, match="leaves gate 'filing' undefined"):
        evaluate(gate_input, EmbeddedEngine(policy_set), policy_set)


def test_an_undefined_decision_is_an_engine_error(tmp_path: Path) -> None:
    policies = copy_policies(tmp_path)
    edit(policies / MAIN, "\ndecision := {", "\ndecision_disabled := {")
    engine = EmbeddedEngine(load_policy_dir(policies))
    with pytest.raises(EngineError, match=r"data\.mlgate\.main\.decision is undefined"):
        engine.evaluate(gate_input_document("allowed"))


# --------------------------------------------------------------------------- OPA's library
# The same broken sets through OPA's Go library (mlgate.engine.golib), which the tests,
# `policy test --engine opa` and `policy check` use: it must fail as closed as regorus.


@pytest.fixture
def golib_engine() -> type:
    require_opa_golib()
    return GolibEngine


def test_opa_names_file_and_line_of_a_syntax_error(tmp_path: Path, golib_engine: type) -> None:
    policies = copy_policies(tmp_path)
    line = edit(policies / FILING, "result := lib.gate_result", "result := := lib.gate_result")
    with pytest.raises(PolicyError) as err:
        golib_engine(load_policy_dir(policies))
    assert f"{FILING.as_posix()}:{line}:" in str(err.value)
    assert "rego_parse_error" in str(err.value)


def test_opa_rejects_an_unknown_function_behind_a_false_guard(
    tmp_path: Path, golib_engine: type
) -> None:
    policies = copy_policies(tmp_path)
    line = edit(
        policies / FILING,
        "filing_id_present if {\n",
        "filing_id_present if {\n\tfalse\n\tnope(1)\n",
    )
    with pytest.raises(PolicyError) as err:
        golib_engine(load_policy_dir(policies))
    assert f"{FILING.as_posix()}:{line + 2}: rego_type_error: undefined function nope" in str(
        err.value
    )


def test_opa_leaves_an_undefined_decision_an_engine_error(
    tmp_path: Path, golib_engine: type
) -> None:
    policies = copy_policies(tmp_path)
    edit(policies / MAIN, "\ndecision := {", "\ndecision_disabled := {")
    engine = golib_engine(load_policy_dir(policies))
    with pytest.raises(EngineError, match=r"data\.mlgate\.main\.decision is undefined"):
        engine.evaluate(gate_input_document("allowed"))


def test_opa_and_regorus_decide_the_examples_alike(golib_engine: type) -> None:
    policy_set = load_policy_dir(POLICIES)
    opa = golib_engine(policy_set)
    for name in ("allowed", "blocked"):
        document = gate_input_document(name)
        assert opa.evaluate(document) == EmbeddedEngine(policy_set).evaluate(document)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "1 error occurred: a.rego:4: rego_parse_error: unexpected equal token\n"
            "\tinput.x == == 1\n\t           ^",
            [
                {
                    "code": "rego_parse_error",
                    "message": "unexpected equal token",
                    "location": {"file": "a.rego", "row": 4, "col": 13},
                    "details": {"line": "\tinput.x == == 1", "idx": 12},
                }
            ],
        ),
        (
            "bundle activation failed: 2 errors occurred:\n"
            "a.rego:3: rego_type_error: undefined function f\n"
            "b.rego:7: rego_compile_error: var x assigned above",
            [
                {
                    "code": "rego_type_error",
                    "message": "undefined function f",
                    "location": {"file": "a.rego", "row": 3},
                },
                {
                    "code": "rego_compile_error",
                    "message": "var x assigned above",
                    "location": {"file": "b.rego", "row": 7},
                },
            ],
        ),
        ("something else", [{"code": "rego_unknown_error", "message": "something else"}]),
    ],
)
def test_opa_errors_are_rebuilt_from_the_text_the_bindings_print(
    text: str, expected: list[dict[str, Any]]
) -> None:
    sources = {"a.rego": "package a\n\nallow if {\n\tinput.x == == 1\n}\n"}
    assert opa_errors(text, sources) == expected
