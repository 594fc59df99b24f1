"""``mlgate demo``: the whole gate, end to end, on a throwaway local MLflow registry.

Logs and registers four tiny but real MLflow pyfunc models, each carrying different
compliance evidence as version tags, attaches the data manifest where there is one, then
promotes each to ``production`` through :func:`mlgate.gate.promote` (the
code behind ``mlgate promote``): one is allowed, one is blocked with its reasons, one is
blocked by its measured safety evaluation (the ``evaluation`` gate, switched on for the
demo: a refusal rate of 0.93 against 0.95), one is out of scope. Finally it prints the
blocked promotions from the decision log, as ``mlgate log --blocked`` shows them.

The manifest is embedded here rather than read from ``examples/``: the examples are not
part of the wheel.
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .evidence import Registry
    from .models import Decision, Outcome
    from .policy import PolicySet

TARGET = "production"
EXPERIMENT = "mlgate-demo"

DEMO_MANIFEST: dict[str, Any] = {
    "manifest_version": 1,
    "foundation_models": [
        {
            "name": "base-7b",
            "source": "https://vendor.example/base-7b",
            "license": "Apache-2.0",
            "legitimate_source": True,
        }
    ],
    "datasets": [
        {
            "name": "zh-news-2024",
            "kind": "pretraining",
            "source_category": "licensed",
            "license": "commercial agreement #123",
            "legitimate_source": True,
            "ip_cleared": True,
            "contains_personal_info": True,
            "personal_info_consent": True,
            "records": 1200000,
        },
        {
            "name": "support-dialogues",
            "kind": "finetuning",
            "source_category": "user_consented",
            "license": "terms of service v4, section 7",
            "legitimate_source": True,
            "ip_cleared": True,
            "contains_personal_info": False,
            "records": 85000,
        },
    ],
    "quality_measures": ["deduplication", "toxicity filtering", "factuality review"],
    "labeling": {
        "used": True,
        "rules_documented": True,
        "rules_uri": "https://wiki.example/labeling-rules",
        "quality_assessment": True,
        "sampling_verification": True,
        "labeler_training": True,
    },
}


# The safety-evaluation metrics (contract section 7) the demo logs on a real MLflow run
# with mlflow.log_metrics: every requirement row met.
DEMO_EVALUATION: dict[str, float] = {
    "gbt45654.generated.pass_rate": 0.96,
    "gbt45654.generated.sample_size": 1200,
    "gbt45654.refusal.should_refuse.rate": 0.97,
    "gbt45654.refusal.should_refuse.sample_size": 400,
    "gbt45654.refusal.should_answer.rate": 0.02,
    "gbt45654.refusal.should_answer.sample_size": 400,
    "gbt45654.keyword_library.size": 12000,
    "gbt45654.generated_bank.size": 2400,
    "gbt45654.refusal_bank.should_refuse.size": 600,
    "gbt45654.refusal_bank.should_answer.size": 600,
}
REFUSAL_RATE = "gbt45654.refusal.should_refuse.rate"


@dataclass(frozen=True)
class DemoModel:
    name: str
    story: str
    tags: dict[str, str]
    manifest: bool
    expected: Outcome  # Decision.outcome: "allowed", "blocked" or "out of scope" here
    evaluation: dict[str, float] | None = None  # metrics of its evaluation run, if any


def demo_models(today: date) -> list[DemoModel]:
    """The four models and their evidence; the assessment is dated a month before today."""
    assessed = (today - timedelta(days=30)).isoformat()
    in_order = {
        "compliance.audience": "public",
        "compliance.regions": "CN,SG",
        "compliance.public_opinion": "true",
        "compliance.filing.status": "completed",
        "compliance.filing.id": "Beijing-WXSuanFa-20240001",
        "compliance.assessment.status": "passed",
        "compliance.assessment.date": assessed,
        "compliance.assessment.report": "s3://compliance/reports/demo-chatbot.pdf",
        "compliance.labeling.explicit": "true",
        "compliance.labeling.implicit": "true",
    }
    return [
        DemoModel(
            name="demo-chatbot",
            story="public chatbot in CN: filed, assessed, labeled, manifest attached",
            tags={**in_order, "compliance.modalities": "text"},
            manifest=True,
            expected="allowed",
            evaluation=DEMO_EVALUATION,
        ),
        DemoModel(
            name="demo-assistant",
            story="public assistant in CN: all evidence in order, but its evaluation run "
            "refuses only 93% of what it should refuse",
            tags={**in_order, "compliance.modalities": "text"},
            manifest=True,
            expected="blocked",
            evaluation={**DEMO_EVALUATION, REFUSAL_RATE: 0.93},
        ),
        DemoModel(
            name="demo-image-generator",
            story="public image generator in CN: filing still pending, no implicit labels",
            tags={
                **in_order,
                "compliance.modalities": "image",
                "compliance.filing.status": "pending",
                "compliance.filing.id": "",
                "compliance.labeling.implicit": "false",
                "compliance.assessment.report": "s3://compliance/reports/demo-image.pdf",
            },
            manifest=True,
            expected="blocked",
            evaluation=DEMO_EVALUATION,
        ),
        DemoModel(
            name="demo-research-model",
            story="research-only model: not a public service, out of scope",
            tags={
                "compliance.audience": "research",
                "compliance.regions": "CN",
                "compliance.modalities": "text",
            },
            manifest=False,
            expected="out of scope",
        ),
    ]


@dataclass(frozen=True)
class DemoResult:
    tracking_uri: str
    outcomes: dict[str, Outcome]  # model name -> Decision.outcome
    expected: dict[str, Outcome]
    seconds: float

    @property
    def as_expected(self) -> bool:
        return self.outcomes == self.expected

    def mismatch(self) -> str:
        """Which models did not end as designed (e.g. with edited policies)."""
        return ", ".join(
            f"{name} {self.outcomes.get(name)} (expected {want})"
            for name, want in self.expected.items()
            if self.outcomes.get(name) != want
        )


def _echo_model() -> Any:
    """A pyfunc model that returns its input (defined lazily: mlflow is imported here)."""
    from mlflow.pyfunc.model import PythonModel

    class EchoModel(PythonModel):
        def predict(
            self, context: Any, model_input: list[str], params: dict[str, Any] | None = None
        ) -> list[str]:
            return model_input

    return EchoModel()


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """The ``mlflow`` logger at ERROR: its CloudPickle advice is not for a demo."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _evaluation_run(metrics: dict[str, float]) -> str:
    """A finished MLflow run with ``metrics`` logged by ``mlflow.log_metrics``; its id."""
    import mlflow

    with mlflow.start_run(run_name="safety-evaluation") as run:
        mlflow.log_metrics(metrics)
    return str(run.info.run_id)


