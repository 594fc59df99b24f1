package mlgate.gates.data_manifest_test

import data.mlgate.gates.data_manifest
import data.mlgate.testdata

codes(doc) := codes_with(doc, testdata.config)

codes_with(doc, cfg) := {v.code | some v in vs} if {
	vs := data_manifest.violations with input as doc with data.mlgate.config as cfg
}

result(doc) := r if {
	r := data_manifest.result with input as doc with data.mlgate.config as testdata.config
}

settings(patch) := testdata.config_with({"data_manifest": patch})

other_digest := "0000000000000000000000000000000000000000000000000000000000000000"

# One dataset of the valid manifest, with a patch applied.
dataset(patch) := object.union(testdata.manifest_content.datasets[0], patch)

not_attached := testdata.with_manifest({"attached": false, "content": null, "digest_computed": null})

test_sound_manifest_passes if {
	codes(testdata.valid_input) == set()
	result(testdata.valid_input) == {"status": "pass", "violations": []}
}

test_missing if {
	codes(not_attached) == {"data_manifest.missing"}
	result(not_attached).status == "fail"
}

# A digest tag without the artifact is reported as the missing artifact only.
test_missing_without_digest_tag if {
	doc := testdata.without_tag(not_attached, "compliance.data_manifest.sha256", {})
	codes(object.union(doc, {"manifest": {"digest_tagged": null}})) == {"data_manifest.missing"}
}

test_not_json if {
	doc := testdata.with_manifest({
		"content": null,
		"parse_error": "Expecting value: line 1 column 1 (char 0)",
		"digest_computed": testdata.digest,
	})
	codes(doc) == {"data_manifest.not_json"}
}

test_schema_invalid if {
	doc := testdata.with_manifest({"schema_errors": ["datasets.0.kind: Input should be 'pretraining'"]})
	codes(doc) == {"data_manifest.schema_invalid"}
}

# Content duties are checked only on a schema-valid manifest.
test_schema_invalid_skips_content_checks if {
	doc := object.union(
		testdata.with_content({"datasets": [], "quality_measures": []}),
		{"manifest": {"schema_errors": ["datasets: too short"]}},
	)
	codes(doc) == {"data_manifest.schema_invalid"}
}

test_digest_missing if {
	doc := testdata.without_tag(testdata.valid_input, "compliance.data_manifest.sha256", {})
	codes(object.union(doc, {"manifest": {"digest_tagged": null}})) == {"data_manifest.digest_missing"}
}

test_digest_invalid if {
	doc := testdata.invalid_tag("compliance.data_manifest.sha256", "abc123", {})
	codes(object.union(doc, {"manifest": {"digest_tagged": null}})) == {"data_manifest.digest_invalid"}
}

test_digest_mismatch if {
	doc := testdata.with_manifest({"digest_computed": other_digest})
	codes(doc) == {"data_manifest.digest_mismatch"}
	result(doc).status == "fail"
}

test_no_datasets if {
	codes(testdata.with_content({"datasets": []})) == {"data_manifest.no_datasets"}
}

test_min_datasets_is_policy_data if {
	codes_with(testdata.valid_input, settings({"min_datasets": 3})) == {"data_manifest.no_datasets"}
	codes_with(testdata.with_content({"datasets": []}), settings({"min_datasets": 0})) == set()
}

test_dataset_source if {
	doc := testdata.with_content({"datasets": [dataset({"legitimate_source": false})]})
	codes(doc) == {"data_manifest.dataset_source"}
	codes_with(doc, settings({"require_legitimate_source": false})) == set()
}

