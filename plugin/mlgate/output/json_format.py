"""``--format json``: the decision document (a list of them for several decisions)."""

from __future__ import annotations

import json

from ..models import Decision


def render(decisions: list[Decision]) -> str:
    documents = [d.model_dump(mode="json") for d in decisions]
    return json.dumps(documents[0] if len(documents) == 1 else documents, indent=2) + "\n"