def with_evaluation_on(policy_set: PolicySet, engine: Any) -> tuple[PolicySet, Any]:
    """The policy set with the evaluation gate switched on (when it has one) and an
    embedded engine deciding under it; the same pair otherwise."""
    if not isinstance(policy_set.config.values.get("evaluation"), dict):
        return policy_set, engine
    from .runner import make_engine
    from .scenarios import Scenario, policy_set_for

    switched = Scenario(
        name="demo", description="", patch={},
        policy_data={"evaluation": {"required": True}}, forged=False, now=None, expected=None,
    )
    changed = policy_set_for(policy_set, switched)
    return changed, make_engine("embedded", changed)


def _register(registry: Registry, experiment_id: str, model: DemoModel) -> str:
    """Log the pyfunc model (and its evaluation run) and register a version of it with
    the model's tags."""
    import mlflow
    import mlflow.pyfunc

    client = registry.client
    mlflow.set_experiment(experiment_id=experiment_id)
    tags = dict(model.tags)
    if model.evaluation is not None:
        tags["compliance.evaluation.run_id"] = _evaluation_run(model.evaluation)
    info = mlflow.pyfunc.log_model(
        name=model.name,
        python_model=_echo_model(),
        pip_requirements=[],  # no dependency inference: logging stays fast
    )
    if not client.search_registered_models(filter_string=f"name = '{model.name}'"):
        client.create_registered_model(model.name, description=f"mlgate demo: {model.story}")
    mv = client.create_model_version(
        model.name, info.model_uri, model_id=info.model_id, tags=tags
    )
    return str(mv.version)


def _experiment(registry: Registry, artifact_root: Path | None) -> str:
    client = registry.client
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return str(found.experiment_id)
    return str(
        client.create_experiment(
            EXPERIMENT, artifact_location=artifact_root.as_uri() if artifact_root else None
        )
    )


