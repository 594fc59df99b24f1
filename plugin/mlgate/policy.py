"""The policy set on disk: Rego modules, policy data, and the METADATA blocks.

Python reads the ``# METADATA`` blocks itself (titles, failure messages, remediation,
article references) so that no engine needs ``rego.metadata`` support, and so that
compliance edits wording in one place without touching rule logic.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import PolicyError
from .jsondoc import loads
from .models import GATE_IDS, PolicyConfig, WaiverEntry

DATA_FILE = "data.json"
WAIVER_FILE = "waivers.json"
TEST_SUFFIX = "_test.rego"


def _package_root() -> Path:
    return Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """``policies`` or ``schemas`` as shipped: inside the wheel, else the checkout."""
    inside_wheel = _package_root() / "_bundled" / name
    if inside_wheel.is_dir():
        return inside_wheel
    checkout = _package_root().parents[1] / name
    if checkout.is_dir():
        return checkout
    raise PolicyError(f"bundled {name}/ not found (looked in {inside_wheel} and {checkout})")


# --------------------------------------------------------------------------- METADATA


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


_CODE_LITERAL = re.compile(r'"code":\s*"([a-z0-9_]+\.[a-z0-9_]+)"')
_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)


def _parse_yaml(text: str, where: str) -> dict[str, Any]:
    import yaml  # small, and only needed when the policy set is first read

    # The C loader (libyaml) is several times faster; the pure-Python one is the fallback.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        value = yaml.load(text, Loader=loader) or {}  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise PolicyError(f"{where}: METADATA is not valid YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: METADATA must be a YAML mapping")
    return value


def parse_annotations(path: str, source: str) -> list[Annotation]:
    """Every METADATA block in a module, with the code literal of the rule below it."""
    lines = source.splitlines()
    pkg_match = _PACKAGE.search(source)
    package = pkg_match.group(1) if pkg_match else ""
    found: list[Annotation] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "# METADATA":
            i += 1
            continue
        start = i + 1
        j = start
        block: list[str] = []
        while j < len(lines) and lines[j].startswith("#"):
            block.append(lines[j][2:] if lines[j].startswith("# ") else lines[j][1:])
            j += 1
        meta = _parse_yaml("\n".join(block), f"{path}:{start}")
        # The statement the block annotates runs until the next blank line.
        k = j
        statement: list[str] = []
        while k < len(lines) and lines[k].strip():
            statement.append(lines[k])
            k += 1
        head = statement[0] if statement else ""
        scope = meta.get("scope") or ("package" if head.startswith("package ") else "rule")
        codes = _CODE_LITERAL.findall("\n".join(statement)) if scope == "rule" else []
        custom = meta.get("custom") or {}
        refs = tuple(
            str(r.get("description") or r.get("ref"))
            for r in meta.get("related_resources") or []
            if isinstance(r, dict)
        )
        found.append(
            Annotation(
                file=path,
                line=start,
                scope=scope,
                title=str(meta.get("title", "")),
                description=str(meta.get("description", "")).strip(),
                short_name=str(custom.get("short_name", "")),
                failure_msg=str(custom.get("failure_msg", "")),
                solution=str(custom.get("solution", "")).strip(),
                severity=str(custom.get("severity", "")),
                references=refs,
                package=package,
                code=codes[0] if codes else None,
            )
        )
        i = j
    return found


# --------------------------------------------------------------------------- policy set


@dataclass
class PolicySet:
    """The Rego modules and data of one policy directory (or one git revision of it)."""

    root: str
    modules: dict[str, str]  # relative path -> source, policies only (no tests)
    tests: dict[str, str]  # relative path -> source, *_test.rego
    data: dict[str, Any]  # what the engines get: mlgate.config complete, defaults filled in
    revision: str = ""
    waivers: list[WaiverEntry] = field(default_factory=list)
    _config: PolicyConfig | None = field(default=None, repr=False)
    data_file: dict[str, Any] = field(default_factory=dict, repr=False)  # data.json as written

    @property
    def config(self) -> PolicyConfig:
        if self._config is None:
            self._config = load_config(self.data, f"{self.root}/{DATA_FILE}")
        return self._config

    @cached_property
    def annotations(self) -> list[Annotation]:
        found: list[Annotation] = []
        for path, source in sorted(self.modules.items()):
            found.extend(parse_annotations(path, source))
        return found

    @cached_property
    def gate_meta(self) -> dict[str, Annotation]:
        """Package annotation of each gate, keyed by gate id."""
        gates: dict[str, Annotation] = {}
        for ann in self.annotations:
            if ann.scope == "package" and ann.package.startswith("mlgate.gates."):
                gates[ann.package.rsplit(".", 1)[1]] = ann
        return gates

    @cached_property
    def violation_meta(self) -> dict[str, Annotation]:
        """Rule annotation of each violation code."""
        return {a.code: a for a in self.annotations if a.code}

    def fingerprint(self) -> str:
        """A digest of modules and data: engines cache compiled policy by it."""
        import hashlib

        h = hashlib.sha256()
        for path, source in sorted(self.modules.items()):
            h.update(path.encode() + b"\0" + source.encode() + b"\0")
        h.update(json.dumps(self.data, sort_keys=True).encode())
        return h.hexdigest()


def load_config(data: dict[str, Any], where: str) -> PolicyConfig:
    """The validated policy data; a file without an ``mlgate.config`` object is refused.

    Missing keys inside ``mlgate.config`` take their defaults (``mlgate policy check``
    names each one); a missing file or section is not "the defaults": it is how a deleted
    or truncated data.json looks, and the gates must not run on what nobody wrote.
    """
    from pydantic import ValidationError

    mlgate = data.get("mlgate") if isinstance(data, dict) else None
    raw = mlgate.get("config") if isinstance(mlgate, dict) else None
    if not isinstance(raw, dict):
        raise PolicyError(
            f"{where}: mlgate.config must be an object holding the policy data "
            "(see schemas/policy_data.schema.json)"
        )
    try:
        return PolicyConfig.model_validate(raw, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in ("mlgate", "config", *err["loc"]))
        raise PolicyError(f"{where}: {loc}: {err['msg']}") from exc


READ_ATTEMPTS = 5


def load_policy_dir(directory: str | Path | None = None) -> PolicySet:
    """Read a policy directory: ``*.rego`` modules (tests apart), ``data.json`` and
    ``waivers.json``; its revision is the git commit of the directory, else a digest of
    their content (:mod:`mlgate.revision`).

    The set is read as one snapshot: every file is read, then the directory is listed and
    stat'ed again, and a set that changed meanwhile (a checkout or deploy in progress) is
    read again, never half old and half new. What is returned lives in memory: the engines
    compile from it, so later changes on disk do not reach a running process.
    """
    root = Path(directory) if directory else bundled_dir("policies")
    if not root.is_dir():
        raise PolicyError(f"{root}: policy directory not found")
    from .revision import policy_revision

    for _ in range(READ_ATTEMPTS):
        before = _tree_state(root)
        files = _read_files(root)
        revision = policy_revision(root, files)
        if _tree_state(root) == before:
            return policy_set_from_files(str(root), files, revision)
    raise PolicyError(
        f"{root}: the policy files kept changing while being read ({READ_ATTEMPTS} attempts); "
        "refusing a half-read policy set"
    )


def _wanted_files(root: Path) -> list[Path]:
    return [*sorted(root.rglob("*.rego")), root / DATA_FILE, root / WAIVER_FILE]


def _tree_state(root: Path) -> list[tuple[str, int, int, int]]:
    """Name, size, mtime and inode of every policy file: what a change on disk alters."""
    state = []
    for path in _wanted_files(root):
        try:
            st = path.stat()
        except OSError:
            continue
        state.append((path.as_posix(), st.st_size, st.st_mtime_ns, st.st_ino))
    return state


def _read_files(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in _wanted_files(root):
        if not path.is_file():
            continue
        try:
            files[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue  # deleted between listing and reading: the state check notices
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{path}: cannot read: {exc}") from exc
    return files


def policy_set_from_files(root: str, files: dict[str, str], revision: str) -> PolicySet:
    """Build and validate a policy set from file texts keyed by path relative to ``root``
    (a directory on disk, or a tree in a git revision).

    Policy data and waivers are validated here: a bad file is exit 2 before anything runs.
    """
    from datetime import UTC, datetime

    from .waivers import parse_waivers

    modules = {
        p: t for p, t in files.items() if p.endswith(".rego") and not p.endswith(TEST_SUFFIX)
    }
    tests = {p: t for p, t in files.items() if p.endswith(TEST_SUFFIX)}
    if not modules:
        raise PolicyError(f"{root}: no .rego policies found")
    if DATA_FILE not in files:
        raise PolicyError(
            f"{root}/{DATA_FILE}: not found; the policy data (mlgate.config) is required, "
            "the gates do not run on defaults nobody wrote down"
        )
    try:
        data_file = loads(files[DATA_FILE])  # strict: a duplicate key is refused
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{root}/{DATA_FILE}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    config = load_config(data_file, f"{root}/{DATA_FILE}")
    policy_set = PolicySet(
        root=root,
        modules=modules,
        tests=tests,
        data=engine_data(data_file, config),
        revision=revision,
        _config=config,
        data_file=data_file,
    )
    if WAIVER_FILE in files:
        policy_set.waivers = parse_waivers(
            files[WAIVER_FILE],
            f"{root}/{WAIVER_FILE}",
            config.waivers,
            datetime.now(UTC).date(),
        )
    return policy_set


def engine_data(data_file: dict[str, Any], config: PolicyConfig) -> dict[str, Any]:
    """The policy data the engines get: data.json with ``mlgate.config`` replaced by the
    validated configuration, every default filled in. Rego reads what Python validated,
    so a key left out of data.json can never read as "absent" (and pass) in a rule."""
    data = dict(data_file)
    data["mlgate"] = {**data_file["mlgate"], "config": config.model_dump(mode="json")}
    return data


def missing_config_keys(policy_set: PolicySet) -> list[str]:
    """Keys of ``mlgate.config`` that data.json leaves to their defaults, as dotted paths."""
    raw = policy_set.data_file.get("mlgate", {}).get("config", {})
    return _missing_keys(PolicyConfig, raw, "mlgate.config")


def _missing_keys(model: type[Any], raw: Any, prefix: str) -> list[str]:
    from pydantic import BaseModel

    missing: list[str] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}"
        if not isinstance(raw, dict) or name not in raw:
            missing.append(path)
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            missing += _missing_keys(info.annotation, raw[name], path)
    return missing


def missing_gates(policy_set: PolicySet) -> list[str]:
    return [g for g in GATE_IDS if g not in policy_set.gate_meta]


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
