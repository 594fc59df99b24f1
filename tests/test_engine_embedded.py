"""The embedded engine (regorus, in-process): per-thread compilation, and failing closed
on broken policy sets. Broken sets are tmp_path copies of policies/ with one edit."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from helpers import EXAMPLES, POLICIES
from mlgate.engine import embedded
from mlgate.engine.embedded import EmbeddedEngine
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
