"""``mlgate policy scenario new | regen`` and ``mlgate policy verify``: the conformance
corpus of a policy set (``<policies>/scenarios``, see :mod:`mlgate.scenarios`).

Thin wrappers: reading, materialising and deciding the cases is :mod:`mlgate.scenarios`;
the Rego tests are :mod:`mlgate.policytest`, the lint :mod:`mlgate.policylint`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InputError
from .common import EXIT_ALLOWED, EXIT_BLOCKED, guarded, policy_app
from .options import PoliciesOpt

if TYPE_CHECKING:
    from ..policy import PolicySet
    from ..scenarios import Outcome

scenario_app = typer.Typer(
    help="Create and refresh the conformance corpus of a policy set (<policies>/scenarios).",
    no_args_is_help=True,
)
policy_app.add_typer(scenario_app, name="scenario")


def _engines_note(factories: dict[str, Any]) -> None:
    if "opa" not in factories:
        from ..engine import golib

        typer.echo(f"note: OPA not compared: {golib.unavailable_reason()}", err=True)


def _disagreement(outcome: Outcome) -> str | None:
    """Why a case cannot be judged: an engine failed, or the engines decide differently."""
    if outcome.errors:
        engine, error = next(iter(outcome.errors.items()))
        return f"{engine} failed: {error}"
    if not outcome.agree:
        (first, a), *rest = outcome.got.items()
        second, b = next((n, v) for n, v in rest if v != a)
        from ..scenarios import changes

        assert isinstance(a, dict) and isinstance(b, dict)
        return f"engines disagree ({first} -> {second}: {'; '.join(changes(a, b))})"
    return None


def _decided(outcome: Outcome) -> dict[str, Any]:
    value = next(iter(outcome.got.values()))
    assert isinstance(value, dict)
    return value


# --------------------------------------------------------------------------- scenario new


@scenario_app.command("new")
@guarded
def scenario_new(
    name: Annotated[str, typer.Argument(help="Folder name of the case: a-z, 0-9 and _.")],
    from_case: Annotated[
        str | None,
        typer.Option("--from", help="Start from this case's patch and policy data."),
    ] = None,
    patch: Annotated[
        Path | None,
        typer.Option(
            "--patch", help="A JSON merge patch (RFC 7396) applied on top, times as tokens."
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="What the case shows, and why.")
    ] = None,
    policies: PoliciesOpt = None,
) -> None:
    """Add a case to the corpus: scenario.json, and expected.json from today's decision.

    The case is base.json with the --from case's patch and then --patch merged on it (see
    policies/scenarios/README.md for the time tokens). Its expectation is what the
    policies decide now, on regorus and on OPA when installed (they must agree): read it
    against the contract before committing it. A case whose facts are not what mlgate
    derives from its tags is marked forged.

    Example:

        mlgate policy scenario new filing_rejected --from all_pass --patch rejected.json
    """
    from ..policy import load_policy_dir
    from ..runner import derived_contradictions
    from ..scenarios import (
        NAME,
        Scenario,
        case_names,
        corpus_dir,
        gate_input,
        load_base,
        load_corpus,
        local_engines,
        run_corpus,
        write_expected,
        write_scenario,
    )
    from ..timetokens import merge_patch

    if not NAME.match(name):
        raise InputError(f"scenario name {name!r}: expected lower-case letters, digits and _")
    policy_set = load_policy_dir(policies)
    directory = corpus_dir(policy_set)
    if name in case_names(directory):
        raise InputError(f"{directory / name}: scenario {name!r} exists; edit it, then regen")
    base = load_base(directory)
    start = load_corpus(directory, [from_case])[0] if from_case else None
    changes_: dict[str, Any] = start.patch if start else {}
    if patch is not None:
        from ..scenarios import read_json

        extra = read_json(patch)
        if not isinstance(extra, dict):
            raise InputError(f"--patch {patch}: expected a JSON object (a merge patch)")
        changes_ = merge_patch(changes_, extra)
    draft = Scenario(
        name=name,
        description=description or f"TODO: what this case shows (made from {from_case or 'base'}).",
        patch=changes_,
        policy_data=start.policy_data if start else None,
        forged=False,
        now=start.now if start else None,
        expected=None,
    )
    forged = bool(derived_contradictions(gate_input(base, draft)))
    draft = replace(draft, forged=forged)
    directory.mkdir(exist_ok=True)
    write_scenario(directory, draft)
    factories = local_engines()
    _engines_note(factories)
    try:
        (outcome,) = run_corpus(policy_set, factories, names=[name])
        problem = _disagreement(outcome)
        if problem:
            raise InputError(f"scenario {name}: {problem}; nothing written")
    except BaseException:
        (directory / name / "scenario.json").unlink(missing_ok=True)
        (directory / name).rmdir()
        raise
    decided = _decided(outcome)
    write_expected(directory, name, decided)
    typer.echo(f"wrote {directory / name}/scenario.json and expected.json")
    if forged:
        typer.echo("  forged: its facts are not what mlgate derives from its tags")
    _print_expectation(decided)


def _print_expectation(decided: dict[str, Any]) -> None:
    verdict = "allowed" if decided["allowed"] else "blocked"
    typer.echo(f"  {verdict}, in scope: {decided['in_scope']}, {decided['enforcement']}")
    for gate, result in decided["gates"].items():
        codes = f" [{', '.join(result['codes'])}]" if result["codes"] else ""
        typer.echo(f"  {gate}: {result['status']}{codes}")


# --------------------------------------------------------------------------- scenario regen


@scenario_app.command("regen")
@guarded
def scenario_regen(
    names: Annotated[
        list[str] | None, typer.Argument(help="Cases to refresh (default: every case).")
    ] = None,
    policies: PoliciesOpt = None,
) -> None:
    """Rewrite expected.json from today's decisions, after an intended policy change.

    Prints each case whose expectation changes, and how (gates.assessment: pass -> fail
    [assessment.expired]). Refuses, writing nothing, when an engine fails on a case or
    regorus and OPA (when installed) decide a case differently. Exit 0 when written.

    Example:

        mlgate policy scenario regen
        mlgate policy scenario regen assessment_366_days
    """
    from ..policy import load_policy_dir
    from ..scenarios import changes, corpus_dir, local_engines, pinned, run_corpus, write_expected

    policy_set = load_policy_dir(policies)
    directory = corpus_dir(policy_set)
    factories = local_engines()
    _engines_note(factories)
    outcomes = run_corpus(policy_set, factories, names=names or None)
    if not outcomes:
        raise InputError(f"{directory}: no scenarios (no */scenario.json)")
    refused = [(o.scenario.name, _disagreement(o)) for o in outcomes if _disagreement(o)]
    for case, problem in refused:
        typer.echo(f"REFUSED {case}: {problem}")
    if refused:
        typer.echo(f"{len(refused)} case(s) cannot be decided alike; nothing written")
        raise typer.Exit(EXIT_BLOCKED)
    changed = 0
    for outcome in outcomes:
        decided = _decided(outcome)
        old = outcome.scenario.expected
        if old is not None and pinned(old) == decided:
            continue
        changed += 1
        typer.echo(f"{outcome.scenario.name}:")
        for line in changes(pinned(old) if old is not None else None, decided):
            typer.echo(f"  {line}")
        write_expected(directory, outcome.scenario.name, decided)
    typer.echo(f"{changed} expectation(s) changed, {len(outcomes) - changed} unchanged")


# --------------------------------------------------------------------------- verify


@dataclass
class Part:
    """One part of ``policy verify``: its summary line, the lines explaining a failure."""

    name: str
    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)


def lint_part(policy_set: PolicySet) -> Part:
    from ..engine import golib
    from ..policylint import check_policy_set

    findings = check_policy_set(policy_set)
    modules = len(policy_set.modules) + len(policy_set.tests)
    by_opa = "" if golib.unavailable_reason() else f", OPA {golib.OPA_VERSION} compiles them"
    if findings:
        return Part("lint", False, f"{len(findings)} problem(s)", [str(f) for f in findings])
    codes = len(policy_set.violation_meta)
    return Part("lint", True, f"ok: {modules} module(s), {codes} violation codes{by_opa}")


def tests_part(policy_set: PolicySet) -> Part:
    from ..policytest import run_tests

    report = run_tests(policy_set)
    failed = report.failed
    details = [
        f"FAIL {r.case.file}: {r.case.path}" + (f": {r.error}" if r.error else "") for r in failed
    ]
    summary = f"{len(report.results) - len(failed)} passed, {len(failed)} failed"
    return Part(
        "tests",
        bool(report.results) and not failed,
        summary,
        details or ([] if report.results else ["no test_* rules in *_test.rego files"]),
    )


def corpus_part(policy_set: PolicySet) -> Part:
    from ..scenarios import case_names, changes, corpus_dir, local_engines, pinned, run_corpus

    directory = corpus_dir(policy_set)
    if not case_names(directory):
        return Part("corpus", True, f"no scenarios in {directory} (nothing to run)")
    factories = local_engines()
    outcomes = run_corpus(policy_set, factories)
    details: list[str] = []
    for outcome in outcomes:
        name = outcome.scenario.name
        problem = _disagreement(outcome)
        if problem:
            details.append(f"FAIL {name}: {problem}")
        elif outcome.scenario.expected is None:
            details.append(f"FAIL {name}: no expected.json (mlgate policy scenario regen {name})")
        elif not outcome.passed:
            diff = "; ".join(changes(pinned(outcome.scenario.expected), _decided(outcome)))
            details.append(f"FAIL {name}: expected -> decided: {diff}")
    covered = {
        code
        for o in outcomes
        if o.scenario.expected
        for gate in o.scenario.expected["gates"].values()
        for code in gate["codes"]
    }
    uncovered = sorted(set(policy_set.violation_meta) - covered)
    if uncovered:
        details.append(f"codes no scenario expects: {', '.join(uncovered)}")
    failed = sum(1 for d in details if d.startswith("FAIL "))
    engines = ", ".join(factories)
    summary = f"{len(outcomes) - failed} passed, {failed} failed ({engines})"
    return Part("corpus", not details, summary, details)


@policy_app.command("verify")
@guarded
def policy_verify(policies: PoliciesOpt = None) -> None:
    """Lint, Rego tests and the conformance corpus, in one command.

    Runs `policy check` (lint, and OPA's compiler when installed), every test_* rule
    (`policy test`), and every case under <policies>/scenarios on regorus and on OPA when
    installed, at the current time; prints each part's summary and what failed. Exit 0
    when all pass, 1 when any fails, 2 when the policies or a scenario cannot be read.

    Example:

        mlgate policy verify --policies policies/
    """
    from ..policy import load_policy_dir

    policy_set = load_policy_dir(policies)
    parts = [lint_part(policy_set), tests_part(policy_set), corpus_part(policy_set)]
    for part in parts:
        typer.echo(f"{part.name}: {part.summary}")
        for line in part.details:
            typer.echo(f"  {line}")
    failed = [p.name for p in parts if not p.ok]
    typer.echo(f"verify: {'FAILED: ' + ', '.join(failed) if failed else 'ok'}")
    raise typer.Exit(EXIT_BLOCKED if failed else EXIT_ALLOWED)