# A duty field that is absent counts as unmet: absence never passes a gate
# (the schema requires these fields, but a gate input can be written by hand).
test_absent_duty_fields_fail_closed if {
	no_source := object.remove(dataset({}), ["legitimate_source"])
	codes(testdata.with_content({"datasets": [no_source]})) == {"data_manifest.dataset_source"}
	no_ip := object.remove(dataset({}), ["ip_cleared"])
	codes(testdata.with_content({"datasets": [no_ip]})) == {"data_manifest.ip_not_cleared"}
	no_pi_flag := object.remove(dataset({"personal_info_consent": false}), ["contains_personal_info"])
	codes(testdata.with_content({"datasets": [no_pi_flag]})) == {"data_manifest.consent_missing"}
	no_measures := object.remove(testdata.manifest_content, ["quality_measures"])
	codes(testdata.with_content_exactly(no_measures)) == {"data_manifest.quality_measures_missing"}
	no_duty := object.remove(testdata.manifest_content.labeling, ["sampling_verification"])
	content := object.union(object.remove(testdata.manifest_content, ["labeling"]), {"labeling": no_duty})
	codes(testdata.with_content_exactly(content)) == {"data_manifest.labeling_duties"}
}

test_foundation_model_source if {
	fm := object.union(testdata.manifest_content.foundation_models[0], {"legitimate_source": false})
	doc := testdata.with_content({"foundation_models": [fm]})
	codes(doc) == {"data_manifest.foundation_model_source"}
	codes_with(doc, settings({"require_legitimate_source": false})) == set()
}

test_no_foundation_models_is_fine if {
	codes(testdata.with_content({"foundation_models": []})) == set()
	doc := testdata.with_content_exactly(object.remove(testdata.manifest_content, ["foundation_models"]))
	not doc.manifest.content.foundation_models
	codes(doc) == set()
}

test_ip_not_cleared if {
	doc := testdata.with_content({"datasets": [dataset({"ip_cleared": false})]})
	codes(doc) == {"data_manifest.ip_not_cleared"}
	codes_with(doc, settings({"require_ip_cleared": false})) == set()
}

test_consent_missing if {
	every consent in [false, null] {
		doc := testdata.with_content({"datasets": [dataset({"personal_info_consent": consent})]})
		codes(doc) == {"data_manifest.consent_missing"}
	}
	absent := testdata.with_content({"datasets": [object.remove(dataset({}), ["personal_info_consent"])]})
	codes(absent) == {"data_manifest.consent_missing"}
}

test_consent_not_needed_without_personal_info if {
	no_pi := object.remove(dataset({"contains_personal_info": false}), ["personal_info_consent"])
	codes(testdata.with_content({"datasets": [no_pi]})) == set()
}

test_consent_requirement_is_policy_data if {
	doc := testdata.with_content({"datasets": [dataset({"personal_info_consent": false})]})
	codes_with(doc, settings({"require_personal_info_consent": false})) == set()
}

test_quality_measures_missing if {
	# A measure under a key is not a list of measures.
	every measures in [[], ["", "  "], {"k": "deduplication"}] {
		codes(testdata.with_content({"quality_measures": measures})) == {"data_manifest.quality_measures_missing"}
	}
	codes_with(testdata.with_content({"quality_measures": []}), settings({"require_quality_measures": false})) == set()
}

test_labeling_duties if {
	doc := testdata.with_content({"labeling": {"sampling_verification": false}})
	codes(doc) == {"data_manifest.labeling_duties"}
	result(doc).status == "fail"
}

test_labeling_duties_names_every_unmet_duty if {
	doc := testdata.with_content({"labeling": {"used": true, "rules_documented": false, "labeler_training": false}})
	vs := data_manifest.violations with input as doc with data.mlgate.config as testdata.config
	some v in vs
	v.code == "data_manifest.labeling_duties"
	v.params.duties == "labeler_training, rules_documented"
}

test_labeling_duties_only_when_labeling_used if {
	doc := testdata.with_content({"labeling": {
		"used": false,
		"rules_documented": false,
		"quality_assessment": false,
		"sampling_verification": false,
		"labeler_training": false,
	}})
	codes(doc) == set()
}

test_labeling_duties_are_policy_data if {
	doc := testdata.with_content({"labeling": {"sampling_verification": false}})
	codes_with(doc, settings({"labeling_duties": ["rules_documented"]})) == set()
}

# One manifest with every content problem reports each of them.
test_every_content_problem_reported if {
	doc := testdata.with_content({
		"foundation_models": [{"name": "x", "source": "y", "license": "z", "legitimate_source": false}],
		"datasets": [dataset({"legitimate_source": false, "ip_cleared": false, "personal_info_consent": false})],
		"quality_measures": [],
		"labeling": {"quality_assessment": false},
	})
	codes(doc) == {
		"data_manifest.dataset_source",
		"data_manifest.foundation_model_source",
		"data_manifest.ip_not_cleared",
		"data_manifest.consent_missing",
		"data_manifest.quality_measures_missing",
		"data_manifest.labeling_duties",
	}
}

