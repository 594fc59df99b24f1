"""The reusable CI gate workflow (.github/workflows/mlgate-gate.yml) and its docs.

GitHub Actions cannot run here, so the workflow is tested in three ways:

- its shape: a ``workflow_call`` with the documented inputs and secrets, every input
  reaching the shell through ``env:`` (no ``${{ }}`` inside a ``run:`` script);
- its scripts: the ``run:`` scripts of the steps are executed with bash, their ``env:``
  resolved from given inputs as the runner would, against a real local MLflow registry
  (exit codes, the step output, annotations, the job summary, an injection attempt);
- the caller snippets in README.md: linted by actionlint next to a copy of the
  workflow, which makes actionlint check the caller's inputs and secrets against it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest
from helpers import ROOT
from mlgate.demo import demo_models
from report_consumers import github_problems, sarif_schema_errors

WORKFLOW = ROOT / ".github" / "workflows" / "mlgate-gate.yml"
DOC = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent

INPUTS = {
    "model",
    "version",
    "target",
    "tracking-uri",
    "policies",
    "mlgate-version",
    "sarif",
    "code-scanning",
    "sarif-anchor",
}
SECRETS = {
    "tracking-token": "MLFLOW_TRACKING_TOKEN",
    "tracking-username": "MLFLOW_TRACKING_USERNAME",
    "tracking-password": "MLFLOW_TRACKING_PASSWORD",
}
_EXPRESSION = re.compile(r"^\$\{\{\s*(inputs|secrets|job|github)\.([\w-]+)\s*\}\}$")
CALLER_WORKFLOW_REF = "acme/app/.github/workflows/release.yml@refs/heads/main"
_GATE_USES = re.compile(r"uses:\s*\S+/\.github/workflows/mlgate-gate\.yml@\S+")


def load_workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean true.
    return workflow.get("on", workflow.get(True))


def workflow_call() -> dict[str, Any]:
    return triggers(load_workflow())["workflow_call"]


def gate_job() -> dict[str, Any]:
    jobs = load_workflow()["jobs"]
    assert list(jobs) == ["gate", "code-scanning"], jobs
    return jobs["gate"]


def step(key: str) -> dict[str, Any]:
    """The step whose id or name is ``key``."""
    for candidate in gate_job()["steps"]:
        if key in (candidate.get("id"), candidate.get("name")):
            return candidate
    raise AssertionError(f"no step {key!r} in {WORKFLOW.name}")


def uses(action: str) -> dict[str, Any]:
    """The step that uses ``action`` (any version)."""
    (found,) = (s for s in gate_job()["steps"] if s.get("uses", "").startswith(f"{action}@"))
    return found


def run_steps() -> list[dict[str, Any]]:
    return [s for s in gate_job()["steps"] if "run" in s]


# --------------------------------------------------------------------------- shape


def test_it_is_a_reusable_workflow_with_the_documented_inputs_and_secrets() -> None:
    on = triggers(load_workflow())
    assert list(on) == ["workflow_call"], "callable only, never triggered by itself"
    call = on["workflow_call"]
    inputs = call["inputs"]
    assert set(inputs) == INPUTS, set(inputs)
    for name in ("model", "version", "tracking-uri"):
        assert inputs[name]["required"] is True, name
        assert inputs[name]["type"] == "string", name
    assert inputs["target"]["default"] == "production"
    for name in ("target", "policies", "mlgate-version"):
        assert inputs[name]["required"] is False, name
    for name in ("sarif", "code-scanning"):
        assert inputs[name] == {**inputs[name], "type": "boolean", "default": False}, name
    assert inputs["sarif-anchor"] == {**inputs["sarif-anchor"], "type": "string", "default": ""}
    assert set(call["secrets"]) == set(SECRETS)
    assert call["outputs"]["decision"]["value"] == "${{ jobs.gate.outputs.decision }}"


def test_secrets_become_the_mlflow_credential_variables_of_the_mlgate_steps_only() -> None:
    job = gate_job()
    assert not any("secrets." in str(v) for v in job.get("env", {}).values()), (
        "secrets belong to the steps that run mlgate, not to every action of the job"
    )
    for key in ("check", "sarif"):
        env = step(key)["env"]
        for secret, variable in SECRETS.items():
            assert env[variable] == f"${{{{ secrets.{secret} }}}}", (key, variable)
    for action in (s for s in job["steps"] if "uses" in s):
        assert "secrets." not in json.dumps(action), action


def test_no_run_script_interpolates_an_expression() -> None:
    """Script injection: an input spliced into a script is code. Everything goes via env."""
    scripts = run_steps()
    assert len(scripts) >= 3
    for script in scripts:
        assert "${{" not in script["run"], f"{script.get('name')}: use env:, not ${{{{ }}}}"
    # Every expression of the job sits in an env: mapping, an if: condition, or an output.
    places = {path for path, _ in expressions(gate_job())}
    assert places, "the job reads its inputs"
    for path in places:
        assert "env" in path[:-1] or path[-1] == "if" or path[0] == "outputs", path


def expressions(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """(path, value) of every string in ``node`` holding a ``${{ }}`` expression."""
    if isinstance(node, dict):
        return [e for k, v in node.items() for e in expressions(v, (*path, k))]
    if isinstance(node, list):
        return [e for i, v in enumerate(node) for e in expressions(v, (*path, i))]
    return [(path, node)] if isinstance(node, str) and "${{" in node else []


def test_it_runs_mlgate_check_with_the_github_format_and_keeps_its_exit_code() -> None:
    check = step("check")
    script = check["run"]
    assert re.search(
        r'mlgate check "\$MODEL" "\$VERSION" --target "\$TARGET"\s*\\\s*'
        r'--tracking-uri "\$TRACKING_URI" "\$\{policy_args\[@\]\}" --format github',
        script,
    ), script
    assert script.rstrip().endswith('exit "$status"')
    assert "continue-on-error" not in check
    job = gate_job()
    assert job["env"] == {
        "MODEL": "${{ inputs.model }}",
        "VERSION": "${{ inputs.version }}",
        "TARGET": "${{ inputs.target }}",
        "TRACKING_URI": "${{ inputs.tracking-uri }}",
        "POLICIES": "${{ inputs.policies }}",
    }
    assert job["defaults"]["run"]["shell"] == "bash"


def test_it_installs_mlgate_from_the_called_workflows_repository_and_commit() -> None:
    """github.repository / github.sha name the *caller* inside a called workflow."""
    install = step("Install mlgate")
    assert install["env"]["WORKFLOW_REPOSITORY"] == "${{ job.workflow_repository }}"
    assert install["env"]["WORKFLOW_SHA"] == "${{ job.workflow_sha }}"
    assert install["env"]["MLGATE_SPEC"] == "${{ inputs.mlgate-version }}"
    for _, value in expressions(load_workflow()):
        assert "github.repository" not in value and "github.sha" not in value, value
    assert (
        'MLGATE_SPEC="mlgate @ git+${GITHUB_SERVER_URL}/${WORKFLOW_REPOSITORY}@${WORKFLOW_SHA}"'
        in install["run"]
    )
    setup = uses("actions/setup-python")
    assert str(setup["with"]["python-version"]) == "3.11"


def test_the_callers_repository_is_checked_out_only_for_its_policies() -> None:
    checkout = uses("actions/checkout")
    assert checkout["if"] == "${{ inputs.policies != '' }}"
    assert checkout["with"]["persist-credentials"] is False


# --------------------------------------------------------------------------- the scripts


@dataclass
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    workspace: Path


def run_step(
    key: str,
    workspace: Path,
    inputs: dict[str, Any],
    *,
    secrets: dict[str, str] | None = None,
    job: dict[str, str] | None = None,
    github: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> StepRun:
    """Run one step's ``run:`` script as the runner would: bash -eo pipefail, in the
    workspace, with the job's and the step's ``env:`` resolved from inputs and secrets."""
    call = workflow_call()
    values = {
        "inputs": {
            name: inputs.get(name, spec.get("default", ""))
            for name, spec in call["inputs"].items()
        },
        "secrets": {name: (secrets or {}).get(name, "") for name in call["secrets"]},
        "job": job or {},
        "github": github or {},
    }
    unknown = set(inputs) - set(call["inputs"])
    assert not unknown, f"not inputs of the workflow: {unknown}"

    def resolve(value: Any) -> str:
        match = _EXPRESSION.match(str(value))
        if not match:
            assert "${{" not in str(value), f"cannot resolve {value!r} here"
            return str(value)
        resolved = values[match.group(1)].get(match.group(2), "")
        return str(resolved).lower() if isinstance(resolved, bool) else str(resolved)

    definition = step(key)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLGATE_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    temp = workspace / ".runner-temp"
    temp.mkdir(exist_ok=True)
    output, summary = temp / "github_output", temp / "step_summary"
    output.touch()
    summary.touch()
    env.update(
        RUNNER_TEMP=str(temp),
        GITHUB_OUTPUT=str(output),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_WORKSPACE=str(workspace),
    )
    env.update({k: resolve(v) for k, v in gate_job().get("env", {}).items()})
    env.update({k: resolve(v) for k, v in definition.get("env", {}).items()})
    env.update(extra_env or {})
    script = temp / f"step-{abs(hash(key))}.sh"
    script.write_text(definition["run"], encoding="utf-8")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    outputs = dict(
        line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
    )
    return StepRun(
        done.returncode, done.stdout, done.stderr, outputs, summary.read_text(), workspace
    )


def demo_blocked_tags() -> dict[str, str]:
    """The evidence of ``mlgate demo``'s blocked model, as README.md shows it."""
    (model,) = (m for m in demo_models(date.today()) if m.name == "demo-image-generator")
    assert model.expected == "blocked"
    return model.tags


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    return folder


