"""``mlgate evidence template``: what the policy set asks a version to carry.

It prints the tags, evaluation metrics and manifest fields the current policy set
requires, derived from its tag declarations (``tags.json``), its policy data (which gates
are on, the evaluation rows, the labeling duties per modality) and the manifest model:
nothing is listed here by hand.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from .common import guarded
from .evidence import evidence_app
from .options import PoliciesOpt

MODALITIES = ("text", "image", "audio", "video", "code")

ModalityOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--modality", "-m",
        help="A modality the model generates (text, image, audio, video, code); repeat "
        "for several. Default: every modality the policy data knows.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="text (a Python snippet to paste) or json.")
]


def _gate_of(file: str) -> str:
    """``gates/service/tags.json`` -> ``service``; ``lib/tags.json`` -> ``scope``."""
    parts = file.replace("\\", "/").split("/")
    return parts[parts.index("gates") + 1] if "gates" in parts else "scope"


def _gate_on(config: dict[str, Any], gate: str) -> bool:
    """A gate that ships off is on when its ``required`` switch is not false."""
    section = config.get(gate)
    if isinstance(section, dict) and isinstance(section.get("required"), bool):
        return bool(section["required"])
    return True


def template(policy_set: Any, modalities: list[str]) -> dict[str, Any]:
    """The requirements of ``policy_set`` for a model generating ``modalities``."""
    from ..models import DataManifest

    config: dict[str, Any] = dict(policy_set.config.values)
    labeling = config.get("labeling", {}).get("required", {})
    duties = sorted({d for m in modalities for d in labeling.get(m, [])})
    tags = []
    for decl in policy_set.tag_declarations.tags:
        gate = _gate_of(decl.file)
        required = _gate_on(config, gate)
        leaf = decl.key.rsplit(".", 1)[-1]
        if gate == "labeling" and leaf in ("explicit", "implicit"):
            required = leaf in duties
        if decl.key == "compliance.labeling.producer_code":
            required = config.get("labeling", {}).get("require_producer_code") is True
        example: Any = ",".join(modalities) if decl.key == "compliance.modalities" else None
        if example is None and decl.values:
            example = "|".join(decl.values)
        tags.append({
            "tag": decl.key, "gate": gate, "required": required, "type": decl.type,
            "expected": decl.expected, "example": example, "description": decl.description,
        })
    evaluation = config.get("evaluation", {})
    metrics = []
    for row in evaluation.get("requirements", []) if isinstance(evaluation, dict) else []:
        metrics.append({
            "metric": row["metric"], "comparison": row["comparison"],
            "threshold": row["threshold"], "clause": row["clause"],
        })
        if "sample_metric" in row:
            metrics.append({
                "metric": row["sample_metric"], "comparison": ">=",
                "threshold": row.get("min_sample"), "clause": f"sample size of {row['metric']}",
            })
    schema = DataManifest.model_json_schema()
    dataset = schema["$defs"]["Dataset"]
    dataset_fields = list(dataset.get("required", []))
    if config.get("data_manifest", {}).get("require_safety_sampling") is True:
        dataset_fields.append("safety_sampling")
    return {
        "policy_revision": policy_set.revision,
        "modalities": modalities,
        "tags": tags,
        "evaluation": {
            "required": _gate_on(config, "evaluation"),
            "run_tag": "compliance.evaluation.run_id",
            "metrics": metrics,
        },
        "manifest": {
            "artifact": "compliance/data_manifest.json",
            "required": _gate_on(config, "data_manifest"),
            "fields": list(schema.get("required", [])),
            "dataset_fields": dataset_fields,
        },
    }


def _text(doc: dict[str, Any]) -> str:
    on = {True: "", False: "  # gate off in this policy set"}
    lines = [
        f"# mlgate evidence template: policy revision {doc['policy_revision'][:12]}, "
        f"modalities {', '.join(doc['modalities'])}",
        "# Tags on the model version (MlflowClient().set_model_version_tag(name, version, k, v))",
        "tags = {",
    ]
    for t in doc["tags"]:
        value = t["example"] if t["example"] is not None else f"<{t['type']}>"
        note = "" if t["required"] else "  (not required now)"
        lines.append(f"    {json.dumps(t['tag'])}: {json.dumps(value)},  # {t['gate']}: "
                     f"{t['expected']}{note}")
    lines.append("}")
    ev = doc["evaluation"]
    lines += [
        "",
        f"# Safety-evaluation metrics: log them on one run and put its id in "
        f"{ev['run_tag']}{on[ev['required']]}",
        "mlflow.log_metrics({",
    ]
    for m in ev["metrics"]:
        lines.append(f"    {json.dumps(m['metric'])}: ...,  # {m['comparison']} "
                     f"{m['threshold']} ({m['clause']})")
    lines.append("})")
    man = doc["manifest"]
    lines += [
        "",
        f"# {man['artifact']} (mlgate manifest attach){on[man['required']]}",
        f"# fields: {', '.join(man['fields'])}",
        f"# each dataset: {', '.join(man['dataset_fields'])}",
    ]
    return "\n".join(lines) + "\n"


@evidence_app.command("template")
@guarded
def evidence_template(
    modality: ModalityOpt = None,
    policies: PoliciesOpt = None,
    fmt: FormatOpt = "text",
) -> None:
    """Print the tags, evaluation metrics and manifest fields the policy set requires.

    Derived from the policy set's tag declarations and policy data: a team pastes it
    into its training pipeline.

    Example:

        mlgate evidence template --modality text --modality image
    """
    from ..errors import InputError
    from ..policy import load_policy_dir

    chosen = [m.strip().lower() for m in modality or []] or list(MODALITIES)
    unknown = [m for m in chosen if m not in MODALITIES]
    if unknown:
        raise InputError(
            f"--modality: unknown modality {unknown[0]!r}; expected one of {', '.join(MODALITIES)}"
        )
    if fmt not in ("text", "json"):
        raise InputError(f"--format: unknown format {fmt!r}; expected text or json")
    doc = template(load_policy_dir(policies), sorted(set(chosen)))
    typer.echo(json.dumps(doc, indent=2) if fmt == "json" else _text(doc), nl=fmt == "json")


# `mlgate evidence MODEL VERSION` (show) is built by another helper and merges here.
