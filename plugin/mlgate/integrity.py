"""Model integrity in production: the model files of a protected holding now, against
the files its allowed promotion on record was decided on (``mlgate audit``).

Every decision for a protected target records the digest of the model files it was made
on and each file's sha256 (:func:`mlgate.gate.record_model_files`). Audit decides every
holding again, which hashes its files again (streaming, in parallel), and compares with
the promotion on record. What that promotion recorded is trusted as approved: mlgate
cannot tell whether the files were already wrong when they were first promoted; it
tells whether they changed since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .modelfiles import files_diff

if TYPE_CHECKING:
    from .logentry import LogEntry
    from .models import Decision, GateInput


def since(entry: LogEntry) -> str:
    """How a promotion on record is named in audit's reasons."""
    return f"promotion {entry.decision_id} on {entry.decision.evaluated_at[:10]}"


@dataclass(frozen=True)
class FilesCheck:
    """What the comparison found: a finding (the files differ from those approved, or
    cannot be compared), a note (why they were not compared), or neither (unchanged)."""

    finding: str | None = None
    note: str | None = None


def _how(name: str, then: Mapping[str, str], now: Mapping[str, str]) -> str:
    if name not in then:
        return "added"
    return "removed" if name not in now else "changed"


def check_files(promoted: LogEntry, decision: Decision, gate_input: GateInput) -> FilesCheck:
    """The model files ``decision`` was made on now against those of ``promoted``.

    Each added, removed or changed file is named when both decisions kept the per-file
    map; a promotion logged with the attestation gate on before the map was kept names
    the files that differ from the attestation instead. Files that cannot be hashed now
    are a finding (fail closed); a promotion that recorded no digest is a note only: there
    is nothing approved to compare with, which is not evidence of a change.
    """
    when = since(promoted)
    then_sha, then_files = promoted.decision.model_files_sha256, promoted.decision.model_files
    now_sha, now_files = decision.model_files_sha256, decision.model_files
    if then_sha is None:
        return FilesCheck(note=(
            f"model files not compared: {when} recorded no model-files digest (decided "
            "before mlgate recorded one, or its files could not be hashed then); there is "
            "no first-approved digest"
        ))
    if now_sha is None:
        return FilesCheck(finding=(
            f"model files cannot be compared with {when} (model files sha256 "
            f"{then_sha[:12]}...): they could not be hashed now"
        ))
    if then_sha == now_sha:
        return FilesCheck()
    if then_files is not None and now_files is not None:
        names = [f"{n} ({_how(n, then_files, now_files)})"
                 for n in files_diff(then_files, now_files)]
    else:
        names = list(gate_input.attestation.files_diff if gate_input.attestation else [])
    listed = ": " + ", ".join(names) if names else ""
    return FilesCheck(finding=(
        f"model files changed since {when} (model files sha256 {then_sha[:12]}... -> "
        f"{now_sha[:12]}...){listed}"
    ))