def test_a_blocked_version_fails_the_step_with_annotations_and_a_summary(
    registry: RegistryHelper, workspace: Path
) -> None:
    registry.create_version(
        "demo-image-generator", demo_blocked_tags(), manifest=example_manifest()
    )
    run = run_step(
        "check",
        workspace,
        {"model": "demo-image-generator", "version": "1", "tracking-uri": registry.tracking_uri},
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.outputs == {"decision": "blocked"}
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error ")]
    assert [line.split("::")[1] for line in errors] == [
        "error title=Algorithm filing completed (filing.id_missing)",
        "error title=Algorithm filing completed (filing.not_completed)",
        "error title=Generated-content labeling enabled (labeling.implicit_disabled)",
    ]
    assert run.stdout.splitlines()[-1] == (
        "mlgate: demo-image-generator v1 -> production: BLOCKED (enforcement deny); "
        "failing: filing, labeling"
    )
    assert "### mlgate: demo-image-generator v1 -\\> production: BLOCKED" in run.summary

    # README.md pastes this output: it must still be what mlgate prints.
    doc = DOC.read_text(encoding="utf-8")
    for line in run.stdout.splitlines():
        assert line in doc, f"README.md is out of date: {line}"
    quoted = {line[1:].strip() for line in doc.splitlines() if line.startswith(">")}
    for line in run.summary.splitlines():
        if line.strip() and not line.startswith("Decision `"):
            assert line.strip() in quoted, f"README.md summary is out of date: {line}"


def test_an_allowed_version_passes_and_a_warn_target_passes_with_warnings(
    registry: RegistryHelper, workspace: Path
) -> None:
    registry.create_version("chat", compliant_tags(), manifest=example_manifest())
    registry.create_version("images", demo_blocked_tags(), manifest=example_manifest())
    allowed = run_step(
        "check", workspace,
        {"model": "chat", "version": "1", "tracking-uri": registry.tracking_uri},
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert allowed.outputs == {"decision": "allowed"}
    assert "::error" not in allowed.stdout
    warned = run_step(
        "check", workspace,
        {"model": "images", "version": "1", "target": "staging",
         "tracking-uri": registry.tracking_uri},
    )
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert warned.outputs == {"decision": "allowed"}
    assert "::warning title=Algorithm filing completed (filing.not_completed)::" in warned.stdout


def test_an_injection_attempt_in_an_input_is_data(
    registry: RegistryHelper, workspace: Path
) -> None:
    """A model name that would run a command if spliced into the script stays a name:
    mlgate reports that no such model exists (exit 2), nothing runs."""
    run = run_step(
        "check",
        workspace,
        {"model": 'x"; touch pwned; echo "$(touch pwned2)', "version": "1",
         "tracking-uri": registry.tracking_uri},
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.outputs == {"decision": "error"}
    assert not (workspace / "pwned").exists() and not (workspace / "pwned2").exists()
    annotations = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1, run.stdout
    assert annotations[0].startswith(
        "::error title=mlgate could not decide (exit 2)::mlgate: error:"
    )
    assert "pwned" in annotations[0]  # the name, reported as data
    assert "mlgate: error:" in run.stderr


def test_caller_policies_are_used_from_the_workspace(
    registry: RegistryHelper, workspace: Path
) -> None:
    registry.create_version("chat", compliant_tags(), manifest=example_manifest())
    shutil.copytree(ROOT / "policies", workspace / "compliance" / "policies")
    inputs = {"model": "chat", "version": "1", "tracking-uri": registry.tracking_uri}
    used = run_step("check", workspace, {**inputs, "policies": "compliance/policies"})
    assert used.returncode == 0, used.stdout + used.stderr
    missing = run_step("check", workspace, {**inputs, "policies": "no/such/dir"})
    assert missing.returncode == 2
    assert missing.outputs == {"decision": "error"}
    assert "no/such/dir" in missing.stdout and "policy directory not found" in missing.stdout


def test_the_sarif_step_writes_a_report_for_a_blocked_version(
    registry: RegistryHelper, workspace: Path
) -> None:
    """No caller policies, so no checkout: the alerts point at the caller's workflow."""
    registry.create_version("images", demo_blocked_tags(), manifest=example_manifest())
    inputs = {"model": "images", "version": "1", "tracking-uri": registry.tracking_uri}
    caller = {"workflow_ref": CALLER_WORKFLOW_REF}
    run = run_step("sarif", workspace, {**inputs, "sarif": True}, github=caller)
    assert run.returncode == 0, run.stdout + run.stderr  # blocked is expected here
    assert run.outputs == {"category": "mlgate/images/production"}
    sarif = json.loads((workspace / "mlgate.sarif").read_text(encoding="utf-8"))
    assert sarif_schema_errors(sarif) == [] and github_problems(sarif) == []
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {
        "filing.id_missing", "filing.not_completed", "labeling.implicit_disabled"
    }
    assert {json.dumps(r["locations"][0]["physicalLocation"]) for r in results} == {
        json.dumps({"artifactLocation": {"uri": ".github/workflows/release.yml"},
                    "region": {"startLine": 1}})
    }
    anchored = run_step(
        "sarif", workspace, {**inputs, "code-scanning": True, "sarif-anchor": "ml/README.md:4"},
        github=caller,
    )
    assert anchored.returncode == 0, anchored.stdout + anchored.stderr
    sarif = json.loads((workspace / "mlgate.sarif").read_text(encoding="utf-8"))
    physical = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "ml/README.md"
    assert physical["region"]["startLine"] == 4
    fresh = workspace / "another-run"
    fresh.mkdir()
    error = run_step(
        "sarif", fresh,
        {"model": "nope", "version": "1", "tracking-uri": registry.tracking_uri},
        github=caller,
    )
    assert error.returncode != 0  # an error (exit 2) still fails the step
    assert "category" not in error.outputs


def test_the_sarif_step_points_at_the_callers_rules(
    registry: RegistryHelper, workspace: Path
) -> None:
    """Caller policies are checked out: each alert points at its rule's METADATA."""
    registry.create_version("images", demo_blocked_tags(), manifest=example_manifest())
    shutil.copytree(ROOT / "policies", workspace / "compliance" / "policies")
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    run = run_step(
        "sarif", workspace,
        {"model": "images", "version": "1", "tracking-uri": registry.tracking_uri,
         "code-scanning": True, "policies": "compliance/policies"},
        github={"workflow_ref": CALLER_WORKFLOW_REF},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    sarif = json.loads((workspace / "mlgate.sarif").read_text(encoding="utf-8"))
    assert github_problems(sarif) == []
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
    }
    assert uris == {
        "compliance/policies/gates/filing/filing.rego",
        "compliance/policies/gates/labeling/labeling.rego",
    }


def test_code_scanning_uploads_the_report_with_its_category_when_asked() -> None:
    workflow = load_workflow()
    assert "permissions" not in workflow, "a workflow-level cap would bind the upload job too"
    assert gate_job()["permissions"] == {"contents": "read"}
    assert gate_job()["outputs"]["sarif-category"] == "${{ steps.sarif.outputs.category }}"
    job = workflow["jobs"]["code-scanning"]
    assert job["needs"] == "gate"
    assert job["if"] == (
        "${{ !cancelled() && inputs.code-scanning && needs.gate.outputs.sarif-category != '' }}"
    )
    # Declared here, security-events: write would be checked against every caller.
    assert "permissions" not in job
    download, upload = job["steps"]
    assert download["uses"].startswith("actions/download-artifact@")
    assert download["with"] == {"name": "mlgate-sarif"}
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["with"] == {
        "sarif_file": "mlgate.sarif",
        "category": "${{ needs.gate.outputs.sarif-category }}",
    }
    assert "inputs.code-scanning" in step("sarif")["if"]
    assert "inputs.code-scanning" in step("Upload the SARIF report")["if"]


def test_install_without_a_workflow_context_asks_for_mlgate_version(workspace: Path) -> None:
    """Where the runner has no job.workflow_* (older GHES), the step fails with the fix
    before pip runs."""
    run = run_step("Install mlgate", workspace, {}, job={})
    assert run.returncode == 2
    assert "::error title=mlgate install::" in run.stdout
    assert "set the mlgate-version input" in run.stdout


# --------------------------------------------------------------------------- the docs


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def actionlint() -> str:
    found = shutil.which("actionlint") or str(VENV_BIN / "actionlint")
    assert Path(found).exists(), "actionlint is not installed (pip install -e '.[test]')"
    return found


def lint_with_the_gate(tmp_path: Path, callers: dict[str, str]) -> subprocess.CompletedProcess:
    """actionlint the caller workflows in a scratch repository holding a copy of the gate.

    actionlint resolves ``./.github/workflows/…`` against the repository root (found by
    its ``.git``) and checks the call's inputs and secrets against the called workflow.
    """
    repo = tmp_path / "repo"
    workflows = repo / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (repo / ".git").mkdir()
    shutil.copyfile(WORKFLOW, workflows / WORKFLOW.name)
    paths = []
    for name, text in callers.items():
        (workflows / name).write_text(text, encoding="utf-8")
        paths.append(f".github/workflows/{name}")
    return subprocess.run(
        [actionlint(), "-no-color", *paths, f".github/workflows/{WORKFLOW.name}"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def as_local_call(snippet: str) -> str:
    return _GATE_USES.sub("uses: ./.github/workflows/mlgate-gate.yml", snippet)


def test_the_documented_snippets_pass_actionlint_against_the_workflow(tmp_path: Path) -> None:
    blocks = yaml_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 3, "the caller snippet, the `mlgate promote` step, code scanning"
    caller, direct, scanning = blocks
    assert _GATE_USES.search(caller), "the caller snippet calls OWNER/REPO/...mlgate-gate.yml@REF"
    assert "mlgate promote" in direct
    assert _GATE_USES.search(scanning) and "code-scanning: true" in scanning
    assert "security-events: write" in scanning
    done = lint_with_the_gate(
        tmp_path,
        {
            "caller.yml": as_local_call(caller),  # inputs/secrets checked against the gate
            "caller-remote.yml": caller,  # as a user copies it
            "direct.yml": direct,
            "scanning.yml": as_local_call(scanning),
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (lambda s: s.replace("      model: chatbot\n", "      modell: chatbot\n"),
         'input "modell" is not defined'),
        (lambda s: s.replace("      model: chatbot\n", ""), 'input "model" is required'),
        (lambda s: s.replace("tracking-token:", "tracking-tokn:"),
         'secret "tracking-tokn" is not defined'),
    ],
    ids=["unknown-input", "missing-required-input", "unknown-secret"],
)
def test_actionlint_does_check_the_call_against_the_workflow(
    tmp_path: Path, change: Any, finding: str
) -> None:
    """The control for the test above: a wrong call is caught, so a pass means something."""
    caller = as_local_call(yaml_blocks(DOC.read_text(encoding="utf-8"))[0])
    broken = change(caller)
    assert broken != caller
    done = lint_with_the_gate(tmp_path, {"caller.yml": broken})
    assert done.returncode == 1
    assert finding in done.stdout, done.stdout
