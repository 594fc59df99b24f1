"""The policy set on disk: Rego modules, policy data, and the METADATA blocks.

Python reads the ``# METADATA`` blocks itself (titles, failure messages, remediation,
article references) so that no engine needs ``rego.metadata`` support, and so that
compliance edits wording in one place without touching rule logic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PolicyError
from .jsondoc import loads
from .metadata import Annotation, annotations_of
from .models import WaiverEntry
from .policydata import PolicySettings, is_schema_file
from .tags import TAGS_FILE, TagDeclarations, load_declarations

if TYPE_CHECKING:
    from .regosource import Module

DATA_FILE = "data.json"
WAIVER_FILE = "waivers.json"
TEST_SUFFIX = "_test.rego"
# The conformance corpus (mlgate.scenarios) lives in the policy directory, for the author,
# but is no policy: nothing under it is read as Rego or data, nor reaches an engine.
SCENARIO_DIR = "scenarios"


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


# --------------------------------------------------------------------------- policy set


@dataclass
class PolicySet:
    """The Rego modules and data of one policy directory (or one git revision of it)."""

    root: str
    modules: dict[str, str]  # relative path -> source, policies only (no tests)
    tests: dict[str, str]  # relative path -> source, *_test.rego
    data: dict[str, Any]  # what the engines get: mlgate.config complete, defaults filled in
    config: PolicySettings  # what Python reads of it
    revision: str = ""
    waivers: list[WaiverEntry] = field(default_factory=list)
    data_file: dict[str, Any] = field(default_factory=dict, repr=False)  # data.json as written
    # mlgate.config's schema, assembled from main/ and gates/*/data.schema.json
    data_schema: dict[str, Any] = field(default_factory=dict, repr=False)
    defaults_used: list[str] = field(default_factory=list)  # dotted paths data.json left out
    # The compliance.* tags the gates read (policies/**/tags.json), mlgate.tags.
    tag_declarations: TagDeclarations = field(default_factory=TagDeclarations)
    # The policy-data schemas and tag declarations as read (relative path -> text): what
    # rebuilds this set with other policy data (a corpus case's policy_data).
    declaration_files: dict[str, str] = field(default_factory=dict, repr=False)

    @cached_property
    def rego(self) -> dict[str, Module]:
        """Every policy module (tests apart) that parses, read from regorus's AST."""
        from .regosource import parse_modules

        return parse_modules(self.modules)[0]

    @cached_property
    def rego_tests(self) -> dict[str, Module]:
        """Every test module that parses, read from regorus's AST."""
        from .regosource import parse_modules

        return parse_modules(self.tests)[0]

    @cached_property
    def annotations(self) -> list[Annotation]:
        found: list[Annotation] = []
        for path in sorted(self.modules):
            if path in self.rego:
                found.extend(annotations_of(self.rego[path]))
        return found

    def violation_codes(self) -> dict[str, tuple[str, int]]:
        """Every violation code literal of the policies (tests apart) and where it is
        written (file, line); a duplicated code keeps its first place."""
        codes: dict[str, tuple[str, int]] = {}
        for path in sorted(self.modules):
            for rule in self.rego[path].violations if path in self.rego else []:
                if rule.code:
                    codes.setdefault(rule.code, (path, rule.code_line))
        return codes

    @cached_property
    def gate_ids(self) -> tuple[str, ...]:
        """The gates of this set's decisions, in order: main.rego's ``required_gates``
        (an array literal of strings, else :class:`PolicyError` with file:line)."""
        from .policygates import declared_gates

        return declared_gates(self.modules, self.root).ids

    @cached_property
    def wiring_errors(self) -> tuple[str, ...]:
        """Gates present but not wired, wired but absent, duplicated or misnamed
        (:func:`mlgate.policygates.wiring_errors`), each ``file:line: message``."""
        from .policygates import wiring_errors

        return tuple(wiring_errors(self.modules, self.root))

    def require_wired(self) -> None:
        """:class:`PolicyError` (exit 2, naming this set) when the gates are miswired:
        no decision is made on a gate list that does not say what the policies hold."""
        if self.wiring_errors:
            errors = "; ".join(self.wiring_errors)
            raise PolicyError(f"{self.root}: the gates are miswired: {errors}")

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


@dataclass(frozen=True)
class LoadedConfig:
    """``mlgate.config`` validated: as the engines get it, Python's view, what was filled."""

    values: dict[str, Any]
    settings: PolicySettings
    defaults_used: list[str]
    schema: dict[str, Any]


