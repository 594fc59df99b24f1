"""``mlgate policy test`` and ``mlgate policy check`` on the bundled and on broken policies."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from fixtures_opa import require_opa_golib
from helpers import POLICIES, mlgate
from mlgate.engine import golib


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    return copy


@pytest.mark.parametrize("engine", ["embedded", "opa"])
def test_bundled_policy_tests_pass_with_coverage(engine: str) -> None:
    if engine == "opa":
        require_opa_golib()
    run = mlgate("policy", "test", "--coverage", "--engine", engine)
    assert run.exit_code == 0, run.stdout + run.stderr
    passed = re.search(r"^(\d+) passed, 0 failed$", run.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) >= 38  # at least one per violation code
    for gate in ("scope", "filing", "assessment", "labeling", "data_manifest"):
        assert re.search(rf"%\s+gates/{gate}/{gate}\.rego", run.stdout), gate


@pytest.mark.parametrize("engine", ["embedded", "opa"])
def test_a_failing_test_is_reported_and_exits_1(policies: Path, engine: str) -> None:
    if engine == "opa":
        require_opa_golib()
    (policies / "gates" / "filing" / "extra_test.rego").write_text(
        "package mlgate.gates.filing_extra_test\n\n"
        "test_passes if true\n\n"
        "test_fails if 1 == 2\n\n"
        "test_errors if 1 / 0 == 1\n"
    )
    run = mlgate(
        "policy", "test", "--policies", str(policies), "--run", "filing_extra_test",
        "--engine", engine,
    )  # fmt: skip
    assert run.exit_code == 1
    failed = "data.mlgate.gates.filing_extra_test.test_fails: undefined"
    assert f"FAIL gates/filing/extra_test.rego: {failed}" in run.stdout
    assert "test_errors: " in run.stdout and "test_passes" not in run.stdout
    assert run.stdout.strip().endswith("1 passed, 2 failed")


def test_verbose_lists_passing_tests(policies: Path) -> None:
    (policies / "lib" / "tiny_test.rego").write_text("package tiny_test\n\ntest_ok if true\n")
    run = mlgate("policy", "test", "--policies", str(policies), "--run", "tiny_test", "-v")
    assert run.exit_code == 0
    assert "PASS lib/tiny_test.rego: data.tiny_test.test_ok" in run.stdout


def test_no_tests_is_an_error(policies: Path) -> None:
    run = mlgate("policy", "test", "--policies", str(policies), "--run", "no_such_test_name")
    assert run.exit_code == 2 and "no test_* rules" in run.stderr


def test_policy_test_with_a_syntax_error_exits_2(policies: Path) -> None:
    (policies / "lib" / "broken_test.rego").write_text("package broken_test\n\ntest_x if {\n")
    run = mlgate("policy", "test", "--policies", str(policies))
    assert run.exit_code == 2 and "broken_test.rego:" in run.stderr


def test_bundled_policies_pass_check() -> None:
    run = mlgate("policy", "check")
    assert run.exit_code == 0, run.stdout
    assert run.stdout.startswith("ok: ")


def test_check_reports_parse_errors_with_file_and_line(policies: Path) -> None:
    (policies / "gates" / "scope" / "scope.rego").write_text(
        (policies / "gates" / "scope" / "scope.rego").read_text() + "\nbroken if {\n"
    )
    run = mlgate("policy", "check", "--policies", str(policies))
    assert run.exit_code == 2
    assert re.search(r"^gates/scope/scope\.rego:\d+: parse error: ", run.stdout, re.MULTILINE)


def test_check_reports_missing_metadata_fields(policies: Path) -> None:
    path = policies / "gates" / "filing" / "filing.rego"
    path.write_text(
        path.read_text().replace("#   solution: Set compliance.filing.id", "#   fix: x", 1)
    )
    run = mlgate("policy", "check", "--policies", str(policies))
    assert run.exit_code == 2
    assert re.search(r"gates/filing/filing\.rego:\d+: METADATA is missing solution", run.stdout)


def test_check_reports_duplicate_codes(policies: Path) -> None:
    path = policies / "gates" / "filing" / "filing.rego"
    path.write_text(
        path.read_text().replace('"code": "filing.id_missing"', '"code": "filing.status_missing"')
    )
    run = mlgate("policy", "check", "--policies", str(policies))
    assert run.exit_code == 2
    assert "duplicate code filing.status_missing" in run.stdout
    assert "short_name id_missing does not match code filing.status_missing" in run.stdout


def test_check_finds_unsupported_functions_even_behind_a_false_guard(policies: Path) -> None:
    path = policies / "gates" / "scope" / "scope.rego"
    source = path.read_text().replace(
        "result := lib.gate_result(true, violations)",
        "result := lib.gate_result(true, violations)\n\nnever if {\n\tfalse\n\thttp.nope({})\n}",
    )
    path.write_text(source)
    run = mlgate("policy", "check", "--policies", str(policies))
    assert run.exit_code == 2
    assert re.search(r"scope\.rego:\d+: function http\.nope is not supported", run.stdout)


def test_check_reports_a_call_to_an_undefined_library_function(policies: Path) -> None:
    path = policies / "gates" / "filing" / "filing.rego"
    path.write_text(path.read_text().replace("lib.gate_result(applies", "lib.gate_outcome(applies"))
    run = mlgate("policy", "check", "--policies", str(policies))
    assert run.exit_code == 2 and "call to undefined function lib.gate_outcome" in run.stdout


# --------------------------------------------------------------------------- OPA
# OPA's own Go library (opa-golib-python-bindings), installed by `make test` and .ci/run.


def test_bundled_policy_tests_pass_on_opa() -> None:
    require_opa_golib()
    run = mlgate("policy", "test", "--engine", "opa", "-v")
    assert run.exit_code == 0, run.stdout + run.stderr
    embedded = mlgate("policy", "test", "-v")
    assert run.stdout == embedded.stdout  # the same tests, the same verdicts


def test_policy_test_on_opa_without_opas_library_exits_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(golib, "unavailable_reason", lambda: "opa_bindings: not here")
    run = mlgate("policy", "test", "--engine", "opa")
    assert run.exit_code == 2
    assert "opa_bindings: not here" in run.stderr and "Traceback" not in run.stderr


def test_bundled_policies_pass_opas_compile_check() -> None:
    require_opa_golib()
    run = mlgate("policy", "check")
    assert run.exit_code == 0, run.stdout
    assert f"; OPA {golib.OPA_VERSION} compiles them" in run.stdout


def test_check_reports_opas_type_error_with_file_and_line(policies: Path) -> None:
    """A type error regorus lets through (it types nothing before evaluation)."""
    require_opa_golib()
    path = policies / "gates" / "scope" / "scope.rego"
    source = path.read_text().replace(
        "result := lib.gate_result(true, violations)",
        "result := lib.gate_result(true, violations)\n\nnever if {\n\tfalse\n\tcount(1) > 0\n}",
    )
    path.write_text(source)
    line = source.splitlines().index("\tcount(1) > 0") + 1
    run = mlgate("policy", "check", "--policies", str(policies))
    assert run.exit_code == 2
    want = f"gates/scope/scope.rego:{line}: OPA {golib.OPA_VERSION}: rego_type_error: count:"
    assert run.stdout.splitlines()[0].startswith(want), run.stdout


def test_check_without_opas_library_says_it_was_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(golib, "unavailable_reason", lambda: "opa_bindings: not here")
    run = mlgate("policy", "check")
    assert run.exit_code == 0
    assert "note: OPA's compile check skipped: opa_bindings: not here" in run.stderr
    assert "OPA" not in run.stdout
