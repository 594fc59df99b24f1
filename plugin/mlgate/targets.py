"""Promotion targets: alias names and stages exactly as MLflow validates them.

Contract section 7: a target is an MLflow alias name or stage exactly as MLflow validates
it; an empty, padded or otherwise invalid target is a command error (exit 2). ``check
--target ''`` used to evaluate for a target no registry would accept (and warn), so a CI
gate with a mistyped target passed.

The rules are MLflow's (``mlflow/utils/validation.py``: ``_validate_model_alias_name``
and ``_validate_model_alias_name_reserved``, which its SQL store applies before it sets
an alias; ``mlflow/entities/model_registry/model_version_stages.py``:
``get_canonical_stage``), reimplemented so that ``mlgate check --input`` never imports
mlflow; ``tests/test_targets.py`` proves the two agree on generated names. One rule is
stricter: MLflow's pattern ``^[\\w\\-]*$`` lets a trailing newline through (``$`` matches
before it), and ``production\\n`` looks exactly like ``production``; control characters
are refused.

Protected aliases are compared by their folded form (:func:`mlgate.names.fold`): an
alias that folds to a protected one is that alias when it differs by ASCII case alone
(``PRODUCTION`` is enforced as ``production``) and refused otherwise (``prodúction``,
``PRODUCTİON``), since a database collation may store it as the protected alias itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import InputError
from .names import has_control_characters, is_plain_variant, protected_match
from .textsafe import printable

ALIAS_MAX_LENGTH = 255  # MLflow's MAX_REGISTERED_MODEL_ALIAS_LENGTH
# MLflow's _REGISTERED_MODEL_ALIAS_REGEX and _REGISTERED_MODEL_ALIAS_VERSION_REGEX, used
# with re.match as MLflow does (so their Unicode \w and \d are MLflow's too).
_ALIAS_CHARACTERS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
STAGES = ("None", "Staging", "Production", "Archived")  # MLflow's ALL_STAGES


def alias_problem(alias: str) -> str | None:
    """Why MLflow (or mlgate's control-character rule) refuses ``alias``; None if valid."""
    if alias == "":
        return "is empty"
    if has_control_characters(alias):
        return "holds a control or invisible character"
    if not _ALIAS_CHARACTERS.match(alias):
        return "may only contain letters, digits, '_' and '-' (no spaces)"
    if len(alias) > ALIAS_MAX_LENGTH:
        return f"is longer than {ALIAS_MAX_LENGTH} characters"
    if alias.lower() == "latest":
        return "is reserved by MLflow ('latest', case-insensitive)"
    if _VERSION_ALIAS.match(alias):
        return "is reserved by MLflow (v<number> names a version)"
    return None


def stage_problem(stage: str) -> str | None:
    """Why MLflow refuses ``stage``; None when it is a stage (case-insensitive)."""
    if stage.lower() in {s.lower() for s in STAGES}:
        return None
    return "is not a stage; expected one of " + ", ".join(STAGES)


def validate_alias(alias: str, *, what: str = "--alias") -> str:
    """``alias`` when MLflow accepts it; else :class:`InputError` naming ``what``."""
    problem = alias_problem(alias)
    if problem is not None:
        raise InputError(f"{what} {_shown(alias)}: an alias {problem}, e.g. production")
    return alias


def validate_target(
    target: str,
    kind: str,
    protected: Iterable[str],
    *,
    what: str = "--target",
) -> str:
    """A valid alias (``kind`` ``alias``) or stage, not a look-alike of a protected alias.

    ``protected`` is the policy data's protected aliases (ignored for stages, which are
    a closed list MLflow compares case-insensitively).
    """
    if kind == "stage":
        problem = stage_problem(target)
        if problem is not None:
            raise InputError(f"{what} {_shown(target)}: {problem}")
        return target
    validate_alias(target, what=what)
    match = protected_match(target, list(protected))
    if match is not None and not is_plain_variant(target, match):
        raise InputError(
            f"{what} {_shown(target)}: looks like the protected alias {match!r} "
            f"(same name once case, accents and look-alike letters are folded); "
            f"use {match!r} itself"
        )
    return target


def _shown(name: str) -> str:
    """The name quoted and with control characters escaped: one safe line."""
    return printable(repr(name))
