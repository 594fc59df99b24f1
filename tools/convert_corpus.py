"""One-off: convert tests/scenarios/<name>/{input,expected}.json into policies/scenarios
(base.json + per-case merge patch, times relative to now, numbers a case depends on pinned
in its policy_data), and check every converted case against the old one."""

from __future__ import annotations

import json
import re
import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from mlgate.engine.embedded import EmbeddedEngine
from mlgate.policy import load_policy_dir
from mlgate import scenarios as sc

ROOT = Path(__file__).resolve().parents[1]
OLD = ROOT / "tests" / "scenarios"
NEW = ROOT / "policies" / "scenarios"
NS = sc.NS
OLD_NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
GENERIC_DATE = "2026-06-01"  # the corpus's "a valid assessment" (181 days before OLD_NOW)
YOUNG = "@date-60d"  # ... made young, so that the shipped max_age_days can shrink
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
NUMBERS = [("assessment", "max_age_days", (180, 730)), ("data_manifest", "min_datasets", (2,))]


def days(n: int) -> str:
    return "" if n == 0 else f"{n:+d}d"


def tokenise(doc: dict, young: bool) -> tuple[dict, str | None]:
    now_ns = doc["now_ns"]
    day0 = date(1970, 1, 1) + timedelta(days=now_ns // (86400 * NS))
    doc = json.loads(json.dumps(doc))
    time_of_day = None
    within = now_ns % (86400 * NS)
    if within != 12 * 3600 * NS:
        s, frac = divmod(within, NS)
        time_of_day = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" + (f".{frac:09d}" if frac else "")
    if doc["now"] == sc._rfc3339(now_ns // NS):
        del doc["now"]
    del doc["now_ns"]

    def rel_date(value: str) -> str:
        if young and value == GENERIC_DATE:
            return YOUNG
        try:
            d = date.fromisoformat(value)
        except ValueError:
            return value
        return "@date" + days((d - day0).days)

    def rel_dt(value: str) -> str:
        moment = datetime.fromisoformat(value)
        tz = value[-6:]
        delta = int(moment.timestamp()) - (day0 - date(1970, 1, 1)).days * 86400
        d, rest = divmod(delta, 86400)
        h, rest = divmod(rest, 3600)
        m, s = divmod(rest, 60)
        off = days(d) + (f"+{h}h" if h else "") + (f"+{m}m" if m else "") + (f"+{s}s" if s else "")
        return f"@midnight{off}@{tz}"

    a = doc["facts"].get("assessment") or {}
    if isinstance(a.get("date"), str) and DATE.match(a["date"]):
        a["date"] = rel_date(a["date"])
    if isinstance(a.get("date_ns"), int):
        ns = a["date_ns"]
        if ns % (86400 * NS) == 0:
            d = date(1970, 1, 1) + timedelta(days=ns // (86400 * NS))
            a["date_ns"] = (YOUNG.replace("@date", "@date_ns") if young and d.isoformat() == GENERIC_DATE
                            else "@date_ns" + days((d - day0).days))
    tag = "compliance.assessment.date"
    if tag in doc["tags"]:
        v = doc["tags"][tag]
        if DATE.match(v):
            doc["tags"][tag] = rel_date(v)
        elif DATETIME.match(v):
            doc["tags"][tag] = rel_dt(v)
    for w in doc.get("waivers", []):
        if DATE.match(w["expires"]):
            w["expires"] = rel_date(w["expires"])
    return doc, time_of_day


def main() -> int:
    policy_set = load_policy_dir(ROOT / "policies")
    pool = sc.EnginePool(EmbeddedEngine)
    names = sorted(p.name for p in OLD.iterdir() if (p / "input.json").is_file())
    originals = {n: json.loads((OLD / n / "input.json").read_text()) for n in names}
    expecteds = {n: json.loads((OLD / n / "expected.json").read_text()) for n in names}
    base, _ = tokenise(originals["all_pass"], young=True)
    problems = []
    made = []
    for n in names:
        doc = originals[n]
        case_now = datetime.fromtimestamp(doc["now_ns"] // NS, tz=UTC)
        # exact: tokens without the young shift reproduce input.json at the case's own now
        exact, tod = tokenise(doc, young=False)
        exact_scn = sc.Scenario(n, "", sc.diff_patch(base, exact), None, False, tod, None)
        if sc.materialise(base, exact_scn, case_now) != doc:
            problems.append(f"{n}: exact tokens do not reproduce input.json")
        young, tod = tokenise(doc, young=True)
        want = expecteds[n]
        scn = sc.Scenario(n, want["description"], sc.diff_patch(base, young), None,
                          bool(want.get("forged")), tod, sc.pinned(want))
        got = sc.essentials(sc.decide(base, scn, policy_set, pool, OLD_NOW))
        if got != sc.pinned(want):
            # the young date changed the decision: keep the case's own date
            scn = sc.Scenario(n, want["description"], exact_scn.patch, None,
                              bool(want.get("forged")), tod, sc.pinned(want))
            got = sc.essentials(sc.decide(base, scn, policy_set, pool, OLD_NOW))
            print(f"{n}: keeps its own assessment date")
        if got != sc.pinned(want):
            problems.append(f"{n}: decides differently: {sc.changes(sc.pinned(want), got)}")
        # numbers the decision depends on: pin them
        pins: dict = {}
        for section, key, others in NUMBERS:
            shipped = policy_set.data_file["mlgate"]["config"][section][key]
            for other in others:
                trial = sc.Scenario(n, "", scn.patch, {section: {key: other}}, False, tod, None)
                if sc.essentials(sc.decide(base, trial, policy_set, pool, OLD_NOW)) != got:
                    pins.setdefault(section, {})[key] = shipped
        if pins:
            print(f"{n}: pins {pins}")
            scn = sc.Scenario(n, scn.description, scn.patch, pins, scn.forged, tod, scn.expected)
        made.append(scn)
    if problems:
        print("\n".join(problems))
        return 1
    if NEW.exists():
        shutil.rmtree(NEW)
    NEW.mkdir()
    sc.write_json(NEW / sc.BASE_FILE, base)
    for scn in made:
        sc.write_scenario(NEW, scn)
        sc.write_expected(NEW, scn.name, scn.expected)
    print(f"converted {len(made)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
