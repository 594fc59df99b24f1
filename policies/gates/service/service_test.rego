package mlgate.gates.service_test

import data.mlgate.gates.service
import data.mlgate.testdata

obligations := ["user_agreement", "minors", "user_data", "content_handling", "complaints"]

all_codes := {concat("", ["service.", name, "_missing"]) | some name in obligations}

required := testdata.config_with({"service": {"required": true}})

# Every obligation on record.
references := {name: concat("", ["https://example.cn/service/", name]) | some name in obligations}

on_record := testdata.with_facts({"service": references})

# on_record with one obligation's fact replaced.
with_reference(name, value) := testdata.with_facts({"service": object.union(references, {name: value})})

codes_with(doc, cfg) := {v.code | some v in vs} if {
	vs := service.violations with input as doc with data.mlgate.config as cfg
}

result_with(doc, cfg) := r if {
	r := service.result with input as doc with data.mlgate.config as cfg
}

test_nothing_on_record_names_every_obligation if {
	codes_with(testdata.valid_input, required) == all_codes
	r := result_with(testdata.valid_input, required)
	r.status == "fail"
	count(r.violations) == 5
}

test_everything_on_record_passes if {
	result_with(on_record, required) == {"status": "pass", "violations": []}
}

# Each obligation is triggered alone by its missing reference, and cleared by it.
test_each_obligation_missing_alone if {
	every name in obligations {
		every value in [null, "", "   "] {
			codes_with(with_reference(name, value), required) == {concat("", ["service.", name, "_missing"])}
		}
	}
}

# A reference that is not text (a forged document) is no reference, and the
# document is ill-formed besides.
test_a_reference_that_is_not_text_is_missing_and_ill_formed if {
	every name in obligations {
		every value in [7, ["x"], true, {"uri": "x"}] {
			codes_with(with_reference(name, value), required) == {
				concat("", ["service.", name, "_missing"]),
				"service.input_invalid",
			}
		}
	}
}

# The facts must be there even while the gate is off or the version out of
# scope: a document without them is not one mlgate wrote, and a gate that is
# off today is on tomorrow. Cleared by the document mlgate writes (nulls).
test_absent_or_ill_typed_facts_fail_the_switched_off_gate if {
	every doc in [
		json.remove(testdata.valid_input, ["facts/service"]),
		json.remove(testdata.valid_input, ["facts/service/minors"]),
		testdata.with_facts({"service": {"complaints": 1}}),
		json.patch(testdata.valid_input, [{"op": "replace", "path": "/facts/service", "value": "none"}]),
		json.remove(testdata.out_of_scope, ["facts/service"]),
	] {
		r := result_with(doc, testdata.config)
		r.status == "fail"
		{v.code | some v in r.violations} == {"service.input_invalid"}
	}
	result_with(testdata.valid_input, testdata.config).status == "not_applicable"
	result_with(testdata.out_of_scope, testdata.config).status == "not_applicable"
}

test_each_obligation_switch_off_clears_it if {
	every name in obligations {
		cfg := testdata.config_with({"service": {"required": true, name: false}})
		codes_with(testdata.valid_input, cfg) == all_codes - {concat("", ["service.", name, "_missing"])}
		result_with(with_reference(name, null), cfg) == {"status": "pass", "violations": []}
	}
}

# A switch that is not false (absent, or a "yes" in hand-written data) keeps the
# obligation: fail closed.
test_switch_other_than_false_keeps_the_obligation if {
	cfg := testdata.config_with({"service": {"required": true, "minors": true}})
	codes_with(with_reference("minors", null), cfg) == {"service.minors_missing"}
	every value in ["no", null, 0] {
		bad := testdata.config_with({"service": {"required": true, "minors": value}})
		codes_with(with_reference("minors", null), bad) == {"service.minors_missing", "service.input_invalid"}
	}
}

# Settings that are absent or not booleans fail the gate, even while it is off.
test_ill_formed_settings_fail_the_gate if {
	every cfg in [
		json.remove(testdata.config, ["service"]),
		json.remove(testdata.config, ["service/complaints"]),
		testdata.config_with({"service": {"user_data": "false"}}),
	] {
		"service.input_invalid" in codes_with(on_record, cfg)
		result_with(on_record, cfg).status == "fail"
	}
}

test_every_switch_off_passes if {
	cfg := testdata.config_with({"service": object.union({name: false | some name in obligations}, {"required": true})})
	result_with(testdata.valid_input, cfg) == {"status": "pass", "violations": []}
}

test_not_required_is_not_applicable if {
	result_with(testdata.valid_input, testdata.config) == {"status": "not_applicable", "violations": []}
	cfg := testdata.config_with({"service": {"required": false}})
	result_with(testdata.valid_input, cfg) == {"status": "not_applicable", "violations": []}
}

# A required setting that is not a boolean reads as on: never as "not required".
test_required_other_than_false_applies if {
	every value in [true, "yes", 1] {
		cfg := testdata.config_with({"service": {"required": value}})
		result_with(testdata.valid_input, cfg).status == "fail"
	}
}

test_not_applicable_out_of_scope if {
	result_with(testdata.out_of_scope, required) == {"status": "not_applicable", "violations": []}
}

test_evaluated_when_scope_undecidable if {
	codes_with(testdata.undecidable, required) == all_codes
}

test_reference_invalid if {
	doc := testdata.with_bad_tag(on_record, "compliance.service.user_data", "x", {"service": {"user_data": null}})
	vs := service.violations with input as doc with data.mlgate.config as required
	[v | some v in vs] == [{"code": "service.reference_invalid", "params": {
		"tag": "compliance.service.user_data",
		"value": "x",
		"expected": "a valid value",
	}}]
}

test_reference_invalid_of_a_switched_off_obligation_is_ignored if {
	doc := testdata.with_bad_tag(on_record, "compliance.service.user_data", "x", {"service": {"user_data": null}})
	cfg := testdata.config_with({"service": {"required": true, "user_data": false}})
	result_with(doc, cfg) == {"status": "pass", "violations": []}
}

test_other_tags_invalid_are_not_this_gates if {
	doc := testdata.with_bad_tag(on_record, "compliance.assessment.status", "ok", {"assessment": {"status": null}})
	codes_with(doc, required) == set()
}

# Another gate's invalid tag neither reports nor hides a missing obligation.
test_other_tags_invalid_do_not_hide_a_missing_obligation if {
	doc := testdata.with_bad_tag(
		with_reference("minors", null),
		"compliance.assessment.status", "ok", {"assessment": {"status": null}},
	)
	codes_with(doc, required) == {"service.minors_missing"}
}

# Absent settings read as the safe side: no switch means the gate is off (it
# fails only on the settings), and a required gate without an obligation's
# switch still requires it.
test_absent_settings_read_safely if {
	codes_with(testdata.valid_input, json.remove(testdata.config, ["service/required"])) == {"service.input_invalid"}
	codes_with(testdata.valid_input, json.patch(testdata.config, [
		{"op": "add", "path": "/service/required", "value": true},
		{"op": "remove", "path": "/service/minors"},
	])) == all_codes | {"service.input_invalid"}
}
