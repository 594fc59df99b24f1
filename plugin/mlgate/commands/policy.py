"""``mlgate policy test | check | push``."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from ..errors import InputError
from .common import EXIT_ALLOWED, EXIT_BLOCKED, guarded, policy_app
from .options import EngineChoice, OpaTimeoutOpt, OpaTokenOpt, OpaUrlOpt, PoliciesOpt, seconds


@policy_app.command("test")
@guarded
def policy_test(
    policies: PoliciesOpt = None,
    coverage: Annotated[
        bool, typer.Option("--coverage", help="Report covered lines per policy file.")
    ] = False,
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
) -> None:
    """Run every test_* rule of the Rego tests, on regorus or on OPA.

    Prints PASS/FAIL per test (failures always, passes with -v) and a summary; exit 1 when
    any test fails, 2 when the policies do not compile or the engine is not available.

    Example:

        mlgate policy test --coverage
        mlgate policy test --engine opa
    """
    from ..policy import load_policy_dir
    from ..policytest import run_tests

    if run is not None:
        try:
            re.compile(run)
        except re.error as exc:
            raise InputError(f"--run {run!r}: not a regular expression: {exc}") from exc
    policy_set = load_policy_dir(policies)
    report = run_tests(policy_set, coverage=coverage, pattern=run, engine=engine.value)
    if not report.results:
        raise InputError(f"{policy_set.root}: no test_* rules found in *_test.rego files")
    for result in report.results:
        if verbose or not result.passed:
            mark = "PASS" if result.passed else "FAIL"
            detail = f": {result.error}" if result.error else ""
            typer.echo(f"{mark} {result.case.file}: {result.case.path}{detail}")
    failed = len(report.failed)
    typer.echo(f"{len(report.results) - failed} passed, {failed} failed")
    if coverage:
        typer.echo("coverage:")
        for fc in report.coverage:
            missing = ",".join(str(n) for n in fc.not_covered) or "-"
            detail = f"not covered: {missing}" if fc.evaluated else "not evaluated by any test"
            typer.echo(f"  {fc.percent:5.1f}%  {fc.file}  ({detail})")
    raise typer.Exit(EXIT_BLOCKED if failed else EXIT_ALLOWED)


@policy_app.command("check")
@guarded
def policy_check(policies: PoliciesOpt = None) -> None:
    """Parse, lint and engine-check the policies.

    Reports parse errors with file:line, METADATA blocks missing a field, duplicate or
    malformed violation codes, and calls to functions the embedded engine lacks. When
    OPA's Go library is installed (opa-golib-python-bindings), OPA's compiler and type
    checker judge the set too, each error with file:line. Exit 1 when anything is found.

    Example:

        mlgate policy check --policies policies/
    """
    from ..engine import golib
    from ..policy import load_policy_dir
    from ..policylint import check_policy_set

    policy_set = load_policy_dir(policies)
    findings = check_policy_set(policy_set)
    for finding in findings:
        typer.echo(str(finding))
    skipped = golib.unavailable_reason()
    if skipped:
        typer.echo(f"note: OPA's compile check skipped: {skipped}", err=True)
    modules = len(policy_set.modules) + len(policy_set.tests)
    if findings:
        typer.echo(f"{len(findings)} problem(s) in {modules} module(s)")
        raise typer.Exit(EXIT_BLOCKED)
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
