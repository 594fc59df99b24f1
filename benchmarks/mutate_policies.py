"""Mutation testing of a policy set: do the tests notice when a rule or a default changes?

Generates mutants of every non-test ``.rego`` module (line deletions, negated comparisons,
numbers +-1, true/false flips, ``not`` dropped, ``some``/``every`` swaps of whole blocks)
and of the policy data file (list items dropped, booleans flipped, numbers +-1), and runs
each against:

- the Rego unit tests (``*_test.rego``, as ``mlgate policy test`` runs them), always;
- the conformance corpus (``--corpus policies/scenarios``), optionally, in-process through
  ``runner.evaluate`` so Python's checks of the decision count too;
- a pin table (``--pins tests/test_shipped_policy_data.py``), optionally, for the data
  file: a module whose ``differences(data)`` lists the pinned values ``data`` changes.

Everything runs in this process on the embedded engine (regorus): one compile and one
test run per mutant, no process per mutant. A mutant is *killed* when a test fails, a
scenario decides otherwise, a pin differs, or the engine errors; *not compiling* when the
policy set is rejected before any test runs (a parse error, invalid policy data). A
survivor listed in the equivalents file (``benchmarks/mutation_equivalents.json``, keyed
by file, the original line's text and the mutation, so edits elsewhere do not stale it)
is reported as equivalent; any other survivor makes the exit code 1.

    python benchmarks/mutate_policies.py --corpus policies/scenarios \\
        --pins tests/test_shipped_policy_data.py

For a compliance team's own policy directory: ``--policies DIR`` (and ``--data FILE`` for
another data file, ``--equivalents FILE`` for its own list); ``--file F`` mutates one file,
``--sample N`` at most N mutants per file, ``-v`` lists the equivalents too.

Exit 0 when every survivor is a documented equivalent, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = Path(__file__).resolve().parent / "mutation_equivalents.json"
DATA_FILE = "data.json"

# Comparison operators and their negations; longest first so "<=" is not read as "<".
NEGATED = {"==": "!=", "!=": "==", "<=": ">", ">=": "<", "<": ">=", ">": "<="}
_COMPARISON = re.compile(r"==|!=|<=|>=|<|>")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')
_NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")
_BOOL = re.compile(r"\b(true|false)\b")
_EVERY = re.compile(r"^(\s*)every\s+(.+?)\s*\{\s*$")
_SOME_IN = re.compile(r"^(\s*)some\s+(.+\sin\s.+?)\s*$")
_NOT = re.compile(r"^(\s*)not\s+")
# Lines a deletion would only break the syntax of: structure, not logic.
_STRUCTURE = re.compile(r"^(package|import)\b|^[\]})]+,?$|^\} else|[{\[(|]$")


@dataclass(frozen=True)
class Mutant:
    file: str  # relative to the policy directory
    line: int  # 1-based, in the unmutated file
    original: str  # the unmutated line (stripped), or the JSON path for data
    mutation: str  # what changed, e.g. 'delete line', '"==" -> "!="', 'drop "public"'
    text: str  # the whole mutated file

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.file, self.original, self.mutation)


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, survived, equivalent, not_compiling
    by: str = ""  # what killed it, or why it does not compile, or why equivalent


# --------------------------------------------------------------------------- Rego mutants


def _code_spans(line: str) -> list[tuple[int, int]]:
    """Spans of ``line`` that are code: outside string literals, before any comment."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in _STRING.finditer(line):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(line)))
    # A "#" outside strings starts a comment: nothing after it is code.
    for index, (start, end) in enumerate(spans):
        hash_at = line.find("#", start, end)
        if hash_at >= 0:
            return [*spans[:index], (start, hash_at)]
    return spans


def _matches(pattern: re.Pattern[str], line: str) -> Iterator[re.Match[str]]:
    for start, end in _code_spans(line):
        yield from pattern.finditer(line, start, end)


def _ordinal(n: int) -> str:
    return "" if n == 1 else f" (#{n})"


def _substitutions(line: str) -> Iterator[tuple[str, str]]:
    """(mutation, mutated line) for each operator occurrence in one line of code."""
    seen: dict[str, int] = {}

    def tag(label: str) -> str:
        seen[label] = seen.get(label, 0) + 1
        return label + _ordinal(seen[label])

    for m in _matches(_COMPARISON, line):
        op = m.group(0)
        new = NEGATED[op]
        yield tag(f'"{op}" -> "{new}"'), line[: m.start()] + new + line[m.end() :]
    for m in _matches(_NUMBER, line):
        value = int(m.group(0))
        for new in (value + 1, value - 1):
            text = line[: m.start()] + str(new) + line[m.end() :]
            yield tag(f"{value} -> {new}"), text
    for m in _matches(_BOOL, line):
        new = "false" if m.group(0) == "true" else "true"
        yield tag(f"{m.group(0)} -> {new}"), line[: m.start()] + new + line[m.end() :]
    negation = _NOT.match(line)
    if negation:
        yield "drop not", _NOT.sub(r"\g<1>", line, 1)


