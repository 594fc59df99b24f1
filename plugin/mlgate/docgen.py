"""Rewrite the README's policy-set facts from the policy set itself.

    python -m mlgate.docgen [--check] [README] [--policies DIR]

The README marks what is generated: a block ``<!-- mlgate:gates -->`` ...
``<!-- /mlgate:gates -->`` (the number of gates and the gate table: id, title, articles,
violation codes, in the order of main.rego's ``required_gates``) and inline counts
``<!-- mlgate:count NAME -->N<!-- /mlgate:count -->`` for ``gates``, ``codes``,
``tests`` (Rego ``test_*`` rules) and ``scenarios`` (conformance cases). ``--check`` exits
1 when the file differs from what the policy set generates (a test runs it); a missing
gates block or an unknown count is an error (exit 2).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .policy import PolicySet

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

GATES_BLOCK = re.compile(r"(<!-- mlgate:gates -->\n)(.*?)(<!-- /mlgate:gates -->)", re.DOTALL)
COUNT = re.compile(r"<!-- mlgate:count ([a-z_]+) -->([^<]*)<!-- /mlgate:count -->")
_ARTICLE = re.compile(r"\bArt\.\s*(\d+)")


class StaleMarker(ValueError):
    """The gates block is missing, or a count marker names no count this generator has."""


def scenario_count(policy_set: PolicySet) -> int:
    """The cases of the policy set's own conformance corpus (``<policies>/scenarios``)."""
    from .scenarios import case_names, corpus_dir

    return len(case_names(corpus_dir(policy_set)))


def articles(references: tuple[str, ...]) -> str:
    """``Art. 2, 20`` from a gate's related_resources descriptions, in order, once each."""
    numbers: list[str] = []
    for reference in references:
        for number in _ARTICLE.findall(reference):
            if number not in numbers:
                numbers.append(number)
    return ("Art. " + ", ".join(numbers)) if numbers else "-"


def counts(policy_set: PolicySet) -> dict[str, int]:
    from .policytest import discover

    return {
        "gates": len(policy_set.gate_ids),
        "codes": len(policy_set.violation_meta),
        "tests": len(discover(policy_set)),
        "scenarios": scenario_count(policy_set),
    }


def gate_table(policy_set: PolicySet) -> str:
    """The gates block: how many, and one row per gate in the decision's order."""
    ids = policy_set.gate_ids
    rows = [
        f"{len(ids)} gates, one Rego package each under `policies/gates/`, wired in the",
        "decision's order by `required_gates` in `policies/main/main.rego`:",
        "",
        "| gate | title | articles | codes |",
        "| --- | --- | --- | ---: |",
    ]
    for gate_id in ids:
        meta = policy_set.gate_meta.get(gate_id)
        title = meta.title.replace("|", "\\|") if meta else ""
        refs = articles(meta.references) if meta else "-"
        codes = sum(1 for code in policy_set.violation_meta if code.startswith(gate_id + "."))
        rows.append(f"| `{gate_id}` | {title} | {refs} | {codes} |")
    return "\n".join(rows) + "\n"


def render(text: str, policy_set: PolicySet) -> str:
    """``text`` with every marked block and count regenerated."""
    if not GATES_BLOCK.search(text):
        raise StaleMarker("no <!-- mlgate:gates --> ... <!-- /mlgate:gates --> block")
    numbers = counts(policy_set)
    text = GATES_BLOCK.sub(lambda m: m.group(1) + gate_table(policy_set) + m.group(3), text)

    def count(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in numbers:
            raise StaleMarker(f"unknown count {name!r}; expected one of {', '.join(numbers)}")
        return f"<!-- mlgate:count {name} -->{numbers[name]:,}<!-- /mlgate:count -->"

    return COUNT.sub(count, text)


def main(argv: list[str] | None = None) -> int:
    from .errors import MlgateError
    from .policy import load_policy_dir

    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    policies: str | None = None
    if "--policies" in args:
        at = args.index("--policies")
        policies = args[at + 1] if at + 1 < len(args) else None
        if policies is None:
            print("mlgate.docgen: --policies needs a directory", file=sys.stderr)
            return 2
        del args[at : at + 2]
    target = Path(args[0]) if args else README
    try:
        text = target.read_text(encoding="utf-8")
        new = render(text, load_policy_dir(policies))
    except (OSError, MlgateError, StaleMarker) as exc:
        print(f"mlgate.docgen: {target}: {exc}", file=sys.stderr)
        return 2
    if check:
        if new != text:
            print(f"{target} is stale: run python -m mlgate.docgen")
            return 1
        return 0
    target.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
