"""A promotion's transaction: read the evidence, decide, then refuse (logged) or apply
under the registered model's row lock if the evidence is still the one decided on.

See :mod:`mlgate.registry.store` for the order of a promotion and the one exception (a
sqlite decision log in the registry's own file).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import MlgateError, one_line
from ..evidence import Evidence
from ..textsafe import printable
from ..uris import sqlite_path
from .messages import (
    blocked_message,
    describe_target,
    describe_version,
    refusal,
    requesting_user,
    verified_user,
)
from .storebase import MAX_ATTEMPTS, SqlRow, StoreBase

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from sqlalchemy.orm import Session

    from ..models import Decision, GateInput, TargetKind

_logger = logging.getLogger("mlgate.registry")


class PromotionMixin(StoreBase):
    """Decide a promotion and apply it, or refuse it, in the store's own transactions."""

    def _read_evidence(
        self, mv: ModelVersion, target: str, kind: TargetKind
    ) -> tuple[Evidence, list[str]]:
        """The version's evidence; for a ``warn`` target whose artifacts cannot be read,
        the tags alone and a warning saying what could not be read."""
        try:
            return self.gate.read(mv), []
        except MlgateError as exc:
            if self.gate.protected(target, kind):
                raise
            reason = one_line(str(exc))
            _logger.warning(
                "mlgate: evidence of %s unreadable, deciding %s without the manifest: %s",
                describe_version(mv.name, str(mv.version)), describe_target(target, kind),
                printable(reason),
            )
            evidence = Evidence(
                model=mv.name,
                version=str(mv.version),
                source=mv.source or "",
                tags=dict(mv.tags or {}),
                aliases=list(mv.aliases or []),
                manifest=None,
            )
            return evidence, [
                f"evidence could not be read ({printable(reason)}); decided without the "
                f"manifest, and allowed because {describe_target(target, kind)} is not "
                "protected (warn)"
            ]

    def _log_shares_registry_file(self) -> bool:
        """A sqlite decision log in the registry's own file (see the module doc)."""
        log = sqlite_path(self.gate.settings.decision_log)
        registry = sqlite_path(self.gate.settings.registry_uri)
        if log is None or registry is None:
            return False
        return os.path.realpath(log) == os.path.realpath(registry)

    def _unchanged(self, sql_mv: SqlRow, evidence: Evidence) -> bool:
        return self._current_compliance_tags(sql_mv) == self._compliance_tags(evidence.tags)

    def _promote(
        self,
        name: str,
        version: str,
        target: str,
        kind: TargetKind,
        apply: Callable[[Session, SqlRow], Any],
    ) -> Any:
        """Evaluate; refuse (logged) or apply and log under the model's lock, evidence unchanged."""
        self.gate.ensure_available()
        actor = requesting_user()
        notes: list[str] = []
        for _ in range(MAX_ATTEMPTS):
            mv = self.get_model_version(name, version)
            evidence, read_notes = self._read_evidence(mv, target, kind)
            decision, gate_input = self.gate.decide(evidence, target, kind, verified_user())
            if read_notes or notes:
                decision.warnings = [*decision.warnings, *read_notes, *notes]
            if not decision.allowed:
                self.gate.record(decision, gate_input, actor)
                self._write_decision_tags(name, version, decision)
                _logger.warning(
                    "mlgate: blocked %s promoting %s to %s (decision %s)",
                    printable(actor), describe_version(name, version),
                    describe_target(target, kind), decision.decision_id,
                )
                raise refusal(blocked_message(decision, kind))
            applied, result, logged = self._apply_allowed(
                name, version, evidence, decision, gate_input, actor, apply
            )
            if applied:
                return result
            notes = [
                f"decision {decision.decision_id} (allowed) for this request was logged but "
                "not applied: the version's compliance tags changed before the promotion "
                "was written; this decision replaces it"
            ] if logged else []
            _logger.warning(
                "mlgate: the evidence of %s changed during evaluation; evaluating again",
                describe_version(name, version),
            )
        raise refusal(
            f"mlgate refused promoting {describe_version(name, version)} to "
            f"{describe_target(target, kind)}: its compliance tags changed while it was "
            f"being evaluated, {MAX_ATTEMPTS} times; retry when they have settled"
        )

    def _apply_allowed(
        self,
        name: str,
        version: str,
        evidence: Evidence,
        decision: Decision,
        gate_input: GateInput,
        actor: str,
        apply: Callable[[Session, SqlRow], Any],
    ) -> tuple[bool, Any, bool]:
        """``(applied, result, logged)``: log and apply if the evidence is unchanged."""
        logged = False
        if self._log_shares_registry_file():
            with self.ManagedSessionMaker() as session:
                if not self._unchanged(self._get_sql_model_version(session, name, version),
                                       evidence):
                    return False, None, False
            self.gate.record(decision, gate_input, actor)
            logged = True
        with self.ManagedSessionMaker(read_only=False) as session:
            self._lock_model(session, name)
            sql_mv = self._get_sql_model_version(session, name, version)
            if not self._unchanged(sql_mv, evidence):
                return False, None, logged
            if not logged:
                # Under the lock: the row is written only for a promotion that happens.
                self.gate.record(decision, gate_input, actor)
            result = apply(session, sql_mv)
            self._merge_decision_tags(session, sql_mv, decision)
            return True, result, True
