package mlgate.gates.scope_test

import data.mlgate.gates.scope
import data.mlgate.testdata

codes(doc) := {v.code | some v in vs} if {
	vs := scope.violations with input as doc with data.mlgate.config as testdata.config
}

result(doc) := r if {
	r := scope.result with input as doc with data.mlgate.config as testdata.config
}

test_valid_input_passes if {
	codes(testdata.valid_input) == set()
	result(testdata.valid_input) == {"status": "pass", "violations": []}
}

test_out_of_scope_passes if {
	every audience in ["enterprise", "internal", "research"] {
		result(testdata.with_facts({"audience": audience})).status == "pass"
	}
	result(testdata.with_facts({"regions": ["SG", "US"]})).status == "pass"
}

test_audience_missing if {
	doc := testdata.missing_tag("compliance.audience", {"audience": null})
	codes(doc) == {"scope.audience_missing"}
	result(doc).status == "fail"
}

test_audience_invalid if {
	doc := testdata.invalid_tag("compliance.audience", "everyone", {"audience": null})
	codes(doc) == {"scope.audience_invalid"}
	result(doc).status == "fail"
}

test_regions_missing if {
	doc := testdata.missing_tag("compliance.regions", {"regions": null})
	codes(doc) == {"scope.regions_missing"}
	result(doc).status == "fail"
}

test_regions_invalid if {
	doc := testdata.invalid_tag("compliance.regions", "China", {"regions": null})
	codes(doc) == {"scope.regions_invalid"}
	result(doc).status == "fail"
}

test_audience_and_regions_missing if {
	doc := testdata.without_tag(
		testdata.missing_tag("compliance.audience", {"audience": null}),
		"compliance.regions",
		{"regions": null},
	)
	codes(doc) == {"scope.audience_missing", "scope.regions_missing"}
}

test_invalid_audience_with_missing_regions if {
	doc := testdata.without_tag(
		testdata.invalid_tag("compliance.audience", "all", {"audience": null}),
		"compliance.regions",
		{"regions": null},
	)
	codes(doc) == {"scope.audience_invalid", "scope.regions_missing"}
}

# Scope decides whether the other gates apply, so it is never not_applicable.
test_scope_gate_always_applies if {
	every doc in [testdata.valid_input, testdata.out_of_scope, testdata.undecidable] {
		result(doc).status != "not_applicable"
	}
}
