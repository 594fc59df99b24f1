"""Generate ``schemas/*.schema.json`` from the pydantic models; the policy data's from
the bundled policy set's ``data.schema.json`` files (:mod:`mlgate.policydata`) and the gate
input's facts from its tag declarations, ``policies/**/tags.json`` (:mod:`mlgate.tags`).

    python -m mlgate.schemas [--check] [DIR]

``--check`` exits 1 when a checked-in schema differs from what the models generate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .models import DataManifest, Decision, GateInput, WaiverFile

SCHEMAS: dict[str, Any] = {
    "gate_input.schema.json": GateInput,
    "decision.schema.json": Decision,
    "data_manifest.schema.json": DataManifest,
    "waivers.schema.json": WaiverFile,
}
POLICY_DATA = "policy_data.schema.json"


def policy_data_schema() -> dict[str, Any]:
    """``mlgate.config``'s schema as the bundled policy set assembles it."""
    from .policy import bundled_dir, wanted_files
    from .policydata import assemble

    root = bundled_dir("policies")
    files = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in wanted_files(root)
        if p.is_file()
    }
    return assemble(files, "policies")


def generate() -> dict[str, str]:
    out: dict[str, str] = {}
    bodies: dict[str, dict[str, Any]] = {}
    for name, model in SCHEMAS.items():
        if model is GateInput:
            from .policy import bundled_declarations
            from .tags import gate_input_schema_for

            bodies[name] = gate_input_schema_for(bundled_declarations())
        else:
            bodies[name] = model.model_json_schema()
    bodies[POLICY_DATA] = policy_data_schema()
    for name in sorted(bodies):
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://mlgate.dev/schemas/{name}",
            **bodies[name],
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
