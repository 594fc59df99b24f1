package mlgate.gates.filing_test

import data.mlgate.gates.filing
import data.mlgate.testdata

codes(doc) := codes_with(doc, testdata.config)

codes_with(doc, cfg) := {v.code | some v in vs} if {
	vs := filing.violations with input as doc with data.mlgate.config as cfg
}

result(doc) := result_with(doc, testdata.config)

result_with(doc, cfg) := r if {
	r := filing.result with input as doc with data.mlgate.config as cfg
}

only_public_opinion := testdata.config_with({"filing": {"only_public_opinion": true}})

# No filing evidence at all.
unfiled := testdata.without_tag(
	testdata.missing_tag("compliance.filing.status", {"filing": {"status": null}}),
	"compliance.filing.id",
	{"filing": {"id": null}},
)

test_completed_with_id_passes if {
	codes(testdata.valid_input) == set()
	result(testdata.valid_input) == {"status": "pass", "violations": []}
}

test_status_missing if {
	codes(unfiled) == {"filing.status_missing", "filing.id_missing"}
	result(unfiled).status == "fail"
}

test_status_invalid if {
	doc := testdata.invalid_tag("compliance.filing.status", "done", {"filing": {"status": null}})
	codes(doc) == {"filing.status_invalid"}
	result(doc).status == "fail"
}

test_not_completed if {
	every status in ["pending", "none"] {
		codes(testdata.with_facts({"filing": {"status": status}})) == {"filing.not_completed"}
	}
}

test_id_missing if {
	codes(testdata.with_facts({"filing": {"id": null}})) == {"filing.id_missing"}
	codes(testdata.with_facts({"filing": {"id": ""}})) == {"filing.id_missing"}
	codes(testdata.with_facts({"filing": {"id": "   "}})) == {"filing.id_missing"}
}

# Every violation at once: a pending filing without a number is told both.
test_not_completed_and_id_missing_at_once if {
	codes(testdata.with_facts({"filing": {"status": "pending", "id": null}})) == {"filing.not_completed", "filing.id_missing"}
}

test_public_opinion_invalid if {
	doc := testdata.invalid_tag("compliance.public_opinion", "maybe", {"public_opinion": null})
	codes(doc) == {"filing.public_opinion_invalid"}
	result(doc).status == "fail"
}

test_public_opinion_valid_values_clear if {
	every flag in [true, false, null] {
		codes(testdata.with_facts({"public_opinion": flag})) == set()
	}
}

test_not_applicable_out_of_scope if {
	doc := object.union(unfiled, {"facts": {"audience": "research"}})
	codes(doc) == {"filing.status_missing", "filing.id_missing"}
	result(doc) == {"status": "not_applicable", "violations": []}
}

test_evaluated_when_scope_undecidable if {
	doc := object.union(unfiled, {"facts": {"audience": null}})
	result(doc).status == "fail"
	result(testdata.undecidable).status == "pass"
}

test_only_public_opinion_skips_explicit_false if {
	doc := object.union(unfiled, {"facts": {"public_opinion": false}})
	result_with(doc, only_public_opinion) == {"status": "not_applicable", "violations": []}
}

test_only_public_opinion_requires_true_or_unknown if {
	every flag in [true, null] {
		doc := object.union(unfiled, {"facts": {"public_opinion": flag}})
		result_with(doc, only_public_opinion).status == "fail"
	}
}

# With the switch off (the default) every in-scope version needs a filing.
test_switch_off_requires_filing_when_not_public_opinion if {
	doc := object.union(unfiled, {"facts": {"public_opinion": false}})
	result(doc).status == "fail"
}

test_invalid_public_opinion_is_reported_under_the_switch if {
	doc := testdata.invalid_tag("compliance.public_opinion", "maybe", {"public_opinion": null})
	codes_with(doc, only_public_opinion) == {"filing.public_opinion_invalid"}
	result_with(doc, only_public_opinion).status == "fail"
}
