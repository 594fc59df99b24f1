"""``mlgate policy test | check | push``."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from ..cli import (
    EXIT_ALLOWED,
    EXIT_BLOCKED,
    OpaTimeoutOpt,
    OpaTokenOpt,
    OpaUrlOpt,
    PoliciesOpt,
    guarded,
    policy_app,
)
from ..errors import InputError
from .options import seconds


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
) -> None:
    """Run every test_* rule of the Rego tests with the embedded engine.

    Prints PASS/FAIL per test (failures always, passes with -v) and a summary; exit 1 when
    any test fails, 2 when the policies do not compile.

    Example:

        mlgate policy test --coverage
    """
    from ..policy import load_policy_dir
    from ..policytest import run_tests

    if run is not None:
        try:
            re.compile(run)
        except re.error as exc:
            raise InputError(f"--run {run!r}: not a regular expression: {exc}") from exc
    policy_set = load_policy_dir(policies)
    report = run_tests(policy_set, coverage=coverage, pattern=run)
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
    malformed violation codes, and calls to functions the embedded engine lacks. Exit 1
    when anything is found.

    Example:

        mlgate policy check --policies policies/
    """
    from ..policy import load_policy_dir
    from ..policylint import check_policy_set

    policy_set = load_policy_dir(policies)
    findings = check_policy_set(policy_set)
    for finding in findings:
        typer.echo(str(finding))
    modules = len(policy_set.modules) + len(policy_set.tests)
    if findings:
        typer.echo(f"{len(findings)} problem(s) in {modules} module(s)")
        raise typer.Exit(EXIT_BLOCKED)
    typer.echo(f"ok: {modules} module(s), {len(policy_set.violation_meta)} violation codes")


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
