"""Generate ``schemas/*.schema.json`` from the pydantic models (the gate input's facts
from the bundled policies' tag declarations, ``policies/**/tags.json``).

    python -m mlgate.schemas [--check] [DIR]

``--check`` exits 1 when a checked-in schema differs from what the models generate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .models import DataManifest, Decision, GateInput, PolicyConfig, WaiverFile

SCHEMAS: dict[str, Any] = {
    "gate_input.schema.json": GateInput,
    "decision.schema.json": Decision,
    "data_manifest.schema.json": DataManifest,
    "policy_data.schema.json": PolicyConfig,
    "waivers.schema.json": WaiverFile,
}


def generate() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, model in SCHEMAS.items():
        if model is GateInput:
            from .policy import bundled_declarations
            from .tags import gate_input_schema_for

            body = gate_input_schema_for(bundled_declarations())
        else:
            body = model.model_json_schema()
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://mlgate.dev/schemas/{name}",
            **body,
        }
        out[name] = json.dumps(schema, indent=2, sort_keys=False) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    from .policy import bundled_dir

    target = Path(args[0]) if args else bundled_dir("schemas")
    stale = []
    for name, text in generate().items():
        path = target / name
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale schemas in {target}: {', '.join(stale)}; run python -m mlgate.schemas")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