test_not_applicable_out_of_scope if {
	doc := object.union(not_attached, {"facts": {"audience": "research"}})
	codes(doc) == {"data_manifest.missing"}
	result(doc) == {"status": "not_applicable", "violations": []}
}

test_evaluated_when_scope_undecidable if {
	doc := object.union(not_attached, {"facts": {"audience": null}})
	result(doc).status == "fail"
}

# Each manifest problem is reported under its first cause only (not attached,
# then not JSON, then schema-invalid, then content), even when a hand-written
# input document carries evidence of the later stages too.
bad_content := testdata.with_content({"datasets": [dataset({"legitimate_source": false})], "quality_measures": []})

later_codes := {
	"data_manifest.not_json",
	"data_manifest.schema_invalid",
	"data_manifest.dataset_source",
	"data_manifest.quality_measures_missing",
}

test_not_attached_reports_no_later_cause if {
	doc := object.union(bad_content, {"manifest": {"attached": false, "parse_error": "x", "schema_errors": ["y"]}})
	"data_manifest.missing" in codes(doc)
	codes(doc) & later_codes == set()
	every errors in [[], ["y"]] {
		codes(object.union(bad_content, {"manifest": {"attached": false, "schema_errors": errors}})) & later_codes == set()
	}
}

test_not_json_reports_no_later_cause if {
	doc := object.union(bad_content, {"manifest": {"parse_error": "x", "schema_errors": ["y"]}})
	"data_manifest.not_json" in codes(doc)
	codes(doc) & later_codes == {"data_manifest.not_json"}
	codes(object.union(bad_content, {"manifest": {"parse_error": "x"}})) & later_codes == {"data_manifest.not_json"}
}

# ------------------------------------------------------------------- safety sampling (GB/T 45654-2025)

sampling_on := settings({"require_safety_sampling": true, "min_safety_sample_size": 4000, "max_violation_rate": 0.05})

# Both datasets of the valid manifest with this safety sampling.
both_sampled(sampling) := testdata.with_content({"datasets": [
	object.union(testdata.manifest_content.datasets[0], {"safety_sampling": sampling}),
	object.union(testdata.manifest_content.datasets[1], {"safety_sampling": sampling}),
]})

# The first dataset with this safety sampling, the second with a sound one.
first_sampled(sampling) := testdata.with_content({"datasets": [
	object.union(testdata.manifest_content.datasets[0], {"safety_sampling": sampling}),
	object.union(testdata.manifest_content.datasets[1], {"safety_sampling": {"sample_size": 5000, "violation_rate": 0.01}}),
]})

vs_with(doc, cfg) := vs if {
	vs := data_manifest.violations with input as doc with data.mlgate.config as cfg
}

# Off by default: a manifest without any safety sampling passes.
test_safety_sampling_not_required_by_default if {
	codes(testdata.valid_input) == set()
	codes(first_sampled({"sample_size": 1, "violation_rate": 1})) == set()
}

test_safety_sampling_missing if {
	vs_with(testdata.valid_input, sampling_on) == {{
		"code": "data_manifest.safety_sampling_missing",
		"params": {"names": "support-dialogues, zh-news-2024"},
	}}
	codes_with(first_sampled(null), sampling_on) == {"data_manifest.safety_sampling_missing"}
	vs_with(first_sampled(null), sampling_on) == {{
		"code": "data_manifest.safety_sampling_missing",
		"params": {"names": "zh-news-2024"},
	}}
	codes_with(both_sampled({"sample_size": 4000, "violation_rate": 0.05}), sampling_on) == set()
}

