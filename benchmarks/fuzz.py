"""Fuzz mlgate with 100,000 mutated inputs and print the counts: inputs, crashes, fail-opens.

The same generators, paths and contract oracle as tests/test_fuzz.py (tests/fuzzkit.py),
without stopping at the first finding: every input is run and judged, findings are
grouped by the oracle's first reason (or the exception), and the smallest input of each
group is printed so it can be replayed.

    PYTHONPATH=plugin python benchmarks/fuzz.py                  # 100,000 inputs
    PYTHONPATH=plugin python benchmarks/fuzz.py -n 3000 --seed 7 --show 3

Exit status 1 when anything crashed or failed open, so CI can run it too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fuzzkit  # noqa: E402


@dataclass
class Tally:
    inputs: int = 0
    refused: int = 0
    blocked: int = 0
    allowed: int = 0
    crashes: int = 0
    fail_opens: int = 0
    groups: Counter[str] = field(default_factory=Counter)
    smallest: dict[str, tuple[int, str]] = field(default_factory=dict)

    def add(self, prop: str, outcome: fuzzkit.Outcome, reasons: list[str], verdict: str,
            shown: str) -> None:
        self.inputs += 1
        if verdict == "crash":
            self.crashes += 1
            key = f"{prop}: crash: {outcome.detail.split(':')[0]}"
        elif verdict == "fail-open":
            self.fail_opens += 1
            key = f"{prop}: fail-open: {reasons[0]}"
        else:
            setattr(self, outcome.kind, getattr(self, outcome.kind) + 1)
            return
        self.groups[key] += 1
        if key not in self.smallest or len(shown) < self.smallest[key][0]:
            self.smallest[key] = (len(shown), shown)


def _run(prop: str, strategy: st.SearchStrategy[Any], judge: Callable[[Any], Any],
         count: int, seed_value: int, tally: Tally, show: Callable[[Any], str]) -> None:
    @seed(seed_value)
    @settings(max_examples=count, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case: Any) -> None:
        outcome, reasons, verdict = judge(case)
        tally.add(prop, outcome, reasons, verdict, show(case))

    run()


def _judge_manifest(case: tuple[bytes, bool]) -> Any:
    manifest, retag = case
    tags = fuzzkit.compliant_tags(datetime.now(UTC).date())
    digest_of = manifest if retag else fuzzkit.example_manifest_bytes()
    tags[fuzzkit.DIGEST] = fuzzkit.hashlib.sha256(digest_of).hexdigest()
    return fuzzkit.judge_registry(tags, manifest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--show", type=int, default=1, help="examples shown per group")
    args = parser.parse_args()

    today = datetime.now(UTC).date()
    manifest = fuzzkit.example_manifest_bytes()
    base_input = fuzzkit.allowed_gate_input()
    base_tags = {**fuzzkit.compliant_tags(today),
                 fuzzkit.DIGEST: fuzzkit.hashlib.sha256(manifest).hexdigest()}
    base_manifest = fuzzkit.json.loads(manifest)
    properties = [
        ("check --input", fuzzkit.gate_inputs(), lambda c: fuzzkit.judge_check_input(*c),
         lambda c: f"--target {c[1]!r}; " * (c[1] is not None)
         + fuzzkit.describe_bytes(c[0], base_input)),
        ("registry tags", fuzzkit.tag_sets(today),
         lambda tags: fuzzkit.judge_registry(tags, manifest),
         lambda tags: "; ".join(fuzzkit.changes(base_tags, tags))),
        ("registry manifest", st.tuples(fuzzkit.manifests(), st.booleans()), _judge_manifest,
         lambda c: f"digest tag re-set: {c[1]}; "
         + fuzzkit.describe_bytes(c[0], base_manifest)),
    ]
    fuzzkit.embedded()  # load the policies once, outside the timing
    tally = Tally()
    started = time.perf_counter()
    share = args.inputs // len(properties)
    for index, (prop, strategy, judge, show) in enumerate(properties):
        count = share if index else args.inputs - share * (len(properties) - 1)
        before = tally.inputs
        t0 = time.perf_counter()
        _run(prop, strategy, judge, count, args.seed + index, tally, show)
        print(f"{prop}: {tally.inputs - before} inputs in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
    elapsed = time.perf_counter() - started

    print(f"inputs: {tally.inputs}")
    print(f"crashes: {tally.crashes}")
    print(f"fail-opens: {tally.fail_opens}")
    print(f"(refused {tally.refused}, blocked {tally.blocked}, allowed {tally.allowed}; "
          f"{elapsed:.0f} s, seed {args.seed})")
    for key, n in tally.groups.most_common():
        print(f"\n{n:6d}  {key}")
        if args.show:
            text = tally.smallest[key][1]
            print("        smallest: " + (text if len(text) < 4000 else text[:4000] + "..."))
    return 1 if tally.crashes or tally.fail_opens else 0


if __name__ == "__main__":
    sys.exit(main())
