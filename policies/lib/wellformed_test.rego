# The policies fail closed on ill-typed, empty or contradictory input and on
# partial policy data by themselves (issue 9, A.2, A.3, A.5): a client of an
# OPA server holding these policies cannot rely on mlgate's Python. Every case
# below was allowed before.
package mlgate.wellformed_test

import data.mlgate.main
import data.mlgate.testdata
import data.mlgate.wellformed

decision(doc) := d if {
	d := main.decision with input as doc with data.mlgate.config as testdata.config
}

decision_with(doc, cfg) := d if {
	d := main.decision with input as doc with data.mlgate.config as cfg
}

codes(d, gate) := {v.code | some v in d.gates[gate].violations}

# The gate fails, with input_invalid among its codes, and the decision blocks.
blocks_on(d, gate) if {
	d.allowed == false
	d.gates[gate].status == "fail"
	concat(".", [gate, "input_invalid"]) in codes(d, gate)
}

# A research model offered in CN: out of scope, allowed, when its facts are sound.
research := testdata.with_facts({"audience": "research"})

# In scope with every label switched off: labeling fails unless modalities are empty.
labels_off := testdata.with_facts({"labeling": {"explicit": false, "implicit": false}})

test_sound_inputs_still_decide_as_before if {
	decision(testdata.valid_input).allowed == true
	decision(research).allowed == true
	decision(research).in_scope == false
}

# ------------------------------------------------------------------- scope

test_regions_that_are_not_normalised_codes_never_decide_out_of_scope if {
	every regions in [[], ["cn"], [" CN"], ["CHN"], ["CN,SG"], "CN", [1], [null]] {
		# An enterprise audience would be out of scope with any real region list.
		d := decision(testdata.with_facts({"audience": "enterprise", "regions": regions}))
		blocks_on(d, "scope")
		d.in_scope == null
		d.gates.filing.status == "pass"
	}
}

test_an_unknown_audience_never_decides_out_of_scope if {
	every audience in ["Research", "everyone", "", 1, true, ["research"]] {
		d := decision(testdata.with_facts({"audience": audience}))
		blocks_on(d, "scope")
		d.in_scope == null
	}
}

test_absent_facts_are_not_null_facts if {
	blocks_on(decision(json.remove(testdata.valid_input, ["facts/audience"])), "scope")
	blocks_on(decision(json.remove(testdata.valid_input, ["facts/regions"])), "scope")
	blocks_on(decision(json.remove(testdata.valid_input, ["facts/labeling"])), "labeling")
	blocks_on(decision(json.remove(testdata.valid_input, ["facts/errors"])), "filing")
	d := decision(json.patch(testdata.valid_input, [{"op": "replace", "path": "/facts", "value": "all good"}]))
	every gate in ["scope", "filing", "assessment", "labeling", "data_manifest"] {
		blocks_on(d, gate)
	}
}

# A container of the wrong type (a string for an object) is ill-formed, not an
# engine error, and not "nothing to check".
test_containers_of_the_wrong_type_fail_their_gate if {
	cases := [
		["/facts/labeling", "on", "labeling"],
		["/facts/filing", 1, "filing"],
		["/facts/assessment", [], "assessment"],
		["/manifest", "attached", "data_manifest"],
		["/facts/regions", {"CN": true}, "scope"],
		["/facts/errors", "none", "filing"],
		["/facts/errors", {"tag": "compliance.audience"}, "scope"],
	]
	every case in cases {
		doc := json.patch(testdata.valid_input, [{"op": "replace", "path": case[0], "value": case[1]}])
		blocks_on(decision(doc), case[2])
	}
}

# ------------------------------------------------------------------- booleans and lists

test_booleans_given_as_strings_or_numbers_fail if {
	every value in ["on", "yes", "true", 1, 1.0] {
		blocks_on(decision(testdata.with_facts({"labeling": {"explicit": value}})), "labeling")
		blocks_on(decision(testdata.with_facts({"labeling": {"implicit": value}})), "labeling")
		blocks_on(decision(testdata.with_facts({"public_opinion": value})), "filing")
	}
}

test_empty_modalities_with_labels_off_fail if {
	decision(labels_off).allowed == false
	blocks_on(decision(object.union(labels_off, {"facts": {"modalities": []}})), "labeling")
	blocks_on(decision(object.union(labels_off, {"facts": {"modalities": ["TEXT"]}})), "labeling")
	blocks_on(decision(object.union(labels_off, {"facts": {"modalities": "text"}})), "labeling")
	blocks_on(decision(object.union(labels_off, {"facts": {"modalities": [{}, 0]}})), "labeling")
}