# Exactly the minimum passes; one record fewer does not.
test_safety_sample_too_small if {
	codes_with(first_sampled({"sample_size": 4000, "violation_rate": 0.01}), sampling_on) == set()
	vs_with(first_sampled({"sample_size": 3999, "violation_rate": 0.01}), sampling_on) == {{
		"code": "data_manifest.safety_sample_too_small",
		"params": {"dataset": "zh-news-2024", "sample_size": 3999, "min": 4000},
	}}
	codes_with(both_sampled({"sample_size": 0, "violation_rate": 0}), sampling_on) == {"data_manifest.safety_sample_too_small"}
	count(vs_with(both_sampled({"sample_size": 0, "violation_rate": 0}), sampling_on)) == 2
	lower := settings({"require_safety_sampling": true, "min_safety_sample_size": 100, "max_violation_rate": 0.05})
	codes_with(first_sampled({"sample_size": 100, "violation_rate": 0.01}), lower) == set()
}

# Exactly the maximum passes; anything above does not.
test_violation_rate_too_high if {
	codes_with(first_sampled({"sample_size": 4000, "violation_rate": 0.05}), sampling_on) == set()
	vs_with(first_sampled({"sample_size": 4000, "violation_rate": 0.0501}), sampling_on) == {{
		"code": "data_manifest.violation_rate_too_high",
		"params": {"dataset": "zh-news-2024", "violation_rate": 0.0501, "max": 0.05},
	}}
	stricter := settings({"require_safety_sampling": true, "min_safety_sample_size": 4000, "max_violation_rate": 0.01})
	codes_with(first_sampled({"sample_size": 4000, "violation_rate": 0.02}), stricter) == {"data_manifest.violation_rate_too_high"}
	codes_with(first_sampled({"sample_size": 4000, "violation_rate": 0.01}), stricter) == set()
}

test_both_thresholds_missed_report_both if {
	codes_with(first_sampled({"sample_size": 10, "violation_rate": 0.5}), sampling_on) == {
		"data_manifest.safety_sample_too_small",
		"data_manifest.violation_rate_too_high",
	}
}

# A forged document (schema_errors == [] but ill-typed values) fails closed.
test_ill_typed_safety_sampling_fails_closed if {
	vs_with(first_sampled({"sample_size": "5000", "violation_rate": "0.01"}), sampling_on) == {
		{"code": "data_manifest.safety_sample_too_small", "params": {"dataset": "zh-news-2024", "sample_size": "5000", "min": 4000}},
		{"code": "data_manifest.violation_rate_too_high", "params": {"dataset": "zh-news-2024", "violation_rate": "0.01", "max": 0.05}},
	}
	vs_with(first_sampled({}), sampling_on) == {
		{"code": "data_manifest.safety_sample_too_small", "params": {"dataset": "zh-news-2024", "sample_size": null, "min": 4000}},
		{"code": "data_manifest.violation_rate_too_high", "params": {"dataset": "zh-news-2024", "violation_rate": null, "max": 0.05}},
	}
	codes_with(first_sampled("4000"), sampling_on) == {"data_manifest.safety_sampling_missing"}
	nameless := testdata.with_content({"datasets": [object.union(
		object.remove(testdata.manifest_content.datasets[0], ["name"]),
		{"safety_sampling": {"sample_size": 1, "violation_rate": 0}},
	)]})
	vs_with(nameless, sampling_on) == {{
		"code": "data_manifest.safety_sample_too_small",
		"params": {"dataset": "(unnamed)", "sample_size": 1, "min": 4000},
	}}
}

# The one-pass check compares types by Rego's order instead of calling
# is_number: every value of another type on either side of it is still a
# violation, whatever type it is.
test_safety_sampling_of_any_other_type_fails_closed if {
	every bad in [null, true, false, "5000", [5000], {"n": 5000}] {
		codes_with(first_sampled({"sample_size": bad, "violation_rate": 0.01}), sampling_on) == {"data_manifest.safety_sample_too_small"}
	}
	every bad in [null, true, false, "0.01", [0.01], {"r": 0.01}] {
		codes_with(first_sampled({"sample_size": 5000, "violation_rate": bad}), sampling_on) == {"data_manifest.violation_rate_too_high"}
	}
}

# Only the boolean true switches it on.
test_safety_sampling_switch_is_exactly_true if {
	codes_with(testdata.valid_input, settings({"require_safety_sampling": false})) == set()
}
