"""``mlgate policy test | check | push``."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

import typer

from ..errors import InputError
from .common import EXIT_ALLOWED, EXIT_BLOCKED, EXIT_ERROR, guarded, policy_app
from .options import EngineChoice, OpaTimeoutOpt, OpaTokenOpt, OpaUrlOpt, PoliciesOpt, seconds


class TestFormat(StrEnum):
    table = "table"
    json = "json"


@policy_app.command("test")
@guarded
def policy_test(
    policies: PoliciesOpt = None,
    coverage: Annotated[
        bool,
        typer.Option(
            "--coverage",
            help="Report covered lines per policy file, the total, and the violation codes "
            "no test produces.",
        ),
    ] = False,
    coverage_threshold: Annotated[
        float | None,
        typer.Option(
            "--coverage-threshold",
            metavar="PCT",
            min=0.0,
            max=100.0,
            help="Exit 1 when the total coverage is below PCT percent (implies --coverage).",
        ),
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", "-r", help="Only tests whose path matches this regex.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List passing tests too.")
    ] = False,
    engine: Annotated[
        EngineChoice,
        typer.Option(
            "--engine",
            help="embedded: regorus; opa: OPA's own Go library in-process "
            "(needs opa-golib-python-bindings).",
        ),
    ] = EngineChoice.embedded,
    fmt: Annotated[TestFormat, typer.Option("--format", "-f", help="Report format.")] = (
        TestFormat.table
    ),
) -> None:
    """Run every test_* rule of the Rego tests, on regorus or on OPA.

    Prints PASS/FAIL per test (failures always, passes with -v) and a summary. A failing
    test shows the expression that did not hold (file:line, source) and the values of
    its operands and of the variables bound before it, re-evaluated on regorus. Exit 1
    when any test fails or the coverage is below --coverage-threshold, 2 when the
    policies do not compile or the engine is not available.

    Example:

        mlgate policy test --coverage
        mlgate policy test --coverage-threshold 90 --format json
        mlgate policy test --engine opa
    """
    import json

    from ..output.testreport import document, table
    from ..policy import load_policy_dir
    from ..policytest import run_tests

    if run is not None:
        try:
            re.compile(run)
        except re.error as exc:
            raise InputError(f"--run {run!r}: not a regular expression: {exc}") from exc
    coverage = coverage or coverage_threshold is not None
    policy_set = load_policy_dir(policies)
    report = run_tests(policy_set, coverage=coverage, pattern=run, engine=engine.value)
    if not report.results:
        raise InputError(f"{policy_set.root}: no test_* rules found in *_test.rego files")
    if fmt == TestFormat.json:
        doc = document(report, coverage=coverage, threshold=coverage_threshold)
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(table(report, verbose=verbose, coverage=coverage, threshold=coverage_threshold))
    below = coverage_threshold is not None and report.coverage_percent < coverage_threshold
    raise typer.Exit(EXIT_BLOCKED if report.failed or below else EXIT_ALLOWED)


@policy_app.command("check")
@guarded
def policy_check(policies: PoliciesOpt = None) -> None:
    """Parse, lint and engine-check the policies.

    Reports, each with file:line: parse errors; METADATA blocks missing a field, with
    invalid YAML, or annotating nothing (a blank line before the rule); duplicate or
    malformed violation codes; failure_msg placeholders the params lack (params no text
    uses: a warning); names used as keys that nothing binds (they iterate); input fields
    the gate input schema lacks and policy-data keys data.json lacks ("did you mean");
    impure builtins (http.send, time.now_ns, rand.*, ...): a decision must replay from its
    logged input; calls to unknown functions or ones the embedded engine lacks. A gate package not
    wired in main.rego's required_gates, a wired id without its package, a duplicate or
    malformed id is an error (exit 2) naming both places; so is a gate's policy data
    (gates/<gate>/data.schema.json) while no gate of that id is wired. When
    OPA's Go library is installed (opa-golib-python-bindings), OPA's compiler and type
    checker judge the set too, each error with file:line. A finding of severity error
    makes the policies bad, a command error: exit 2 (warnings alone exit 0).

    Example:

        mlgate policy check --policies policies/
    """
    from ..engine import golib
    from ..policy import load_policy_dir
    from ..policylint import check_policy_set

    policy_set = load_policy_dir(policies)
    policy_set.require_wired()  # a gate not in required_gates, or wired but absent: exit 2
    findings = check_policy_set(policy_set)
    for finding in findings:
        typer.echo(str(finding))
    skipped = golib.unavailable_reason()
    if skipped:
        typer.echo(f"note: OPA's compile check skipped: {skipped}", err=True)
    modules = len(policy_set.modules) + len(policy_set.tests)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        typer.echo(f"{len(errors)} problem(s) in {modules} module(s)")
        # Bad policies are a command error (contract section 4), not a policy verdict.
        raise typer.Exit(EXIT_ERROR)
    by_opa = "" if skipped else f"; OPA {golib.OPA_VERSION} compiles them"
    typer.echo(
        f"ok: {modules} module(s), {len(policy_set.violation_meta)} violation codes{by_opa}"
    )


@policy_app.command("push")
@guarded
def policy_push(
    policies: PoliciesOpt = None,
    opa_url: OpaUrlOpt = None,
    opa_token: OpaTokenOpt = None,
    opa_timeout: OpaTimeoutOpt = 5.0,
) -> None:
    """Upload the policies and their data to an OPA server that does not load a bundle.

    Example:

        mlgate policy push --opa-url http://127.0.0.1:8181
    """
    from ..engine.opa import push_policies
    from ..policy import load_policy_dir

    if not opa_url:
        raise InputError("policy push needs --opa-url or MLGATE_OPA_URL")
    seconds(opa_timeout, "--opa-timeout")
    policy_set = load_policy_dir(policies)
    uploaded = push_policies(opa_url, policy_set, token=opa_token, timeout=opa_timeout)
    typer.echo(f"pushed {len(uploaded)} module(s) and data to {opa_url}")


@policy_app.command("revision")
@guarded
def policy_revision_command(policies: PoliciesOpt = None) -> None:
    """Print the revision decisions under these policies record (policy_revision).

    In a git work tree that tracks the directory: the last commit touching it (+dirty
    with uncommitted changes). Otherwise, as for an installed wheel:
    sha256:<hex>+mlgate-<version>, a digest of the Rego modules (tests apart) and the
    canonical policy data and waivers, the same for the same files everywhere.

    Example:

        mlgate policy revision --policies policies/
    """
    from ..policy import load_policy_dir

    typer.echo(load_policy_dir(policies).revision)