def rego_mutants(path: str, source: str) -> list[Mutant]:
    lines = source.split("\n")
    found: list[Mutant] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue

        def mutant(mutation: str, new_line: str | None, i: int = index, s: str = stripped) -> None:
            mutated = lines[:i] + ([] if new_line is None else [new_line]) + lines[i + 1 :]
            found.append(Mutant(path, i + 1, s, mutation, "\n".join(mutated)))

        if not _STRUCTURE.search(stripped):
            mutant("delete line", None)
        for mutation, new_line in _substitutions(line):
            mutant(mutation, new_line)
        swapped = _swap_quantifier(lines, index)
        if swapped:
            found.append(Mutant(path, index + 1, stripped, swapped[0], "\n".join(swapped[1])))
    return found


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _swap_quantifier(lines: list[str], i: int) -> tuple[str, list[str]] | None:
    """``every x in xs { body }`` as ``some x in xs`` followed by the body, and
    ``some x in xs`` as ``every x in xs { the rest of the enclosing body }``."""
    every = _EVERY.match(lines[i])
    if every:
        pad = every.group(1)
        for j in range(i + 1, len(lines)):
            if _indent(lines[j]) <= len(pad) and lines[j].strip():
                if lines[j].strip() != "}":
                    return None
                body = lines[i + 1 : j]
                return "every -> some", [
                    *lines[:i],
                    f"{pad}some {every.group(2)}",
                    *body,
                    *lines[j + 1 :],
                ]
        return None
    some = _SOME_IN.match(lines[i])
    if not some or "{" in some.group(2):
        return None
    pad = some.group(1)
    j = i + 1
    while j < len(lines) and (_indent(lines[j]) >= len(pad) or not lines[j].strip()):
        if _indent(lines[j]) == len(pad) and lines[j].strip().startswith("}"):
            break
        j += 1
    opened = f"{pad}every {some.group(2)} {{"
    return "some -> every", [*lines[:i], opened, *lines[i + 1 : j], f"{pad}}}", *lines[j:]]


# --------------------------------------------------------------------------- data mutants


def _walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, (*path, index))


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    mutated = copy.deepcopy(document)
    target = mutated
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return mutated