test_an_unknown_status_fails if {
	blocks_on(decision(testdata.with_facts({"filing": {"status": "Completed"}})), "filing")
	blocks_on(decision(testdata.with_facts({"filing": {"id": 42}})), "filing")
	blocks_on(decision(testdata.with_facts({"assessment": {"status": "PASSED"}})), "assessment")
	blocks_on(decision(testdata.with_facts({"assessment": {"report": true}})), "assessment")
}

# ------------------------------------------------------------------- time

test_now_that_is_not_now_ns_fails_every_gate if {
	every now in ["garbage", "2026-11-29T12:00:01Z", "2026-11-29", 1795953600000000000] {
		d := decision(testdata.patched({"now": now}))
		every gate in ["scope", "filing", "assessment", "labeling", "data_manifest"] {
			blocks_on(d, gate)
		}
	}
	blocks_on(decision(testdata.patched({"now_ns": "1795953600000000000"})), "assessment")
	blocks_on(decision(testdata.patched({"now_ns": 1.5e40})), "assessment")
}

test_now_carries_the_second_of_now_ns if {
	# now_ns has sub-second digits when Python takes the clock; now is truncated.
	decision(testdata.patched({"now_ns": testdata.now_ns + 999999999})).allowed == true
}

test_a_date_disagreeing_with_date_ns_fails if {
	every patch in [
		{"date": "2026-06-02"},
		{"date": null},
		{"date_ns": null},
		{"date_ns": 1780272000000000001},
		{"date": "1 June 2026"},
		{"date_ns": "1780272000000000000"},
		{"date_ns": 1.5},
	] {
		blocks_on(decision(testdata.with_facts({"assessment": patch})), "assessment")
	}
}

# ------------------------------------------------------------------- manifest

test_attached_manifest_without_content_fails if {
	blocks_on(decision(testdata.with_manifest({"content": null})), "data_manifest")
	blocks_on(decision(json.remove(testdata.valid_input, ["manifest/content"])), "data_manifest")
	blocks_on(decision(testdata.with_manifest({"content": "{}"})), "data_manifest")
}

test_digests_that_are_not_sha256_hex_fail_even_when_equal if {
	every value in ["x", "", upper(testdata.digest), concat("", [testdata.digest, "\n"])] {
		blocks_on(decision(testdata.with_manifest({"digest_tagged": value, "digest_computed": value})), "data_manifest")
	}
	blocks_on(decision(testdata.with_manifest({"digest_computed": null})), "data_manifest")
}

test_manifest_evidence_fields_must_have_their_types if {
	blocks_on(decision(testdata.with_manifest({"attached": "true"})), "data_manifest")
	blocks_on(decision(testdata.with_manifest({"schema_errors": "none"})), "data_manifest")
	blocks_on(decision(testdata.with_manifest({"parse_error": false})), "data_manifest")
}

# schema_errors [] beside content of the wrong shape is a contradiction.
test_content_contradicting_empty_schema_errors_fails if {
	blocks_on(decision(testdata.with_content({"datasets": "zh-news-2024"})), "data_manifest")
	"data_manifest.dataset_source" in codes(decision(testdata.with_content({"datasets": [1]})), "data_manifest")
	blocks_on(decision(testdata.with_content({"manifest_version": true})), "data_manifest")
	blocks_on(decision(testdata.with_content({"foundation_models": {"name": "x"}})), "data_manifest")
}

# x == true holds only for the boolean true: an ill-typed value never passes a duty.
test_ill_typed_duties_are_unmet if {
	unverified := object.union(testdata.manifest_content.labeling, {"sampling_verification": false})
	every used in ["true", "yes", 1, 1.0, null] {
		d := decision(testdata.with_content({"labeling": object.union(unverified, {"used": used})}))
		"data_manifest.labeling_duties" in codes(d, "data_manifest")
	}
	every value in ["true", 1, 1.0] {
		src := decision(testdata.with_content({"datasets": [object.union(testdata.manifest_content.datasets[1], {"legitimate_source": value})]}))
		"data_manifest.dataset_source" in codes(src, "data_manifest")
		duty := object.union(testdata.manifest_content.labeling, {"quality_assessment": value})
		lab := decision(testdata.with_content({"labeling": duty}))
		"data_manifest.labeling_duties" in codes(lab, "data_manifest")
	}
	measures := decision(testdata.with_content({"quality_measures": [1, true]}))
	"data_manifest.quality_measures_missing" in codes(measures, "data_manifest")
}

