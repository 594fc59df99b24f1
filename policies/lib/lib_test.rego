package mlgate.lib_test

import data.mlgate.lib
import data.mlgate.testdata

scope_input(audience, regions) := testdata.with_facts({"audience": audience, "regions": regions})

in_scope_value(doc) := v if {
	v := lib.in_scope_value with input as doc with data.mlgate.config as testdata.config
}

# Scope facts -> in_scope as the decision reports it (null: undecidable).
scope_cases := [
	{"audience": "public", "regions": ["CN"], "want": true},
	{"audience": "public", "regions": ["CN", "SG"], "want": true},
	{"audience": "public", "regions": ["SG", "US"], "want": false},
	{"audience": "enterprise", "regions": ["CN"], "want": false},
	{"audience": "internal", "regions": ["CN"], "want": false},
	{"audience": "research", "regions": ["CN"], "want": false},
	{"audience": null, "regions": ["CN"], "want": null},
	{"audience": "public", "regions": null, "want": null},
	{"audience": null, "regions": null, "want": null},
]

test_in_scope_value_table if {
	every case in scope_cases {
		in_scope_value(scope_input(case.audience, case.regions)) == case.want
	}
}

test_in_scope_when_public_in_cn if {
	lib.in_scope with input as testdata.valid_input with data.mlgate.config as testdata.config
}

test_not_in_scope_when_research if {
	not lib.in_scope with input as testdata.out_of_scope with data.mlgate.config as testdata.config
}

test_not_in_scope_when_undecidable if {
	not lib.in_scope with input as testdata.undecidable with data.mlgate.config as testdata.config
}

test_scope_decidable_needs_audience_and_regions if {
	lib.scope_decidable with input as testdata.valid_input
	not lib.scope_decidable with input as scope_input(null, ["CN"])
	not lib.scope_decidable with input as scope_input("public", null)
}

test_scope_audiences_and_regions_are_policy_data if {
	cfg := testdata.config_with({"scope": {"public_audiences": ["public", "enterprise"], "regions": ["CN", "HK"]}})
	in_scope_value(scope_input("enterprise", ["HK"])) == false
	lib.in_scope_value == true with input as scope_input("enterprise", ["HK"]) with data.mlgate.config as cfg
	lib.in_scope_value == false with input as scope_input("research", ["HK"]) with data.mlgate.config as cfg
}

test_gates_apply_in_scope if {
	lib.gates_apply with input as testdata.valid_input with data.mlgate.config as testdata.config
}

test_gates_do_not_apply_out_of_scope if {
	not lib.gates_apply with input as testdata.out_of_scope with data.mlgate.config as testdata.config
}

test_gates_apply_when_scope_undecidable if {
	lib.gates_apply with input as testdata.undecidable with data.mlgate.config as testdata.config
}

test_public_opinion_switch_off_always_requires if {
	every flag in [true, false, null] {
		lib.public_opinion_requires(false) with input as testdata.with_facts({"public_opinion": flag})
	}
}

test_public_opinion_switch_on_requires_unless_explicitly_false if {
	lib.public_opinion_requires(true) with input as testdata.with_facts({"public_opinion": true})
	lib.public_opinion_requires(true) with input as testdata.with_facts({"public_opinion": null})
	not lib.public_opinion_requires(true) with input as testdata.with_facts({"public_opinion": false})
}

test_tag_invalid_only_for_the_failed_tag if {
	doc := testdata.invalid_tag("compliance.audience", "everyone", {"audience": null})
	lib.tag_invalid("compliance.audience") with input as doc
	not lib.tag_invalid("compliance.regions") with input as doc
	not lib.tag_invalid("compliance.audience") with input as testdata.valid_input
}

test_invalid_tag_values_lists_the_failed_tags_values_only if {
	doc := testdata.invalid_tag("compliance.audience", "everyone", {"audience": null})
	want := {{"value": "everyone", "expected": "a valid value"}}
	lib.invalid_tag_values("compliance.audience") == want with input as doc
	lib.invalid_tag_values("compliance.regions") == set() with input as doc
	lib.invalid_tag_values("compliance.audience") == set() with input as testdata.valid_input
}

test_tag_missing_when_null_and_not_invalid if {
	doc := testdata.invalid_tag("compliance.audience", "everyone", {"audience": null})
	not lib.tag_missing("compliance.audience", null) with input as doc
	lib.tag_missing("compliance.regions", null) with input as doc
	not lib.tag_missing("compliance.regions", input.facts.regions) with input as testdata.valid_input
}

test_violation_carries_code_and_params if {
	lib.violation("filing.id_missing", {"a": 1}) == {"code": "filing.id_missing", "params": {"a": 1}}
}

test_gate_result_not_applicable_drops_violations if {
	lib.gate_result(false, {{"code": "x.y", "params": {}}}) == {"status": "not_applicable", "violations": []}
}

test_gate_result_fails_with_violations if {
	v := {"code": "x.y", "params": {}}
	lib.gate_result(true, {v}) == {"status": "fail", "violations": [v]}
}

test_gate_result_passes_without_violations if {
	lib.gate_result(true, set()) == {"status": "pass", "violations": []}
}