def run_demo(
    policy_set: PolicySet,
    engine: Any,
    out: Callable[[str], None],
    *,
    tracking_uri: str | None = None,
) -> DemoResult:
    """Run the walk-through, writing what happens to ``out``; see the module docstring.

    Without ``tracking_uri`` the registry (and the decision log beside it) lives in a
    temporary directory that is removed afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="mlgate-demo-") as tmp:
        if tracking_uri is None:
            uri = f"sqlite:///{Path(tmp) / 'mlruns.db'}"
            artifact_root: Path | None = Path(tmp) / "artifacts"
            decision_log: str | None = f"sqlite:///{Path(tmp) / 'mlgate-decisions.db'}"
        else:
            uri, artifact_root, decision_log = tracking_uri, kept_artifacts(tracking_uri), None
        return _run(policy_set, engine, out, uri, artifact_root, decision_log, Path(tmp),
                    throwaway=tracking_uri is None)


def kept_artifacts(tracking_uri: str) -> Path | None:
    """Beside a sqlite database (``<dir>/<name>-artifacts``), not in the current
    directory where MLflow would put them; None for any other store (its own default)."""
    from .uris import sqlite_path

    path = sqlite_path(tracking_uri)
    if path is None:
        return None
    database = Path(path).resolve()
    return database.parent / f"{database.stem}-artifacts"


def _run(
    policy_set: PolicySet,
    engine: Any,
    out: Callable[[str], None],
    uri: str,
    artifact_root: Path | None,
    decision_log: str | None,
    scratch: Path,
    *,
    throwaway: bool,
) -> DemoResult:
    from .decisionlog import DecisionLog, current_actor, default_log_url
    from .evidence import Registry, VersionRef, global_mlflow_uri
    from .gate import promote
    from .output import render
    from .output.log import render_table
    from .uris import mask_password

    started, clock = datetime.now(UTC), time.monotonic()
    policy_set, engine = with_evaluation_on(policy_set, engine)
    log_url = decision_log or default_log_url(uri)
    where = "a throwaway" if throwaway else "the"
    out(f"mlgate demo: {where} MLflow registry at {mask_password(uri)}\n")
    registry = Registry(uri, create=True)  # a new sqlite file is fine: the demo fills it
    if artifact_root is not None:
        artifact_root.mkdir(parents=True, exist_ok=True)
    manifest_file = scratch / "data_manifest.json"
    manifest_file.write_text(json.dumps(copy.deepcopy(DEMO_MANIFEST), indent=2), "utf-8")

    models = demo_models(started.date())
    versions: dict[str, str] = {}
    width = max(len(m.name) for m in models) + 6
    out(f"Registering {len(models)} tiny pyfunc models; their compliance evidence is version "
        "tags, their safety evaluation an MLflow run (evaluation gate switched on):")
    with global_mlflow_uri(uri), _quiet_mlflow():
        experiment_id = _experiment(registry, artifact_root)
        for model in models:
            versions[model.name] = _register(registry, experiment_id, model)
            if model.manifest:
                registry.attach_manifest(VersionRef(model.name, versions[model.name]),
                                         manifest_file)
            label = f"{model.name} v{versions[model.name]}"
            out(f"  {label:<{width}}  {model.story}")
    out("")

    outcomes: dict[str, Outcome] = {}
    for number, model in enumerate(models, 1):
        version = versions[model.name]
        out(f"== {number}/{len(models)}  mlgate promote {model.name} {version} --alias {TARGET}")
        promotion = promote(
            registry, VersionRef(model.name, version), TARGET, engine, policy_set,
            open_log=lambda: DecisionLog(log_url), actor=current_actor,
        )
        out(render("table", [promotion.decision]).rstrip("\n"))
        outcomes[model.name] = promotion.decision.outcome
        out(_verdict_line(model.name, version, promotion.decision))
        out("")

    out(f"== mlgate log --blocked   (decision log {mask_password(log_url)})")
    with DecisionLog(log_url) as log:
        blocked = log.entries(blocked_only=True, since=started)
        masked = log.masked_url
    out(render_table(blocked, masked).rstrip("\n") if blocked else "No blocked promotions.")
    out("")

    result = DemoResult(
        uri, outcomes, {m.name: m.expected for m in models}, time.monotonic() - clock
    )
    if result.as_expected:
        summary = ", ".join(f"{m.name} {outcomes[m.name]}" for m in models)
        out(f"Demo finished as expected in {result.seconds:.1f} s: {summary}.")
        if throwaway:
            out("The registry was temporary; keep one with "
                "mlgate demo --tracking-uri sqlite:///demo.db")
    return result


def _verdict_line(name: str, version: str, decision: Decision) -> str:
    if decision.outcome == "blocked":
        return f"-> blocked: alias {TARGET} not set ({', '.join(decision.failing_codes)})"
    if decision.outcome == "out of scope":
        return f"-> allowed, out of scope: alias {TARGET} now points at {name} v{version}"
    return f"-> allowed: alias {TARGET} now points at {name} v{version}"