# ------------------------------------------------------------------- waivers

filing_pending := testdata.with_facts({"filing": {"status": "pending"}})

waived(expires) := object.union(filing_pending, {"waivers": [object.union(
	testdata.waiver("W-1", ["filing.not_completed"]),
	{"expires": expires},
)]})

test_a_waiver_applies_through_its_last_day if {
	decision(waived("2026-11-29")).gates.filing.status == "waived"
	decision(waived("2026-11-29")).allowed == true
}

test_an_expired_or_malformed_waiver_listed_in_the_input_does_not_apply if {
	every expires in ["2026-11-28", "2025-12-31", "someday", "29.11.2026", 20261231, null] {
		d := decision(waived(expires))
		d.gates.filing.status == "fail"
		d.allowed == false
		d.waivers_applied == []
	}
}

test_ill_typed_waivers_apply_none if {
	every waivers in ["W-1", {"id": "W-1"}, [{"id": "W-1", "codes": "filing.*", "expires": "2027-01-31"}], [1]] {
		d := decision(object.union(filing_pending, {"waivers": waivers}))
		d.gates.filing.status == "fail"
		d.waivers_applied == []
	}
}

test_no_waiver_applies_when_now_is_malformed if {
	d := decision(object.union(waived("2027-01-31"), {"now": "garbage"}))
	d.gates.filing.status == "fail"
	d.waivers_applied == []
}

test_ill_formed_input_is_never_waived if {
	doc := object.union(
		testdata.with_facts({"filing": {"status": "Completed"}}),
		{"waivers": [testdata.waiver("W-all", ["filing.*", "filing.input_invalid"])]},
	)
	d := decision(doc)
	d.gates.filing.status == "fail"
	d.allowed == false
}

# ------------------------------------------------------------------- policy data

# Each section the gates read, absent: its gate fails (it never reads "absent"
# as "not required"), in scope or out of it.
test_a_missing_config_section_fails_its_gate if {
	every section, gate in {
		"scope": "scope",
		"filing": "filing",
		"assessment": "assessment",
		"labeling": "labeling",
		"data_manifest": "data_manifest",
	} {
		cfg := object.remove(testdata.config, [section])
		blocks_on(decision_with(testdata.valid_input, cfg), gate)
		blocks_on(decision_with(research, cfg), gate)
	}
}

test_ill_typed_settings_fail_their_gate if {
	cases := [
		["scope", {"scope": {"regions": "CN"}}],
		["scope", {"scope": {"public_audiences": [false]}}],
		["data_manifest", {"data_manifest": {"labeling_duties": [[]]}}],
		["filing", {"filing": {"only_public_opinion": "false"}}],
		["assessment", {"assessment": {"max_age_days": "365"}}],
		["assessment", {"assessment": {"max_age_days": 0}}],
		["labeling", {"labeling": {"required": {"text": "explicit"}}}],
		["labeling", {"labeling": {"required": {"text": ["Explicit"]}}}],
		["data_manifest", {"data_manifest": {"require_ip_cleared": "true"}}],
		["data_manifest", {"data_manifest": {"min_datasets": true}}],
	]
	every case in cases {
		blocks_on(decision_with(testdata.valid_input, testdata.config_with(case[1])), case[0])
	}
}

test_no_policy_data_at_all_blocks if {
	d := decision_with(testdata.valid_input, {})
	d.allowed == false
	every gate in ["scope", "filing", "assessment", "labeling", "data_manifest"] {
		blocks_on(d, gate)
	}
}

# Without the protected lists every target would read as unprotected.
test_missing_protected_lists_never_turn_a_claim_into_warn if {
	doc := object.union(filing_pending, {"request": {"target": "production", "enforcement": "warn"}})
	every key in ["protected_aliases", "protected_stages"] {
		d := decision_with(doc, object.remove(testdata.config, [key]))
		d.enforcement == "deny"
		d.allowed == false
	}
	malformed := decision_with(doc, testdata.config_with({"protected_aliases": "production"}))
	malformed.enforcement == "deny"
	stage := object.union(doc, {"request": {"kind": "stage"}})
	decision_with(stage, testdata.config_with({"protected_stages": "production"})).enforcement == "deny"
	decision_with(stage, testdata.config_with({"protected_stages": {"k": "production"}})).enforcement == "deny"
}

