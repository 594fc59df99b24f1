"""The ``# METADATA`` blocks of a policy set, and the messages formatted from them.

Python reads the blocks itself (titles, failure messages, remediation, article
references) so that no engine needs ``rego.metadata`` support, and so that compliance
edits wording in one place without touching rule logic. Where each block sits, and the
code literal and params of the rule it annotates, come from regorus's AST
(:mod:`mlgate.regosource`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import PolicyError

if TYPE_CHECKING:
    from .regosource import Module


@dataclass(frozen=True)
class Annotation:
    """One ``# METADATA`` block: on a package (a gate) or on a rule (a violation)."""

    file: str
    line: int
    scope: str  # "package" or "rule"
    title: str
    description: str
    short_name: str
    failure_msg: str
    solution: str
    severity: str
    references: tuple[str, ...]
    package: str
    code: str | None  # the violation code literal of the rule it annotates, if any


def parse_metadata_yaml(text: str, path: str, line: int) -> dict[str, Any]:
    """A METADATA block's YAML; an error names the file line it is on (``line`` is the
    file line of the block's first YAML line)."""
    import yaml  # small, and only needed when the policy set is first read

    # The C loader (libyaml) is several times faster; the pure-Python one is the fallback.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        value = yaml.load(text, Loader=loader) or {}  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        at = line + (mark.line if mark is not None else 0)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(
            f"{path}:{at}: METADATA is not valid YAML: {problem}".replace("\n", " ")
        ) from exc
    if not isinstance(value, dict):
        raise PolicyError(f"{path}:{line}: METADATA must be a YAML mapping")
    return value


def parse_annotations(path: str, source: str) -> list[Annotation]:
    """Every METADATA block of a module that annotates its package or a rule (an orphan
    block annotates nothing: ``mlgate policy check`` reports it), with the code literal
    of the violation rule below it, read from regorus's AST. A module that does not parse
    has none (the engines and ``policy check`` report the parse error)."""
    from .regosource import parse_module

    module = parse_module(path, source)
    return annotations_of(module) if module else []


def annotations_of(module: Module) -> list[Annotation]:
    """The annotations of one parsed module (see :func:`parse_annotations`)."""
    path = module.file
    found: list[Annotation] = []
    for block in module.metadata:
        if block.target is None:
            continue
        meta = parse_metadata_yaml(block.text, path, block.line + 1)
        scope = str(meta.get("scope") or block.target)
        custom = meta.get("custom") or {}
        refs = tuple(
            str(r.get("description") or r.get("ref"))
            for r in meta.get("related_resources") or []
            if isinstance(r, dict)
        )
        found.append(
            Annotation(
                file=path,
                line=block.line,
                scope=scope,
                title=str(meta.get("title", "")),
                description=str(meta.get("description", "")).strip(),
                short_name=str(custom.get("short_name", "")),
                failure_msg=str(custom.get("failure_msg", "")),
                solution=str(custom.get("solution", "")).strip(),
                severity=str(custom.get("severity", "")),
                references=refs,
                package=module.package,
                code=block.rule.code if block.rule and scope == "rule" else None,
            )
        )
    return found




class _KeepUnknown(dict[str, Any]):
    """Format mapping that leaves unknown ``{name}`` placeholders visible."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def format_message(template: str, params: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders; unknown names stay visible rather than raising."""
    try:
        return template.format_map(_KeepUnknown({k: _show(v) for k, v in params.items()}))
    except (ValueError, IndexError):
        return template


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    return str(value)
