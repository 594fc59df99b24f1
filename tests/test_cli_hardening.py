"""Issue 9, A.10: crashes, hangs and raw escapes in the CLI.

Every bad document is one line, exit 2, naming the file (never ``internal error``);
an attached manifest that is unreadable is a gate failure (exit 1), not an error on every
check; a hung tracking server is given up within ``--registry-timeout``; control
characters in tag values never reach a human-facing report raw.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest
from helpers import EXAMPLES, POLICIES, mlgate, one_error_line
from mlgate.jsondoc import MAX_DEPTH, DocumentError, loads

BLOCKED = EXAMPLES / "gate_input_blocked.json"
MANIFEST = EXAMPLES / "data_manifest.json"
ESC = "\x1b[2J\x1b[31mEVIL\x07"


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def _no_internal_error(line: str) -> None:
    assert "internal error" not in line and "Recursion" not in line, line


# --------------------------------------------------------------------------- gate input


def test_invalid_utf8_gate_input_is_one_line(tmp_path: Path) -> None:
    bad = _write(tmp_path, "latin1.json", BLOCKED.read_bytes().replace(b"chatbot", b"chatb\xf6t"))
    line = one_error_line(mlgate("check", "--input", str(bad)))
    _no_internal_error(line)
    assert "latin1.json" in line and "not UTF-8" in line


@pytest.mark.parametrize("command", ["check", "validate", "attach"])
def test_json_nested_a_thousand_deep_is_one_line_naming_the_file(
    tmp_path: Path, command: str
) -> None:
    deep = _write(tmp_path, "deep.json", '{"a": ' + _deep(1000) + "}")
    args = {
        "check": ["check", "--input", str(deep)],
        "validate": ["manifest", "validate", str(deep)],
        # The file is refused before the registry is opened: no registry needed.
        "attach": ["manifest", "attach", "m", "1", str(deep), "--tracking-uri",
                   f"sqlite:///{tmp_path / 'absent.db'}"],
    }[command]
    line = one_error_line(mlgate(*args))
    _no_internal_error(line)
    assert "deep.json" in line and "levels deep" in line


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ('{"input_version": 1, "input_version": 1}', "input_version"),
        ('{"model": {"name": "a", "name": "b", "version": "1"}}', "name"),
    ],
)
def test_duplicate_key_in_gate_input_is_refused(tmp_path: Path, document: str, key: str) -> None:
    path = _write(tmp_path, "dup.json", document)
    line = one_error_line(mlgate("check", "--input", str(path)))
    assert "dup.json" in line and f"duplicate key '{key}'" in line


def test_duplicate_key_in_a_full_gate_input_is_refused(tmp_path: Path) -> None:
    # The blocked example with its enforcement written twice: last-wins would read "warn".
    text = BLOCKED.read_text(encoding="utf-8")
    text = text.replace('"enforcement": "deny"', '"enforcement": "deny", "enforcement": "warn"')
    assert text.count('"enforcement"') == 2
    line = one_error_line(mlgate("check", "--input", str(_write(tmp_path, "g.json", text))))
    assert "duplicate key 'enforcement'" in line


def test_number_overflowing_to_infinity_is_refused(tmp_path: Path) -> None:
    doc = json.loads(BLOCKED.read_text(encoding="utf-8"))
    text = json.dumps(doc).replace(f'"now_ns": {doc["now_ns"]}', '"now_ns": 1e400')
    line = one_error_line(mlgate("check", "--input", str(_write(tmp_path, "inf.json", text))))
    assert "inf.json" in line and "not a finite number" in line


# --------------------------------------------------------------------------- manifests


def test_lone_surrogate_manifest_is_refused_by_validate_and_attach(tmp_path: Path) -> None:
    text = MANIFEST.read_text(encoding="utf-8").replace('"name": "', '"name": "\\ud800', 1)
    path = _write(tmp_path, "surrogate.json", text)
    for args in (
        ["manifest", "validate", str(path)],
        ["manifest", "attach", "m", "1", str(path), "--tracking-uri",
         f"sqlite:///{tmp_path / 'absent.db'}"],
    ):
        line = one_error_line(mlgate(*args))
        assert "surrogate.json" in line and "lone surrogate" in line


def test_duplicate_key_in_manifest_is_refused(tmp_path: Path) -> None:
    text = MANIFEST.read_text(encoding="utf-8").replace(
        '"quality_measures"', '"quality_measures": [], "quality_measures"', 1
    )
    line = one_error_line(mlgate("manifest", "validate", str(_write(tmp_path, "d.json", text))))
    assert "d.json" in line and "duplicate key 'quality_measures'" in line


def test_unknown_field_nested_deep_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    manifest = example_manifest()
    nested: object = "x"
    for _ in range(125):
        nested = {"n": nested}
    manifest["extra"] = nested
    path = _write(tmp_path, "deep-field.json", json.dumps(manifest))
    line = one_error_line(mlgate("manifest", "validate", str(path)))
    assert "deep-field.json" in line and "nested more than" in line


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            MANIFEST.read_text(encoding="utf-8").replace('"name": "', '"name": "\\ud800', 1),
            id="lone-surrogate",
        ),
        pytest.param(
            MANIFEST.read_text(encoding="utf-8").rstrip().rstrip("}")
            + ', "extra": ' + '{"n": ' * 125 + "1" + "}" * 125 + "}",
            id="unknown-field-125-deep",
        ),
    ],
)
def test_attached_unreadable_manifest_is_a_gate_failure(
    registry: RegistryHelper, content: str
) -> None:
    """A manifest attached before mlgate refused such files: every check must block with
    a data_manifest violation (exit 1), not fail with an error (exit 2) or break the engine."""
    from mlgate.facts import sha256_hex

    registry.create_version("chat", compliant_tags(), manifest=example_manifest())
    data = content.encode()
    registry.overwrite_manifest("chat", "1", data)
    registry.client.set_model_version_tag(
        "chat", "1", "compliance.data_manifest.sha256", sha256_hex(data)
    )
    run = mlgate("check", "chat", "1", *registry.args, "-f", "json")
    assert run.exit_code == 1, run.stderr
    gates = {g["id"]: g for g in run.json()["gates"]}
    assert gates["data_manifest"]["status"] == "fail"


# --------------------------------------------------------------------------- policy files


def test_duplicate_key_in_waivers_and_data_is_refused(tmp_path: Path) -> None:
    import shutil

    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    (policies / "waivers.json").write_text('{"waivers": [], "waivers": []}')
    line = one_error_line(mlgate("policy", "check", "--policies", str(policies)))
    assert "waivers.json" in line and "duplicate key 'waivers'" in line
    (policies / "waivers.json").write_text('{"waivers": []}')
    data = (policies / "data.json").read_text(encoding="utf-8")
    (policies / "data.json").write_text(data.replace("{", '{"mlgate": {}, ', 1))
    line = one_error_line(mlgate("policy", "check", "--policies", str(policies)))
    assert "data.json" in line and "duplicate key 'mlgate'" in line


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_bad_opa_timeout_is_one_line(value: str) -> None:
    line = one_error_line(mlgate("check", "--input", str(BLOCKED), "--opa-timeout", value))
    _no_internal_error(line)
    assert "--opa-timeout" in line


def test_bad_opa_timeout_on_policy_push_is_one_line() -> None:
    line = one_error_line(
        mlgate("policy", "push", "--opa-url", "http://127.0.0.1:9", "--opa-timeout", "nan")
    )
    assert "--opa-timeout" in line


def test_bad_test_filter_regex_is_one_line() -> None:
    line = one_error_line(mlgate("policy", "test", "--run", "["))
    _no_internal_error(line)
    assert "--run '['" in line and "regular expression" in line


@pytest.mark.parametrize("value", ["0", "-5"])
def test_bad_registry_timeout_is_one_line(value: str) -> None:
    line = one_error_line(
        mlgate("check", "m", "1", "--tracking-uri", "http://127.0.0.1:9",
               "--registry-timeout", value)
    )
    assert "--registry-timeout" in line


def test_option_default_matches_the_library_default() -> None:
    from mlgate.commands.options import DEFAULT_REGISTRY_TIMEOUT as option_default
    from mlgate.evidence import DEFAULT_REGISTRY_TIMEOUT, answer_deadline, http_bounds

    assert option_default == DEFAULT_REGISTRY_TIMEOUT == 15
    for timeout in (1, 2, 3, 15, 60):
        assert 0 < answer_deadline(http_bounds(timeout)) <= timeout


# --------------------------------------------------------------------------- hung server


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A real TCP server on 127.0.0.1 that accepts connections and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)  # held open, never read from or written to

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


def _run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A separate process: MLflow reads its HTTP settings from the environment."""
    return subprocess.run(
        [sys.executable, "-c", "from mlgate.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,  # a hang guard for the test itself, not a timing assertion
        check=False,
    )


def test_hung_tracking_server_is_given_up_with_no_answer_within(silent_server: str) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST")}
    env["MLGATE_REGISTRY_TIMEOUT"] = "2"
    done = _run_cli("check", "chat", "1", "--tracking-uri", silent_server, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no answer within 2 s" in lines[0] and silent_server in lines[0]
    assert "connection failed" not in lines[0]


def test_default_registry_timeout_is_fifteen_seconds() -> None:
    from mlgate.evidence import answer_deadline, configure_cli_environment

    env: dict[str, str] = {}
    configure_cli_environment(env)
    assert answer_deadline(env) <= 15
    assert int(env["MLFLOW_HTTP_REQUEST_TIMEOUT"]) >= 5  # not so short a slow server fails


# --------------------------------------------------------------------------- escapes


def _escaped_input(tmp_path: Path) -> Path:
    doc = json.loads(BLOCKED.read_text(encoding="utf-8"))
    doc["facts"]["audience"] = None
    doc["facts"]["errors"] = [
        {
            "tag": "compliance.audience",
            "value": ESC,
            "expected": "one of public, enterprise, internal, research",
        }
    ]
    doc["tags"]["compliance.audience"] = ESC
    return _write(tmp_path, "escapes.json", json.dumps(doc))


@pytest.mark.parametrize("fmt", ["table", "markdown", "github"])
def test_escape_sequences_in_tag_values_do_not_reach_human_reports(
    tmp_path: Path, fmt: str
) -> None:
    run = mlgate("check", "--input", str(_escaped_input(tmp_path)), "-f", fmt)
    assert run.exit_code == 1, run.stderr
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout
    assert "x1b" in run.stdout  # shown, visibly (markdown escapes the backslash)


def test_json_report_keeps_the_value_escaped_by_json(tmp_path: Path) -> None:
    run = mlgate("check", "--input", str(_escaped_input(tmp_path)), "-f", "json")
    assert "\x1b" not in run.stdout
    violations = [v for g in run.json()["gates"] for v in g["violations"]]
    assert any(ESC in v["message"] for v in violations)  # the text itself, unaltered


def test_escape_sequences_do_not_reach_mlgate_log(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags(audience=ESC))
    log = f"sqlite:///{registry.root / 'decisions.db'}"
    run = mlgate("promote", "chat", "1", "--alias", "production", *registry.args,
                 "--decision-log", log)
    assert run.exit_code == 1, run.stderr
    shown = mlgate("log", "--decision-log", log)
    assert shown.exit_code == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "\\x1b[2J" in shown.stdout


def test_error_lines_escape_control_characters(tmp_path: Path) -> None:
    line = one_error_line(mlgate("check", "--input", str(tmp_path / f"{ESC}.json")))
    assert "\x1b" not in line and "\\x1b" in line


def test_loads_raises_document_errors_only() -> None:
    for text in ('{"a": 1, "a": 2}', _deep(MAX_DEPTH + 1), '"\\udc00"', "1" * 5000, "-1e999"):
        with pytest.raises(DocumentError):
            loads(text)
    # Brackets inside a string are text: they neither hide nor add depth.
    with pytest.raises(DocumentError):
        loads('[[["]]]]]]]]", ' + _deep(MAX_DEPTH) + "]]]")
    assert loads('["' + "[" * 500 + '"]') == ["[" * 500]
    assert loads(_deep(MAX_DEPTH)) is not None
    assert loads('"\\ud83d\\ude00"') == "\U0001f600"  # a surrogate pair is a character
    assert loads('"\\\\ud800"') == "\\ud800"  # an escaped backslash, not an escape
