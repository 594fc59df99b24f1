package mlgate.main_test

import data.mlgate.main
import data.mlgate.testdata

decision(doc) := d if {
	d := main.decision with input as doc with data.mlgate.config as testdata.config
}

# The shipped gates these tests are about: a gate added beside them (switched off
# in testdata.config, so not_applicable) brings its own tests and changes none here.
shipped := {"scope", "filing", "assessment", "labeling", "data_manifest"}

statuses(d) := {id: gate.status | some id, gate in d.gates; id in shipped}

codes(d, gate_id) := {v.code | some v in d.gates[gate_id].violations}

all_pass := {
	"scope": "pass",
	"filing": "pass",
	"assessment": "pass",
	"labeling": "pass",
	"data_manifest": "pass",
}

filing_pending := testdata.with_facts({"filing": {"status": "pending"}})

# filing fails with two violations: not_completed and public_opinion_invalid.
filing_twice := testdata.with_bad_tag(filing_pending, "compliance.public_opinion", "maybe", {"public_opinion": null})

test_valid_input_allowed if {
	d := decision(testdata.valid_input)
	d.allowed == true
	d.in_scope == true
	d.enforcement == "deny"
	statuses(d) == all_pass
	d.waivers_applied == []
}

test_decision_has_every_gate if {
	object.keys(decision(testdata.valid_input).gates) == {id | some id in main.required_gates}
}

# Only the gates wired in required_gates decide: a gate package left out of it
# is not evaluated into the decision.
test_only_wired_gates_decide if {
	d := main.decision with input as testdata.valid_input
		with data.mlgate.config as testdata.config
		with main.required_gates as ["filing", "scope"]
	object.keys(d.gates) == {"filing", "scope"}
	d.allowed == true
}

# A wired id without a gate package leaves that gate absent, and an absent gate blocks.
test_wired_gate_without_package_blocks if {
	d := main.decision with input as testdata.valid_input
		with data.mlgate.config as testdata.config
		with main.required_gates as ["scope", "no_such_gate"]
	object.keys(d.gates) == {"scope"}
	d.allowed == false
}

test_out_of_scope_allowed_with_gates_not_applicable if {
	d := decision(object.union(filing_pending, {"facts": {"audience": "enterprise"}}))
	d.allowed == true
	d.in_scope == false
	statuses(d) == {
		"scope": "pass",
		"filing": "not_applicable",
		"assessment": "not_applicable",
		"labeling": "not_applicable",
		"data_manifest": "not_applicable",
	}
}

test_undecidable_scope_blocks_and_evaluates_gates if {
	d := decision(testdata.without_tag(filing_pending, "compliance.regions", {"regions": null}))
	d.allowed == false
	d.in_scope == null
	statuses(d) == object.union(all_pass, {"scope": "fail", "filing": "fail"})
	codes(d, "scope") == {"scope.regions_missing"}
}

test_failing_gate_blocks_protected_target if {
	d := decision(filing_pending)
	d.allowed == false
	d.enforcement == "deny"
	statuses(d) == object.union(all_pass, {"filing": "fail"})
	codes(d, "filing") == {"filing.not_completed"}
}

# target, kind and the enforcement the input claims -> enforcement applied.
enforcement_cases := [
	{"target": "production", "kind": "alias", "claimed": "warn", "want": "deny"},
	{"target": "Production", "kind": "alias", "claimed": "warn", "want": "deny"},
	{"target": "PUBLIC", "kind": "alias", "claimed": "warn", "want": "deny"},
	{"target": "Champion", "kind": "alias", "claimed": "warn", "want": "deny"},
	{"target": "Production", "kind": "stage", "claimed": "warn", "want": "deny"},
	{"target": "production", "kind": "stage", "claimed": "warn", "want": "deny"},
	{"target": "champion", "kind": "stage", "claimed": "warn", "want": "warn"},
	{"target": "Staging", "kind": "stage", "claimed": "warn", "want": "warn"},
	{"target": "staging", "kind": "alias", "claimed": "warn", "want": "warn"},
	{"target": "production-candidate", "kind": "alias", "claimed": "warn", "want": "warn"},
	{"target": "staging", "kind": "alias", "claimed": "deny", "want": "deny"},
]