def _json_path(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _line_of(text: str, path: tuple[Any, ...]) -> int:
    """Line of the value at ``path``: each key searched after the previous one."""
    pos = 0
    for key in path:
        if isinstance(key, str):
            found = text.find(json.dumps(key) + ":", pos)
            pos = found if found >= 0 else pos
    return text.count("\n", 0, pos) + 1


def _mutations(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, bool):
        yield f"{json.dumps(value)} -> {json.dumps(not value)}", not value
    elif isinstance(value, int):
        yield f"{value} -> {value + 1}", value + 1
        yield f"{value} -> {value - 1}", value - 1
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield f"drop {json.dumps(item)}", value[:index] + value[index + 1 :]


def data_mutants(path: str, text: str) -> list[Mutant]:
    document = json.loads(text)
    found: list[Mutant] = []
    for where, value in _walk(document):
        if not where:
            continue
        for mutation, new in _mutations(value):
            mutated = json.dumps(_set(document, where, new), indent=2) + "\n"
            found.append(Mutant(path, _line_of(text, where), _json_path(where), mutation, mutated))
    return found


# --------------------------------------------------------------------------- oracles


@dataclass
class Corpus:
    """The conformance corpus as :mod:`mlgate.scenarios` reads it: base and cases."""

    base: dict[str, Any]  # the corpus's base.json
    cases: list[Any]  # mlgate.scenarios.Scenario


# The corpus decides the same at any moment; a fixed one keeps runs reproducible.
CORPUS_NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def load_corpus(directory: Path) -> Corpus:
    from mlgate.scenarios import load_base
    from mlgate.scenarios import load_corpus as read_corpus

    return Corpus(load_base(directory), read_corpus(directory))


class _Compiled:
    """The runner's engine protocol over an already compiled regorus engine."""

    name = "embedded"

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def evaluate(self, gate_input: dict[str, Any], text: str | None = None) -> Any:
        from mlgate.engine.base import DECISION_RULE
        from mlgate.errors import EngineError

        try:
            self.engine.set_input_json(text or json.dumps(gate_input))
            value = self.engine.eval_rule(DECISION_RULE)
        except BaseException as exc:  # noqa: BLE001 - a Rust panic is a kill, not a crash
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise EngineError(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc
        if value is None:
            raise EngineError("decision undefined")
        return value

    def revision(self) -> str:
        return "mutant"


def load_pins(path: Path) -> Callable[[dict[str, Any]], list[str]]:
    """``differences(data)`` of a pin module (its own directory importable, as pytest does)."""
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"_pins_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"mutate_policies: {path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    differences = getattr(module, "differences", None)
    if not callable(differences):
        raise SystemExit(f"mutate_policies: {path}: defines no differences(data)")
    return differences


@dataclass
class Oracles:
    root: str
    files: dict[str, str]  # the unmutated policy set, relative path -> text
    corpus: Corpus | None = None
    pins: Callable[[dict[str, Any]], list[str]] | None = None

    def judge(self, mutant: Mutant) -> tuple[str, str]:
        """(status, detail) of one mutant: killed, survived or not_compiling."""
        from mlgate.engine.embedded import compile_engine
        from mlgate.errors import MlgateError
        from mlgate.policy import policy_set_from_files

        files = {**self.files, mutant.file: mutant.text}
        try:
            policy_set = policy_set_from_files(self.root, files, "mutant")
            engine = compile_engine(policy_set, with_tests=True)
        except MlgateError as exc:
            return "not_compiling", str(exc).splitlines()[0]
        for check in (self._tests, self._corpus, self._pins):
            killer = check(policy_set, engine)
            if killer:
                return "killed", killer
        return "survived", ""

    def _tests(self, policy_set: Any, engine: Any) -> str:
        from mlgate.policytest import _run_one, discover

        for case in discover(policy_set):
            if not _run_one(engine, case).passed:
                return f"test {case.name}"
        return ""

    def _corpus(self, policy_set: Any, engine: Any) -> str:
        from mlgate.engine.embedded import EmbeddedEngine
        from mlgate.scenarios import EnginePool, decide, essentials, pinned

        if self.corpus is None:
            return ""
        compiled = _Compiled(engine)
        # A case with its own policy data is decided by an engine compiled for that data.
        pool = EnginePool(lambda ps: compiled if ps is policy_set else EmbeddedEngine(ps))
        for case in self.corpus.cases:
            try:
                decision = decide(self.corpus.base, case, policy_set, pool, CORPUS_NOW)
            except Exception as exc:  # noqa: BLE001 - any failure to decide is a kill
                return f"scenario {case.name} ({type(exc).__name__})"
            if essentials(decision) != pinned(case.expected or {}):
                return f"scenario {case.name}"
        return ""

    def _pins(self, policy_set: Any, engine: Any) -> str:
        if self.pins is None:
            return ""
        found = self.pins(policy_set.data)
        return f"pin {found[0]}" if found else ""


# --------------------------------------------------------------------------- the run


def load_equivalents(path: Path) -> dict[tuple[str, str, str], str]:
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text(encoding="utf-8"))["equivalents"]
    return {(e["file"], e["original"], e["mutation"]): e["reason"] for e in entries}


def sample(mutants: list[Mutant], per_file: int | None) -> list[Mutant]:
    """At most ``per_file`` mutants of each file, spread evenly over it (deterministic)."""
    if per_file is None:
        return mutants
    chosen: list[Mutant] = []
    for name in dict.fromkeys(m.file for m in mutants):
        of_file = [m for m in mutants if m.file == name]
        step = max(1, len(of_file) // per_file)
        chosen.extend(of_file[::step][:per_file])
    return chosen


def policy_files(directory: Path, data_file: Path | None) -> tuple[dict[str, str], list[str]]:
    """All files of the policy set, and the ones to mutate (modules and the data file)."""
    from mlgate.policy import wanted_files

    files: dict[str, str] = {}
    for path in wanted_files(directory):  # modules, tests, schemas, data and waivers
        if path.is_file():
            files[path.relative_to(directory).as_posix()] = path.read_text(encoding="utf-8")
    if data_file is not None:
        files[DATA_FILE] = data_file.read_text(encoding="utf-8")
    targets = [p for p in files if p.endswith(".rego") and not p.endswith("_test.rego")]
    if DATA_FILE in files:
        targets.append(DATA_FILE)
    return files, targets


def generate(files: dict[str, str], targets: list[str]) -> list[Mutant]:
    mutants: list[Mutant] = []
    for path in targets:
        make = data_mutants if path == DATA_FILE else rego_mutants
        mutants.extend(make(path, files[path]))
    return mutants


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """regorus prints scheduler notes for some broken mutants straight to fd 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run(
    oracles: Oracles,
    mutants: list[Mutant],
    equivalents: dict[tuple[str, str, str], str],
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for mutant in mutants:
        with _quiet_stderr():
            status, detail = oracles.judge(mutant)
        if status == "survived" and mutant.key in equivalents:
            status, detail = "equivalent", equivalents[mutant.key]
        outcomes.append(Outcome(mutant, status, detail))
    return outcomes


def summary(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = table.setdefault(
            o.mutant.file,
            {"generated": 0, "not_compiling": 0, "killed": 0, "equivalent": 0, "survived": 0},
        )
        row["generated"] += 1
        row[o.status] += 1
    return table


def score(outcomes: list[Outcome]) -> tuple[int, int]:
    """(killed, killable): killable = compiling mutants that are not known equivalents."""
    killed = sum(o.status == "killed" for o in outcomes)
    return killed, killed + sum(o.status == "survived" for o in outcomes)


def report(outcomes: list[Outcome], seconds: float, verbose: bool) -> str:
    table = summary(outcomes)
    width = max([len(f) for f in table] + [5])
    heads = ("generated", "not_compiling", "killed", "equivalent", "survived")
    lines = [f"{'file':<{width}}  " + "  ".join(f"{h:>13}" for h in heads)]
    totals = dict.fromkeys(heads, 0)
    for name, row in table.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{row[h]:>13}" for h in heads))
        for h in heads:
            totals[h] += row[h]
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{totals[h]:>13}" for h in heads))
    shown = ("survived", "equivalent") if verbose else ("survived",)
    for o in outcomes:
        if o.status in shown:
            m = o.mutant
            why = f"  [equivalent: {o.by}]" if o.status == "equivalent" else ""
            lines.append(
                f"{o.status.upper()} {m.file}:{m.line}: {m.mutation} in `{m.original}`{why}"
            )
    killed, killable = score(outcomes)
    percent = 100.0 * killed / killable if killable else 100.0
    lines.append(
        f"score: {killed}/{killable} killable mutants killed ({percent:.1f}%), "
        f"{totals['equivalent']} known equivalent, {totals['not_compiling']} not compiling; "
        f"{seconds:.1f} s"
    )
    return "\n".join(lines)


def stale_equivalents(
    equivalents: dict[tuple[str, str, str], str], mutants: list[Mutant]
) -> list[tuple[str, str, str]]:
    """Listed equivalents that match no generated mutant: the line changed; recheck them."""
    generated = {m.key for m in mutants}
    return [key for key in equivalents if key not in generated]


def as_json(outcome: Outcome) -> dict[str, Any]:
    m = outcome.mutant
    return {
        "file": m.file,
        "line": m.line,
        "original": m.original,
        "mutation": m.mutation,
        "status": outcome.status,
        "by": outcome.by,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", type=Path, default=ROOT / "policies")
    parser.add_argument(
        "--data", type=Path, help="policy data file (default: <policies>/data.json)"
    )
    parser.add_argument("--corpus", type=Path, help="conformance corpus directory (scenarios)")
    parser.add_argument("--pins", type=Path, help="module defining differences(data)")
    parser.add_argument("--equivalents", type=Path, default=EQUIVALENTS)
    parser.add_argument("--file", action="append", dest="only", help="only mutate this file")
    parser.add_argument("--sample", type=int, help="at most N mutants per file")
    parser.add_argument("--json", action="store_true", help="print outcomes as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="list equivalents too")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.policies.is_dir():
        print(f"mutate_policies: {args.policies}: not a directory", file=sys.stderr)
        return 2
    files, targets = policy_files(args.policies, args.data)
    if args.only:
        unknown = sorted(set(args.only) - set(targets))
        if unknown:
            print(f"mutate_policies: no such policy file: {', '.join(unknown)}", file=sys.stderr)
            return 2
        targets = [t for t in targets if t in args.only]
    oracles = Oracles(
        str(args.policies),
        files,
        corpus=load_corpus(args.corpus) if args.corpus else None,
        pins=load_pins(args.pins) if args.pins else None,
    )
    equivalents = load_equivalents(args.equivalents)
    generated = generate(files, targets)
    started = time.perf_counter()
    outcomes = run(oracles, sample(generated, args.sample), equivalents)
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps([as_json(o) for o in outcomes], indent=2))
    else:
        print(report(outcomes, seconds, args.verbose))
        if args.sample is None and not args.only:
            for file, original, mutation in stale_equivalents(equivalents, generated):
                print(f"STALE equivalent {file}: {mutation} in `{original}`: no such mutant now")
    return 1 if any(o.status == "survived" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
