package mlgate.gates.attestation_test

import data.mlgate.gates.attestation
import data.mlgate.testdata

envelope_digest := "1111111111111111111111111111111111111111111111111111111111111111"

trusted := testdata.config_with({"attestation": {"trusted_keys": [{"name": "compliance", "public_key_pem": "PEM"}]}})

# What Python reports for an attestation that matches everything.
good := {
	"present": true,
	"envelope_sha256": envelope_digest,
	"error": null,
	"signature": "valid",
	"signer": "compliance",
	"subject_match": true,
	"statement_model": "public-chatbot",
	"statement_version": "3",
	"tags_diff": [],
	"manifest_match": true,
	"files_diff": [],
	"files_sha256": envelope_digest,
}

attested := object.union(testdata.with_facts({"attestation": {"sha256": envelope_digest}}), {"attestation": good})

with_att(patch) := object.union(attested, {"attestation": object.union(good, patch)})

codes_with(doc, cfg) := {v.code | some v in vs} if {
	vs := attestation.violations with input as doc with data.mlgate.config as cfg
}

violations_with(doc) := vs if {
	vs := attestation.violations with input as doc with data.mlgate.config as trusted
}

result_with(doc, cfg) := r if {
	r := attestation.result with input as doc with data.mlgate.config as cfg
}

test_attested_passes if {
	result_with(attested, trusted) == {"status": "pass", "violations": []}
}

test_off_without_trusted_keys if {
	result_with(testdata.valid_input, testdata.config) == {"status": "not_applicable", "violations": []}
	cfg := testdata.config_with({"attestation": {"trusted_keys": []}})
	result_with(testdata.valid_input, cfg) == {"status": "not_applicable", "violations": []}
}

# The gate ships off (contract section 7): the shipped policy data lists no key.
test_shipped_gate_off if {
	attestation.result == {"status": "not_applicable", "violations": []} with input as testdata.valid_input
}

test_not_applicable_out_of_scope if {
	doc := object.union(testdata.out_of_scope, {"facts": {"attestation": {"sha256": envelope_digest}}})
	result_with(doc, trusted).status == "not_applicable"
}

# Anything but an empty list switches the gate on: fail closed.
test_odd_trusted_keys_switch_it_on if {
	every value in ["yes", {}, 1, [1]] {
		cfg := testdata.config_with({"attestation": {"trusted_keys": value}})
		result_with(testdata.valid_input, cfg).status == "fail"
	}
}

test_not_checked_triggers_and_clears if {
	codes_with(testdata.valid_input, trusted) == {"attestation.not_checked"}
	codes_with(object.union(testdata.valid_input, {"attestation": "x"}), trusted) == {"attestation.not_checked"}
	not "attestation.not_checked" in codes_with(attested, trusted)
}

test_unreadable_alone_and_with_reason if {
	doc := with_att({"error": "download failed", "subject_match": false, "manifest_match": false})
	codes_with(doc, trusted) == {"attestation.unreadable"}
	some v in violations_with(doc)
	v.params.reason == "download failed"
	codes_with(attested, trusted) == set()
}

test_envelope_missing_triggers_and_clears if {
	doc := with_att({"present": false, "envelope_sha256": null, "signature": null, "subject_match": false, "manifest_match": false})
	codes_with(doc, trusted) == {"attestation.envelope_missing"}
	codes_with(attested, trusted) == set()
}

test_digest_tag_mismatch_triggers_and_clears if {
	other := "2222222222222222222222222222222222222222222222222222222222222222"
	every facts in [{"sha256": other}, {"sha256": null}] {
		doc := object.union(attested, {"facts": {"attestation": facts}})
		codes_with(doc, trusted) == {"attestation.digest_tag_mismatch"}
	}
	codes_with(attested, trusted) == set()
}

test_digest_tag_absent_names_it if {
	doc := object.union(attested, {"facts": {"attestation": {"sha256": null}}})
	some v in violations_with(doc)
	v.params == {"tagged": "absent or invalid", "computed": envelope_digest}
}

test_signature_invalid_triggers_and_clears if {
	every value in ["invalid", null, "VALID", 1] {
		codes_with(with_att({"signature": value, "signer": null}), trusted) == {"attestation.signature_invalid"}
	}
	codes_with(attested, trusted) == set()
}

test_untrusted_signer_triggers_and_clears if {
	codes_with(with_att({"signature": "untrusted", "signer": null}), trusted) == {"attestation.untrusted_signer"}
	codes_with(attested, trusted) == set()
}

test_other_version_triggers_and_clears if {
	doc := with_att({"subject_match": false, "statement_version": "2"})
	codes_with(doc, trusted) == {"attestation.other_version"}
	some v in violations_with(doc)
	v.params == {"model": "public-chatbot", "version": "2"}
	codes_with(attested, trusted) == set()
}

test_tag_changed_one_violation_per_tag if {
	doc := with_att({"tags_diff": ["compliance.filing.status", "compliance.audience"]})
	codes_with(doc, trusted) == {"attestation.tag_changed"}
	{v.params.tag | some v in violations_with(doc)} == {"compliance.filing.status", "compliance.audience"}
	codes_with(attested, trusted) == set()
}

test_manifest_changed_triggers_and_clears if {
	every value in [false, null, "true"] {
		codes_with(with_att({"manifest_match": value}), trusted) == {"attestation.manifest_changed"}
	}
	codes_with(attested, trusted) == set()
}

test_model_file_changed_names_each_file if {
	doc := with_att({"files_diff": ["model.pkl", "weights/part-1.bin"]})
	codes_with(doc, trusted) == {"attestation.model_file_changed"}
	{v.params.file | some v in violations_with(doc)} == {"model.pkl", "weights/part-1.bin"}
	codes_with(attested, trusted) == set()
}

test_unreadable_file_list_fails_closed if {
	codes_with(with_att({"files_diff": "model.pkl"}), trusted) == {"attestation.model_file_changed"}
	codes_with(with_att({"tags_diff": {"a": 1}}), trusted) == {"attestation.tag_changed"}
}

# The digest fact must be there and be a digest or null even while the gate is
# off or the version out of scope; the keys a list of {name, public_key_pem}.
# Cleared by the document mlgate writes and by well-formed settings.
test_ill_formed_facts_or_settings_fail_the_gate if {
	every doc in [
		json.remove(testdata.valid_input, ["facts/attestation"]),
		json.remove(testdata.valid_input, ["facts/attestation/sha256"]),
		testdata.with_facts({"attestation": {"sha256": "ABC"}}),
		testdata.with_facts({"attestation": {"sha256": 1}}),
		json.remove(testdata.out_of_scope, ["facts/attestation"]),
	] {
		r := result_with(doc, testdata.config)
		r.status == "fail"
		{v.code | some v in r.violations} == {"attestation.input_invalid"}
	}
	every cfg in [
		json.remove(testdata.config, ["attestation"]),
		testdata.config_with({"attestation": {"trusted_keys": "PEM"}}),
		testdata.config_with({"attestation": {"trusted_keys": [{"name": "compliance"}]}}),
	] {
		"attestation.input_invalid" in codes_with(attested, cfg)
	}
	result_with(testdata.valid_input, testdata.config).status == "not_applicable"
	not "attestation.input_invalid" in codes_with(attested, trusted)
}