test_enforcement_table if {
	every case in enforcement_cases {
		doc := object.union(filing_pending, {"request": {"target": case.target, "kind": case.kind, "enforcement": case.claimed}})
		d := decision(doc)
		d.enforcement == case.want
		d.allowed == (case.want == "warn")
	}
}

test_protected_alias_in_any_casing_denies_despite_warn_claim if {
	d := decision(object.union(filing_pending, {"request": {"target": "Production", "kind": "alias", "enforcement": "warn"}}))
	d.enforcement == "deny"
	d.allowed == false
}

test_protected_aliases_are_policy_data if {
	cfg := testdata.config_with({"protected_aliases": ["release"]})
	doc := object.union(filing_pending, {"request": {"target": "RELEASE", "kind": "alias", "enforcement": "warn"}})
	main.enforcement == "deny" with input as doc with data.mlgate.config as cfg
	main.enforcement == "warn" with input as object.union(doc, {"request": {"target": "production"}})
		with data.mlgate.config as cfg
}

test_unprotected_warn_allows_with_failing_gates if {
	d := decision(object.union(filing_pending, {"request": {"target": "staging", "enforcement": "warn"}}))
	d.enforcement == "warn"
	d.allowed == true
	statuses(d).filing == "fail"
	codes(d, "filing") == {"filing.not_completed"}
}

test_waiver_waives_gate if {
	d := decision(object.union(filing_pending, {"waivers": [testdata.waiver("W-1", ["filing.not_completed"])]}))
	d.allowed == true
	statuses(d) == object.union(all_pass, {"filing": "waived"})
	d.waivers_applied == ["W-1"]
	some v in d.gates.filing.violations
	v.code == "filing.not_completed"
	v.waived_by == "W-1"
}

test_wildcard_waiver_covers_the_gate if {
	d := decision(object.union(filing_twice, {"waivers": [testdata.waiver("W-ALL", ["filing.*"])]}))
	d.allowed == true
	statuses(d).filing == "waived"
	{v.waived_by | some v in d.gates.filing.violations} == {"W-ALL"}
	d.waivers_applied == ["W-ALL"]
}

test_wildcard_waiver_covers_only_its_gate if {
	doc := object.union(filing_pending, {"facts": {"labeling": {"implicit": false}}})
	d := decision(object.union(doc, {"waivers": [testdata.waiver("W-1", ["labeling.*"])]}))
	d.allowed == false
	statuses(d) == object.union(all_pass, {"filing": "fail", "labeling": "waived"})
}

test_pattern_must_match_exactly_or_by_gate_prefix if {
	waivers := [
		testdata.waiver("W-1", ["filing.not"]),
		testdata.waiver("W-2", ["*"]),
		testdata.waiver("W-3", ["filing*"]),
	]
	d := decision(object.union(filing_pending, {"waivers": waivers}))
	statuses(d).filing == "fail"
	d.waivers_applied == []
	d.allowed == false
}

test_partially_waived_gate_still_fails if {
	d := decision(object.union(filing_twice, {"waivers": [testdata.waiver("W-1", ["filing.not_completed"])]}))
	d.allowed == false
	statuses(d).filing == "fail"
	{v.code: object.get(v, "waived_by", null) | some v in d.gates.filing.violations} == {
		"filing.not_completed": "W-1",
		"filing.public_opinion_invalid": null,
	}
	d.waivers_applied == ["W-1"]
}

test_two_waivers_for_one_gate if {
	waivers := [
		testdata.waiver("W-2", ["filing.public_opinion_invalid"]),
		testdata.waiver("W-1", ["filing.not_completed"]),
	]
	d := decision(object.union(filing_twice, {"waivers": waivers}))
	d.allowed == true
	statuses(d).filing == "waived"
	d.waivers_applied == ["W-1", "W-2"]
}

# When several waivers cover a violation, the first id in sort order is named.
test_overlapping_waivers_name_one if {
	waivers := [
		testdata.waiver("W-B", ["filing.*"]),
		testdata.waiver("W-A", ["filing.not_completed"]),
	]
	d := decision(object.union(filing_pending, {"waivers": waivers}))
	statuses(d).filing == "waived"
	d.waivers_applied == ["W-A"]
}

