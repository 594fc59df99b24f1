package mlgate.gates.complaints_test

import data.mlgate.gates.complaints
import data.mlgate.testdata

required := testdata.config_with({"complaints": {"required": true}})

on_record := testdata.with_facts({"complaints": {"channel": "https://example.cn/complaints"}})

result_with(doc, cfg) := r if {
	r := complaints.result with input as doc with data.mlgate.config as cfg
}

test_missing_channel_fails_when_required if {
	r := result_with(testdata.valid_input, required)
	r.status == "fail"
	[v.code | some v in r.violations] == ["complaints.channel_missing"]
}

test_channel_on_record_passes if {
	result_with(on_record, required) == {"status": "pass", "violations": []}
}

test_not_required_is_not_applicable if {
	cfg := testdata.config_with({"complaints": {"required": false}})
	result_with(testdata.valid_input, cfg).status == "not_applicable"
}