test_warn_needs_a_well_formed_request if {
	base := object.union(filing_pending, {"request": {"target": "staging", "enforcement": "warn"}})
	decision(base).enforcement == "warn"
	decision(object.union(base, {"request": {"kind": "tag"}})).enforcement == "deny"
	decision(object.union(base, {"request": {"target": ["staging"]}})).enforcement == "deny"
	decision(object.union(base, {"request": {"target": ["staging"], "kind": "stage"}})).enforcement == "deny"
}

# ------------------------------------------------------------------- helpers

test_malformed_fields_lists_each_field_once_sorted if {
	doc := testdata.with_facts({"audience": 1, "regions": []})
	fields := wellformed.malformed_fields("scope") with input as doc with data.mlgate.config as testdata.config
	fields == "facts.audience, facts.regions"
	not wellformed.malformed_fields("scope") with input as testdata.valid_input with data.mlgate.config as testdata.config
}

# ------------------------------------------------------------------- the glance and the detail

# A document of the usual shape is accepted by one rule (wellformed_at_a_glance)
# and examined field by field only when that rule fails. Each flaw below breaks
# one line of the glance and nothing else in it: the glance must not let it
# through, and the field-by-field check must name it.
test_each_flaw_only_one_glance_line_sees_fails_its_gate if {
	short := substring(testdata.digest, 0, 63)
	long := concat("", [testdata.digest, "0"])
	shouting := upper(testdata.digest)
	cases := [
		# date_ns a day boundary, but before 1684 or after 2255, or -1 ns.
		["assessment", {"facts": {"assessment": {"date_ns": -1, "date": "1969-12-31"}}}],
		["assessment", assessed_on(-9000028800000000000)],
		["assessment", assessed_on(9000028800000000000)],
		["assessment", assessed_on(-9000028800000000000 - (10 * testdata.ns_per_day))],
		["data_manifest", {"manifest": {"digest_tagged": short}}],
		["data_manifest", {"manifest": {"digest_tagged": long}}],
		["data_manifest", {"manifest": {"digest_tagged": shouting}}],
		["data_manifest", {"manifest": {"digest_computed": short}}],
		["data_manifest", {"manifest": {"digest_computed": long}}],
		["data_manifest", {"manifest": {"digest_computed": shouting}}],
		["data_manifest", {"manifest": {"content": {"manifest_version": 2}}}],
		["data_manifest", {"manifest": {"content": {"manifest_version": 0}}}],
		["scope", {"facts": {"regions": ["CN", "cn"]}}],
		["labeling", {"facts": {"modalities": ["text", "TEXT"]}}],
	]
	every case in cases {
		blocks_on(decision(testdata.patched(case[1])), case[0])
	}
}

assessed_on(ns) := {"facts": {"assessment": {"date_ns": ns, "date": testdata.day_string(ns)}}}

# now_ns outside the range time.date takes everywhere (±9e18 ns, exclusive),
# or not an integer: every gate fails.
test_now_outside_the_range_or_fractional_fails_every_gate if {
	every ns in [-9100000000000000000, -9000000000000000000, 9000000000000000000] {
		blocks_on(decision(testdata.patched({"now_ns": ns, "now": testdata.rfc3339_seconds(ns)})), "filing")
	}
	blocks_on(decision(testdata.patched({"now_ns": 0.5, "now": "1970-01-01T00:00:00Z"})), "filing")
}

# An entry of facts.errors that is not {tag: string, value: string, expected: string}.
test_an_ill_formed_fact_error_fails_every_gate if {
	cases := [
		[1], [{"tag": 1, "value": "x", "expected": "y"}],
		[{"tag": "compliance.audience", "value": 1, "expected": "y"}],
		[{"tag": "compliance.audience", "value": "x"}],
		[{"tag": "compliance.audience", "value": "x", "expected": 1}],
	]
	every errors in cases {
		d := decision(testdata.with_facts({"errors": errors}))
		every gate in ["scope", "filing", "assessment", "labeling", "data_manifest"] {
			blocks_on(d, gate)
		}
	}
}

