package mlgate.promotion_test

import data.mlgate.main
import data.mlgate.testdata

four_eyes := testdata.config_with({"promotion": {"four_eyes": true}})

# Every current compliance tag written by `writer`.
written_by(writer) := {key: {"writer": writer, "time": "2026-11-28T10:00:00Z", "source": "POST /api/2.0/mlflow/model-versions/set-tag"} |
	some key, _ in testdata.valid_input.tags
}

reviewed := testdata.patched({"provenance": written_by("officer"), "promoted_by": "releaser"})

decision(doc, config) := d if {
	d := main.decision with input as doc with data.mlgate.config as config
}

codes(d) := {v.code | some v in d.gates.promotion.violations}

test_off_by_default_the_decision_has_no_promotion_entry if {
	d := decision(testdata.valid_input, testdata.config)
	not d.gates.promotion
	d.allowed == true
}

test_another_user_promotes_evidence_passes if {
	d := decision(reviewed, four_eyes)
	d.gates.promotion.status == "pass"
	d.allowed == true
}

test_the_writer_promoting_is_blocked if {
	doc := object.union(reviewed, {"promoted_by": "officer"})
	d := decision(doc, four_eyes)
	d.gates.promotion.status == "fail"
	codes(d) == {"promotion.four_eyes"}
	d.allowed == false
}

test_one_tag_by_the_promoter_is_enough_to_block if {
	doc := object.union(reviewed, {"provenance": {"compliance.filing.status": {"writer": "releaser"}}})
	d := decision(doc, four_eyes)
	"promotion.four_eyes" in codes(d)
	d.allowed == false
}

test_unknown_writer_blocks if {
	doc := json.remove(reviewed, ["provenance/compliance.filing.status"])
	d := decision(doc, four_eyes)
	codes(d) == {"promotion.provenance_unknown"}
	d.allowed == false
}

test_no_provenance_at_all_blocks if {
	d := decision(testdata.valid_input, four_eyes)
	codes(d) == {"promotion.provenance_unknown"}
	d.allowed == false
}

test_unknown_promoter_blocks if {
	doc := json.remove(reviewed, ["promoted_by"])
	d := decision(doc, four_eyes)
	codes(d) == {"promotion.provenance_unknown"}
	d.allowed == false
}

test_blank_writer_is_unknown if {
	doc := object.union(reviewed, {"provenance": {"compliance.audience": {"writer": "  "}}})
	codes(decision(doc, four_eyes)) == {"promotion.provenance_unknown"}
}

test_warn_target_is_not_applicable if {
	doc := object.union(testdata.valid_input, {"request": {"target": "staging", "enforcement": "warn"}})
	d := decision(doc, four_eyes)
	d.gates.promotion.status == "not_applicable"
	d.allowed == true
}

test_no_waiver_covers_four_eyes if {
	doc := object.union(reviewed, {"promoted_by": "officer", "waivers": [testdata.waiver("W-1", ["promotion.*"])]})
	d := decision(doc, four_eyes)
	d.gates.promotion.status == "fail"
	d.allowed == false
}

test_any_value_but_false_switches_it_on if {
	d := decision(testdata.valid_input, testdata.config_with({"promotion": {"four_eyes": "yes"}}))
	d.gates.promotion.status == "fail"
}