def load_config(
    data: Any, where: str, files: dict[str, str], root: str
) -> LoadedConfig:
    """The policy data validated against the schemas among ``files`` (the policy set's,
    paths relative to ``root``); a file without an ``mlgate.config`` object is refused.

    Missing keys inside ``mlgate.config`` take the schemas' defaults (``mlgate policy
    check`` names each one); a missing file or section is not "the defaults": it is how a
    deleted or truncated data.json looks, and the gates must not run on what nobody wrote.
    """
    from .policydata import assemble, settings_from, validate_config

    mlgate = data.get("mlgate") if isinstance(data, dict) else None
    raw = mlgate.get("config") if isinstance(mlgate, dict) else None
    if not isinstance(raw, dict):
        raise PolicyError(
            f"{where}: mlgate.config must be an object holding the policy data "
            "(see schemas/policy_data.schema.json)"
        )
    schema = assemble(files, root)

    def packages() -> dict[str, str]:
        """Each Rego package's file, read from the AST only to word a refusal."""
        from .regosource import parse_modules

        rego = {p: t for p, t in files.items() if p.endswith(".rego")}
        parsed, _ = parse_modules({p: t for p, t in rego.items() if not p.endswith(TEST_SUFFIX)})
        return {module.package: path for path, module in parsed.items()}

    values, defaults = validate_config(raw, schema, where, root, packages)
    return LoadedConfig(values, settings_from(values, where), defaults, schema)


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


def is_policy_file(path: str) -> bool:
    """A file of a policy set, by its path relative to the policy directory: the Rego
    modules and tests, ``data.json``, ``waivers.json``, the policy-data schemas and the
    tag declarations; nothing under ``scenarios/`` (the conformance corpus)."""
    if path.split("/", 1)[0] == SCENARIO_DIR:
        return False
    return (
        path.endswith(".rego")
        or path in (DATA_FILE, WAIVER_FILE)
        or is_schema_file(path)
        or path.rsplit("/", 1)[-1] == TAGS_FILE
    )


def wanted_files(root: Path) -> list[Path]:
    """The files :func:`load_policy_dir` reads in ``root``."""
    found = [*root.rglob("*.rego"), *root.rglob("*.schema.json"), *root.rglob(TAGS_FILE)]
    policy = sorted(p for p in found if is_policy_file(p.relative_to(root).as_posix()))
    return [*policy, root / DATA_FILE, root / WAIVER_FILE]


def _tree_state(root: Path) -> list[tuple[str, int, int, int]]:
    """Name, size, mtime and inode of every policy file: what a change on disk alters."""
    state = []
    for path in wanted_files(root):
        try:
            st = path.stat()
        except OSError:
            continue
        state.append((path.as_posix(), st.st_size, st.st_mtime_ns, st.st_ino))
    return state


def _read_files(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in wanted_files(root):
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
    config = load_config(data_file, f"{root}/{DATA_FILE}", files, root)
    policy_set = PolicySet(
        root=root,
        modules=modules,
        tests=tests,
        data=engine_data(data_file, config.values),
        config=config.settings,
        revision=revision,
        data_file=data_file,
        data_schema=config.schema,
        defaults_used=config.defaults_used,
        tag_declarations=declarations_of(files, root),
        declaration_files={
            p: t for p, t in files.items() if is_schema_file(p) or p.rsplit("/", 1)[-1] == TAGS_FILE
        },
    )
    if WAIVER_FILE in files:
        policy_set.waivers = parse_waivers(
            files[WAIVER_FILE],
            f"{root}/{WAIVER_FILE}",
            config.settings.waivers,
            datetime.now(UTC).date(),
        )
    return policy_set


def declarations_of(files: dict[str, str], root: str) -> TagDeclarations:
    """The tag declarations of a policy set's files. A set with no ``tags.json`` at all
    was written before tags were declared (an older git revision, for ``policy impact``):
    it reads the tags mlgate read then, which the bundled policies declare."""
    if any(p.rsplit("/", 1)[-1] == TAGS_FILE for p in files):
        return load_declarations(files, root)
    return bundled_declarations()


@cache
def bundled_declarations() -> TagDeclarations:
    root = bundled_dir("policies")
    files = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob(TAGS_FILE))
    }
    return load_declarations(files, str(root))


def engine_data(data_file: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The policy data the engines get: data.json with ``mlgate.config`` replaced by the
    validated configuration, every default filled in. Rego reads what Python validated,
    so a key left out of data.json can never read as "absent" (and pass) in a rule."""
    data = dict(data_file)
    data["mlgate"] = {**data_file["mlgate"], "config": config}
    return data


def missing_config_keys(policy_set: PolicySet) -> list[str]:
    """Keys of ``mlgate.config`` that data.json leaves to their defaults, as dotted paths
    (the outermost one: a section left out is one path)."""
    return list(policy_set.defaults_used)


def default_value(policy_set: PolicySet, dotted: str) -> Any:
    """The value the engines use at ``dotted`` (``mlgate.config.assessment.max_age_days``)."""
    from .policydata import lookup

    return lookup(policy_set.data["mlgate"]["config"], dotted)


def missing_gates(policy_set: PolicySet) -> list[str]:
    """Gates wired in ``required_gates`` whose package has no METADATA block."""
    return [g for g in policy_set.gate_ids if g not in policy_set.gate_meta]