test_scope_violations_never_waivable if {
	doc := testdata.missing_tag("compliance.audience", {"audience": null})
	waivers := [testdata.waiver("W-1", ["scope.audience_missing"]), testdata.waiver("W-2", ["scope.*"])]
	d := decision(object.union(doc, {"waivers": waivers}))
	d.allowed == false
	statuses(d).scope == "fail"
	d.waivers_applied == []
	every v in d.gates.scope.violations {
		not v.waived_by
	}
}

test_unused_waiver_not_applied if {
	d := decision(testdata.with_waivers([testdata.waiver("W-1", ["filing.*", "labeling.explicit_disabled"])]))
	d.allowed == true
	statuses(d) == all_pass
	d.waivers_applied == []
}

test_waiver_does_not_touch_not_applicable_gates if {
	doc := object.union(filing_pending, {"facts": {"audience": "research"}})
	d := decision(object.union(doc, {"waivers": [testdata.waiver("W-1", ["filing.*"])]}))
	statuses(d).filing == "not_applicable"
	d.waivers_applied == []
}

test_waived_and_warn_together if {
	doc := object.union(filing_twice, {"request": {"target": "staging", "enforcement": "warn"}})
	d := decision(object.union(doc, {"waivers": [testdata.waiver("W-1", ["filing.public_opinion_invalid"])]}))
	d.allowed == true
	d.enforcement == "warn"
	statuses(d).filing == "fail"
	d.waivers_applied == ["W-1"]
}

# warn never covers a missing gate: with one required gate undefined the
# decision blocks even in warn mode, though every gate present fails only.
warn_request := object.union(filing_pending, {"request": {"target": "staging", "enforcement": "warn"}})

test_warn_does_not_cover_a_missing_gate if {
	gates := {id: {"status": "fail", "violations": []} | some id in main.required_gates}
	main.allowed with input as warn_request with data.mlgate.config as testdata.config with main.gates as gates
	every missing in main.required_gates {
		partial := object.remove(gates, [missing])
		not main.allowed with input as warn_request with data.mlgate.config as testdata.config with main.gates as partial
	}
}

# A waiver listing several codes covers a violation matching any one of them.
test_waiver_with_several_codes_covers_each if {
	waiver := testdata.waiver("W-1", ["labeling.explicit_disabled", "filing.not_completed", "assessment.*"])
	doc := object.union(filing_pending, {"facts": {"labeling": {"explicit": false}}})
	d := decision(object.union(doc, {"waivers": [waiver]}))
	d.allowed == true
	statuses(d) == object.union(all_pass, {"filing": "waived", "labeling": "waived"})
	d.waivers_applied == ["W-1"]
}

# A version whose assessment is not passed and carries a future date reports
# not_passed only, so a waiver for assessment.not_passed alone allows it.
test_not_passed_waiver_covers_a_future_dated_assessment if {
	doc := testdata.with_facts({"assessment": {"status": "pending", "date": testdata.day_string(testdata.today_ns + (90 * testdata.ns_per_day)), "date_ns": testdata.today_ns + (90 * testdata.ns_per_day)}})
	d := decision(object.union(doc, {"waivers": [testdata.waiver("W-1", ["assessment.not_passed"])]}))
	d.allowed == true
	statuses(d) == object.union(all_pass, {"assessment": "waived"})
	codes(d, "assessment") == {"assessment.not_passed"}
	d.waivers_applied == ["W-1"]
}

# Only a failing gate whose every violation is waived becomes waived: a fail
# with no violations stays fail (fail closed), and no other status changes.
test_final_status_waives_only_a_failing_gate_with_violations if {
	waived := [{"code": "filing.not_completed", "params": {}, "waived_by": "W-1"}]
	main.final_status("fail", waived) == "waived"
	main.final_status("fail", []) == "fail"
	main.final_status("not_applicable", waived) == "not_applicable"
	main.final_status("pass", waived) == "pass"
}