test_ill_typed_settings_only_one_glance_line_sees_fail_their_gate if {
	cases := [
		["scope", {"scope": {"public_audiences": {"k": "public"}}}],
		["scope", {"scope": {"regions": [1]}}],
		["assessment", {"assessment": {"only_public_opinion": "false"}}],
		["assessment", {"assessment": {"max_age_days": 365.5}}],
		["labeling", {"labeling": {"required": ["explicit", "implicit"]}}],
		["data_manifest", {"data_manifest": {"min_datasets": 1.5}}],
		["data_manifest", {"data_manifest": {"min_datasets": "1"}}],
		["data_manifest", {"data_manifest": {"min_datasets": -1}}],
		["data_manifest", {"data_manifest": {"require_legitimate_source": "true"}}],
		["data_manifest", {"data_manifest": {"require_personal_info_consent": "true"}}],
		["data_manifest", {"data_manifest": {"require_quality_measures": "true"}}],
		["data_manifest", {"data_manifest": {"labeling_duties": {"k": "rules_documented"}}}],
		["data_manifest", {"data_manifest": {"require_safety_sampling": "true"}}],
		["data_manifest", {"data_manifest": {"require_safety_sampling": null}}],
		["data_manifest", {"data_manifest": {"min_safety_sample_size": 4000.5}}],
		["data_manifest", {"data_manifest": {"min_safety_sample_size": "4000"}}],
		["data_manifest", {"data_manifest": {"min_safety_sample_size": -1}}],
		["data_manifest", {"data_manifest": {"max_violation_rate": "0.05"}}],
		["data_manifest", {"data_manifest": {"max_violation_rate": -0.01}}],
		["data_manifest", {"data_manifest": {"max_violation_rate": 1.01}}],
		["labeling", {"labeling": {"require_producer_code": "true"}}],
		["labeling", {"labeling": {"require_producer_code": 1}}],
	]
	every case in cases {
		blocks_on(decision_with(testdata.valid_input, testdata.config_with(case[1])), case[0])
	}
}

# valid_input with a flaw-free difference the glance does not take (a null
# filing id): it is examined field by field.
off_glance(patch) := object.union(testdata.with_facts({"filing": {"id": null}}), patch)

# Examined field by field, and nothing found malformed.
well_formed_in_detail(doc, cfg) if {
	not wellformed.wellformed_at_a_glance with input as doc with data.mlgate.config as cfg
	count(wellformed.malformed) == 0 with input as doc with data.mlgate.config as cfg
}

# The bounds themselves are well-formed, also when examined field by field.
test_values_at_their_bounds_are_well_formed_in_detail if {
	well_formed_in_detail(off_glance({}), testdata.config)
	every ns in [-8999999999999999999, 8999999999999999999] {
		well_formed_in_detail(off_glance({"now_ns": ns, "now": testdata.rfc3339_seconds(ns)}), testdata.config)
	}
	well_formed_in_detail(off_glance({"facts": {"regions": ["CN"]}}), testdata.config)
	well_formed_in_detail(off_glance({}), testdata.config_with({"assessment": {"max_age_days": 1}}))
	well_formed_in_detail(off_glance({}), testdata.config_with({"data_manifest": {"min_datasets": 0}}))
	every patch in safety_sampling_bounds {
		well_formed_in_detail(off_glance({}), testdata.config_with({"data_manifest": patch}))
	}
}

safety_sampling_bounds := [
	{"min_safety_sample_size": 0, "max_violation_rate": 0},
	{"min_safety_sample_size": 4000, "max_violation_rate": 1},
	{"require_safety_sampling": true},
]

# The same bounds, and both switches on, are taken at a glance (the fast path).
test_new_settings_at_their_bounds_pass_the_glance if {
	every patch in safety_sampling_bounds {
		wellformed.wellformed_at_a_glance with input as testdata.valid_input
			with data.mlgate.config as testdata.config_with({"data_manifest": patch})
	}
	wellformed.wellformed_at_a_glance with input as testdata.valid_input
		with data.mlgate.config as testdata.config_with({"labeling": {"require_producer_code": true}})
}

# Content is judged only when the manifest is attached and parsed: otherwise
# the gate says what is wrong with the manifest itself.
test_leftover_content_of_an_unusable_manifest_is_not_judged if {
	leftover := {"manifest_version": 2, "datasets": "zh-news-2024"}
	unattached := decision(testdata.with_manifest({"attached": false, "content": leftover}))
	codes(unattached, "data_manifest") == {"data_manifest.missing"}
	unparsed := decision(testdata.with_manifest({"parse_error": "Expecting value: line 1 column 1", "content": leftover}))
	codes(unparsed, "data_manifest") == {"data_manifest.not_json"}
	invalid := decision(testdata.with_manifest({"schema_errors": ["datasets: not an array"], "content": leftover}))
	codes(invalid, "data_manifest") == {"data_manifest.schema_invalid"}
}
