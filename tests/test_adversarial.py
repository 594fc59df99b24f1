"""Adversarial regressions: each pins a product behaviour a hostile or careless edit would
otherwise slip past (a loosened tag, policy data nothing decides with, numbers written as
strings or floats)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from evidence_fixtures import compliant_tags, example_manifest
from fixtures_mlflow import RegistryHelper
from helpers import EXAMPLES, POLICIES, mlgate, one_error_line
from mlgate.errors import PolicyError
from mlgate.tags import load_declarations

# The shipped declarations, as the contract and REGULATION.md have them: key -> (type,
# values or item_pattern). A tag loosened in place (an enum made a reference, a value
# added) changes what a version needs to pass; it must be a visible, reviewed edit here.
SHIPPED_TAGS: dict[str, tuple[str, Any]] = {
    "compliance.audience": ("enum", ("public", "enterprise", "internal", "research")),
    "compliance.regions": ("list", "[A-Z]{2}"),
    "compliance.public_opinion": ("boolean", None),
    "compliance.modalities": ("list", ("text", "image", "audio", "video", "code")),
    "compliance.assessment.status": ("enum", ("passed", "failed", "pending", "none")),
    "compliance.assessment.date": ("date", None),
    "compliance.assessment.report": ("reference", None),
    "compliance.data_manifest.sha256": ("digest", None),
    "compliance.filing.status": ("enum", ("completed", "pending", "none")),
    "compliance.filing.id": ("reference", None),
    "compliance.labeling.explicit": ("boolean", None),
    "compliance.labeling.implicit": ("boolean", None),
    "compliance.labeling.producer_code": ("reference", None),
    "compliance.service.user_agreement": ("reference", None),
    "compliance.service.minors": ("reference", None),
    "compliance.service.user_data": ("reference", None),
    "compliance.service.content_handling": ("reference", None),
    "compliance.service.complaints": ("reference", None),
    "compliance.evaluation.run_id": ("reference", None),
    "compliance.attestation.sha256": ("digest", None),
}

LOOSE = {"type": "reference", "description": "anything non-empty will do"}


def _shipped_tag_files() -> dict[str, str]:
    return {
        str(p.relative_to(POLICIES)): p.read_text() for p in sorted(POLICIES.rglob("tags.json"))
    }


def policy_copy(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    return root


# --------------------------------------------------------------------------- tags


def test_the_shipped_tag_declarations_are_pinned() -> None:
    declared = load_declarations(_shipped_tag_files(), "/p")
    got = {d.key: (d.type, d.values or d.item_pattern) for d in declared.tags}
    assert got == SHIPPED_TAGS


@pytest.mark.parametrize("key", sorted(SHIPPED_TAGS))
def test_redeclaring_a_shipped_tag_looser_elsewhere_is_refused(key: str) -> None:
    files = _shipped_tag_files()
    files["gates/zz_loose/tags.json"] = json.dumps({"tags": {key: LOOSE}})
    with pytest.raises(PolicyError, match=rf"gates/zz_loose/tags\.json: {key}: already declared"):
        load_declarations(files, "/p")


def test_policy_check_refuses_a_looser_redeclaration(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    (root / "gates" / "service" / "tags.json").write_text(
        json.dumps(
            {
                "tags": {
                    **json.loads((root / "gates" / "service" / "tags.json").read_text())["tags"],
                    "compliance.filing.status": LOOSE,
                }
            }
        )
    )
    line = one_error_line(mlgate("policy", "check", "--policies", str(root)))
    assert "gates/service/tags.json: compliance.filing.status: already declared in" in line
    assert "gates/filing/tags.json" in line


# --------------------------------------------------------------------------- policy data


def test_policy_check_reports_the_data_of_an_unwired_gate(tmp_path: Path) -> None:
    """The service gate's Rego removed and unwired, its schema and data.json section left:
    nothing decides with that data, and `policy check` says so (exit 2)."""
    root = policy_copy(tmp_path)
    main = root / "main" / "main.rego"
    wired = main.read_text()
    assert '"service", ' in wired
    main.write_text(wired.replace('"service", ', "", 1))
    for path in (root / "gates" / "service").glob("*.rego"):
        path.unlink()
    (root / "gates" / "service" / "tags.json").unlink()
    assert "service" in json.loads((root / "data.json").read_text())["mlgate"]["config"]
    run = mlgate("policy", "check", "--policies", str(root))
    assert run.exit_code == 2, run.stdout + run.stderr
    assert (
        "gates/service/data.schema.json:1: policy data for gate 'service' (its section of "
        "data.json and gates/service/data.schema.json) but no gate 'service' is wired in "
        "required_gates (main/main.rego:"
    ) in run.stdout
    # The same set with the section wired back is clean of that finding.
    main.write_text(wired)
    assert "policy data for gate" not in mlgate("policy", "check", "--policies", str(root)).stdout


# --------------------------------------------------------------------------- safety sampling


def _sampling_set(tmp_path: Path) -> Path:
    root = policy_copy(tmp_path)
    path = root / "data.json"
    data = json.loads(path.read_text())
    data["mlgate"]["config"]["data_manifest"]["require_safety_sampling"] = True
    path.write_text(json.dumps(data))
    return root


def _input_with_sampling(tmp_path: Path, sampling: Any, schema_errors: list[str]) -> Path:
    document = json.loads((EXAMPLES / "gate_input_allowed.json").read_text())
    for dataset in document["manifest"]["content"]["datasets"]:
        dataset["safety_sampling"] = sampling
    document["manifest"]["schema_errors"] = schema_errors
    path = tmp_path / "input.json"
    path.write_text(json.dumps(document))
    return path


def _failing(run: Any) -> dict[str, list[str]]:
    document = json.loads(run.stdout)
    return {
        g["id"]: sorted(v["code"] for v in g["violations"])
        for g in document["gates"]
        if g["status"] == "fail"
    }


def test_safety_sampling_as_strings_is_no_number_end_to_end(tmp_path: Path) -> None:
    root = _sampling_set(tmp_path)
    strings = {"sample_size": "5000", "violation_rate": "0.01"}
    # A document claiming the content is schema-valid is refused: exit 2 naming the field.
    path = _input_with_sampling(tmp_path, strings, [])
    line = one_error_line(mlgate("check", "--input", str(path), "--policies", str(root)))
    assert "field manifest.schema_errors: [], but the content is schema-invalid" in line
    # Said honestly (the errors listed), it is a gate failure: the manifest is schema-invalid.
    path = _input_with_sampling(tmp_path, strings, ["datasets.0.safety_sampling.sample_size"])
    run = mlgate("check", "--input", str(path), "--policies", str(root), "-f", "json")
    assert run.exit_code == 1, run.stdout + run.stderr
    assert "data_manifest.schema_invalid" in _failing(run)["data_manifest"]


@pytest.mark.parametrize(
    ("sample_size", "codes"),
    [
        (4000.0, {}),  # an integral float is the integer: exactly at the minimum passes
        (4000, {}),
        (3999.0, {"data_manifest": ["data_manifest.safety_sample_too_small"] * 2}),
    ],
)
def test_safety_sample_size_as_an_integral_float_end_to_end(
    tmp_path: Path, sample_size: float, codes: dict[str, list[str]]
) -> None:
    root = _sampling_set(tmp_path)
    sampling = {"sample_size": sample_size, "violation_rate": 0.012}
    path = _input_with_sampling(tmp_path, sampling, [])
    run = mlgate("check", "--input", str(path), "--policies", str(root), "-f", "json")
    assert run.exit_code == (1 if codes else 0), run.stdout + run.stderr
    assert _failing(run) == codes


# --------------------------------------------------------------------------- look-alike keys

LOOK_ALIKE = "COMPLIANCE.filing.status"
LOOK_ALIKE_EXPECTED = (
    f"only the tag compliance.filing.status; remove the look-alike tag {LOOK_ALIKE!r}"
)


def _look_alike_input(tmp_path: Path, errors: list[Any]) -> Path:
    """The allowed example with a look-alike of the filing status beside the exact tag,
    the filing status null (contract §7: neither spelling is believed) and ``errors``."""
    document = json.loads((EXAMPLES / "gate_input_allowed.json").read_text())
    document["tags"][LOOK_ALIKE] = "completed"
    document["facts"]["filing"]["status"] = None
    document["facts"]["errors"] = errors
    path = tmp_path / "look-alike.json"
    path.write_text(json.dumps(document))
    return path


def test_a_look_alike_key_blocks_offline_and_its_message_names_the_fix(tmp_path: Path) -> None:
    honest = [{"tag": "compliance.filing.status", "value": "completed",
               "expected": LOOK_ALIKE_EXPECTED}]
    run = mlgate("check", "--input", str(_look_alike_input(tmp_path, honest)), "-f", "json")
    assert run.exit_code == 1, run.stdout + run.stderr
    assert _failing(run) == {"filing": ["filing.status_invalid"]}
    [violation] = [v for g in run.json()["gates"] for v in g["violations"]]
    assert violation["message"] == (
        f"The tag compliance.filing.status is 'completed'; expected {LOOK_ALIKE_EXPECTED}"
    )


@pytest.mark.parametrize(
    ("errors", "names"),
    [
        # the look-alike's error hidden: the facts would read as if nothing were wrong
        ([], "facts.errors"),
        # its text rewritten: the record would tell release managers something else
        ([{"tag": "compliance.filing.status", "value": "completed", "expected": "fine"}],
         "facts.errors"),
        # its text left out, or not text: the gate input schema requires a string
        ([{"tag": "compliance.filing.status", "value": "completed"}], "expected"),
        ([{"tag": "compliance.filing.status", "value": "completed", "expected": 1}],
         "expected"),
    ],
    ids=["hidden", "rewritten", "absent", "not-text"],
)
def test_a_forged_look_alike_error_is_refused_offline(
    tmp_path: Path, errors: list[Any], names: str
) -> None:
    line = one_error_line(mlgate("check", "--input", str(_look_alike_input(tmp_path, errors))))
    assert names in line


def test_a_look_alike_key_on_a_registry_version_blocks_with_the_fix(
    registry: RegistryHelper,
) -> None:
    for key in (LOOK_ALIKE, "compliance.fíling.status"):
        name = registry.unique("chat")
        registry.create_version(name, {**compliant_tags(), key: "completed"},
                                manifest=example_manifest())
        run = mlgate("check", name, "1", *registry.args, "-f", "json")
        assert run.exit_code == 1, run.stdout + run.stderr
        assert _failing(run) == {"filing": ["filing.status_invalid"]}
        [violation] = [v for g in run.json()["gates"] for v in g["violations"]]
        assert f"remove the look-alike tag {key!r}" in violation["message"]
        filing = next(g for g in run.json()["gates"] if g["id"] == "filing")
        assert "Keep only that exact key" in filing["remediation"]
