package mlgate.gates.labeling_test

import data.mlgate.gates.labeling
import data.mlgate.testdata

codes(doc) := codes_with(doc, testdata.config)

codes_with(doc, cfg) := {v.code | some v in vs} if {
	vs := labeling.violations with input as doc with data.mlgate.config as cfg
}

result(doc) := r if {
	r := labeling.result with input as doc with data.mlgate.config as testdata.config
}

labels(explicit, implicit) := testdata.with_facts({"labeling": {"explicit": explicit, "implicit": implicit}})

bad_explicit := testdata.invalid_tag("compliance.labeling.explicit", "yes", {"labeling": {"explicit": null}})

bad_implicit := testdata.invalid_tag("compliance.labeling.implicit", "1", {"labeling": {"implicit": null}})

# explicit and implicit tag states -> violation codes, for a text model.
flag_cases := [
	{"doc": labels(true, true), "want": set()},
	{"doc": labels(false, true), "want": {"labeling.explicit_disabled"}},
	{"doc": labels(true, false), "want": {"labeling.implicit_disabled"}},
	{"doc": labels(false, false), "want": {"labeling.explicit_disabled", "labeling.implicit_disabled"}},
	{"doc": labels(null, true), "want": {"labeling.explicit_missing"}},
	{"doc": labels(true, null), "want": {"labeling.implicit_missing"}},
	{"doc": labels(null, null), "want": {"labeling.explicit_missing", "labeling.implicit_missing"}},
	{"doc": labels(null, false), "want": {"labeling.explicit_missing", "labeling.implicit_disabled"}},
	{"doc": bad_explicit, "want": {"labeling.explicit_invalid"}},
	{"doc": bad_implicit, "want": {"labeling.implicit_invalid"}},
	{
		"doc": testdata.with_bad_tag(bad_explicit, "compliance.labeling.implicit", "no", {"labeling": {"implicit": null}}),
		"want": {"labeling.explicit_invalid", "labeling.implicit_invalid"},
	},
]

test_labeling_flags_table if {
	every case in flag_cases {
		codes(case.doc) == case.want
	}
}

test_both_labels_pass if {
	result(testdata.valid_input) == {"status": "pass", "violations": []}
}

test_every_modality_needs_both_labels_by_default if {
	every modality in ["text", "image", "audio", "video", "code"] {
		codes(object.union(labels(false, false), {"facts": {"modalities": [modality]}})) == {"labeling.explicit_disabled", "labeling.implicit_disabled"}
	}
}

test_modalities_missing if {
	doc := testdata.missing_tag("compliance.modalities", {"modalities": null})
	codes(doc) == {"labeling.modalities_missing"}
	result(doc).status == "fail"
}

test_modalities_invalid if {
	doc := testdata.invalid_tag("compliance.modalities", "text,smell", {"modalities": null})
	codes(doc) == {"labeling.modalities_invalid"}
	result(doc).status == "fail"
}

# Without a usable declaration every configured modality counts: the labels
# are still required.
test_labels_required_when_modalities_unknown if {
	doc := testdata.without_tag(labels(false, null), "compliance.modalities", {"modalities": null})
	codes(doc) == {"labeling.modalities_missing", "labeling.explicit_disabled", "labeling.implicit_missing"}
}

test_required_labels_are_policy_data if {
	cfg := testdata.config_with({"labeling": {"required": {
		"text": ["implicit"],
		"image": ["explicit", "implicit"],
		"audio": ["explicit", "implicit"],
		"video": ["explicit", "implicit"],
		"code": [],
	}}})
	codes_with(labels(false, true), cfg) == set()
	codes_with(labels(null, true), cfg) == set()
	codes_with(labels(true, false), cfg) == {"labeling.implicit_disabled"}
	codes_with(object.union(labels(false, false), {"facts": {"modalities": ["code"]}}), cfg) == set()
	codes_with(object.union(labels(false, true), {"facts": {"modalities": ["code", "image"]}}), cfg) == {"labeling.explicit_disabled"}
}

# A modality the policy data does not list needs both labels (fail closed).
test_unlisted_modality_needs_both_labels if {
	cfg := object.union(object.remove(testdata.config, ["labeling"]), {"labeling": {"required": {"text": []}, "require_producer_code": false}})
	not cfg.labeling.required.video
	codes_with(labels(false, false), cfg) == set()
	codes_with(object.union(labels(false, false), {"facts": {"modalities": ["video"]}}), cfg) == {"labeling.explicit_disabled", "labeling.implicit_disabled"}
}

test_not_applicable_out_of_scope if {
	doc := object.union(labels(false, null), {"facts": {"audience": "research"}})
	result(doc) == {"status": "not_applicable", "violations": []}
}

test_evaluated_when_scope_undecidable if {
	doc := object.union(labels(false, null), {"facts": {"regions": null}})
	result(doc).status == "fail"
}

# When the policy data asks only for explicit labels, a missing implicit tag
# is no violation (and the explicit tag still is).
test_implicit_tag_may_be_absent_when_not_required if {
	cfg := testdata.config_with({"labeling": {"required": {"text": ["explicit"]}}})
	codes_with(labels(true, null), cfg) == set()
	codes_with(labels(true, false), cfg) == set()
	codes_with(labels(null, null), cfg) == {"labeling.explicit_missing"}
}

# The twin: only implicit labels required, the explicit tag may be absent.
test_explicit_tag_may_be_absent_when_not_required if {
	cfg := testdata.config_with({"labeling": {"required": {"text": ["implicit"]}}})
	codes_with(labels(null, true), cfg) == set()
	codes_with(labels(null, null), cfg) == {"labeling.implicit_missing"}
}

# Label requirements that are not an object (input_invalid) read as "both labels
# for every modality": disabled labels are still named, never an engine error.
test_ill_typed_requirements_need_both_labels if {
	cfg := testdata.config_with({"labeling": {"required": ["explicit"]}})
	codes_with(labels(false, false), cfg) == {
		"labeling.input_invalid",
		"labeling.explicit_disabled",
		"labeling.implicit_disabled",
	}
}

# ------------------------------------------------------------------- producer code (GB 45438-2025)

producer_code_on := testdata.config_with({"labeling": {"require_producer_code": true}})

with_code(code) := testdata.with_facts({"labeling": {"producer_code": code}})

test_producer_code_not_required_by_default if {
	codes(with_code(null)) == set()
}

test_producer_code_missing if {
	vs := labeling.violations with input as with_code(null) with data.mlgate.config as producer_code_on
	vs == {{"code": "labeling.producer_code_missing", "params": {"modalities": "text"}}}
	codes_with(with_code(""), producer_code_on) == {"labeling.producer_code_missing"}
	codes_with(with_code("  "), producer_code_on) == {"labeling.producer_code_missing"}
	codes_with(testdata.valid_input, producer_code_on) == {"labeling.producer_code_missing"}
}

# A code that is not text, or no key at all, is an ill-formed document whether
# or not the code is required (mlgate writes text or null).
test_producer_code_ill_formed if {
	codes_with(with_code(12345), producer_code_on) == {"labeling.producer_code_missing", "labeling.input_invalid"}
	codes_with(with_code(12345), testdata.config) == {"labeling.input_invalid"}
	absent := json.remove(testdata.valid_input, ["facts/labeling/producer_code"])
	codes_with(absent, testdata.config) == {"labeling.input_invalid"}
}

test_producer_code_present_passes if {
	codes_with(with_code("PROVIDER-0001"), producer_code_on) == set()
}

# No modality of the version needs implicit labels: no code is needed.
test_producer_code_only_where_implicit_labels_are_required if {
	cfg := testdata.config_with({"labeling": {"require_producer_code": true, "required": {"text": ["explicit"]}}})
	codes_with(with_code(null), cfg) == set()
	image := object.union(with_code(null), {"facts": {"modalities": ["text", "image"]}})
	vs := labeling.violations with input as image with data.mlgate.config as cfg
	vs == {{"code": "labeling.producer_code_missing", "params": {"modalities": "image"}}}
}
