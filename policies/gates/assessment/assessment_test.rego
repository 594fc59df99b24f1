package mlgate.gates.assessment_test

import data.mlgate.gates.assessment
import data.mlgate.testdata

codes(doc) := codes_with(doc, testdata.config)

codes_with(doc, cfg) := {v.code | some v in vs} if {
	vs := assessment.violations with input as doc with data.mlgate.config as cfg
}

result(doc) := result_with(doc, testdata.config)

result_with(doc, cfg) := r if {
	r := assessment.result with input as doc with data.mlgate.config as cfg
}

only_public_opinion := testdata.config_with({"assessment": {"only_public_opinion": true}})

ns_per_second := 1000000000

# No assessment evidence at all.
unassessed := testdata.with_facts({"assessment": {"status": null, "date": null, "date_ns": null, "report": null}})

no_date := testdata.with_facts({"assessment": {"date": null, "date_ns": null}})

test_passed_and_recent_passes if {
	codes(testdata.valid_input) == set()
	result(testdata.valid_input) == {"status": "pass", "violations": []}
}

test_status_missing if {
	codes(testdata.with_facts({"assessment": {"status": null}})) == {"assessment.status_missing"}
}

# With no evidence at all, each missing piece is named.
test_nothing_on_record if {
	codes(unassessed) == {"assessment.status_missing", "assessment.date_missing", "assessment.report_missing"}
	result(unassessed).status == "fail"
}

test_status_invalid if {
	doc := testdata.invalid_tag("compliance.assessment.status", "ok", {"assessment": {"status": null}})
	codes(doc) == {"assessment.status_invalid"}
}

test_not_passed if {
	every status in ["failed", "pending", "none"] {
		codes(testdata.with_facts({"assessment": {"status": status}})) == {"assessment.not_passed"}
	}
}

# Every violation at once: an assessment that did not pass is also told what
# else is missing, so one decision lists everything to fix.
test_not_passed_also_names_date_and_report if {
	every status in ["failed", "pending", "none"] {
		doc := object.union(unassessed, {"facts": {"assessment": {"status": status}}})
		codes(doc) == {"assessment.not_passed", "assessment.date_missing", "assessment.report_missing"}
	}
}

test_date_missing if {
	codes(no_date) == {"assessment.date_missing"}
	result(no_date).status == "fail"
}

test_date_invalid if {
	doc := testdata.invalid_tag("compliance.assessment.date", "last spring", {"assessment": {"date": null, "date_ns": null}})
	codes(doc) == {"assessment.date_invalid"}
}

test_report_missing if {
	every report in [null, "", "  "] {
		codes(testdata.with_facts({"assessment": {"report": report}})) == {"assessment.report_missing"}
	}
}

test_date_in_future if {
	doc := testdata.assessed_days_ago(-1, testdata.now_ns)
	codes(doc) == {"assessment.date_in_future"}
	result(doc).status == "fail"
}

# date_ns is 00:00 UTC of the date: today is never in the future, even at
# exactly midnight.
test_today_is_not_in_future if {
	codes(testdata.assessed_days_ago(0, testdata.now_ns)) == set()
	codes(testdata.assessed_days_ago(0, testdata.today_ns)) == set()
}

test_date_in_future_by_one_nanosecond if {
	codes(testdata.assessed_days_ago(0, testdata.today_ns - 1)) == {"assessment.date_in_future"}
}

test_exactly_max_age_passes if {
	codes(testdata.assessed_days_ago(365, testdata.now_ns)) == set()
}

test_one_day_over_max_age_expires if {
	codes(testdata.assessed_days_ago(366, testdata.now_ns)) == {"assessment.expired"}
	result(testdata.assessed_days_ago(366, testdata.now_ns)).status == "fail"
}

# The age is in whole days elapsed since 00:00 UTC of the date, whatever the
# time of day of the evaluation.
test_age_counts_whole_days if {
	last_second_of_day_365 := (testdata.today_ns + (86400 * ns_per_second)) - ns_per_second
	codes(testdata.assessed_days_ago(365, last_second_of_day_365)) == set()

	# now_ns carries microseconds when Python builds it from a datetime.
	last_microsecond_of_day_365 := (testdata.today_ns + (86400 * ns_per_second)) - 1000
	codes(testdata.assessed_days_ago(365, last_microsecond_of_day_365)) == set()

	codes(testdata.assessed_days_ago(366, testdata.today_ns)) == {"assessment.expired"}
}

# The last nanosecond of day 365 still passes: the comparison is in integers,
# where a float division would round up to day 366 in one engine only.
test_age_boundary_is_exact_to_the_nanosecond if {
	last_ns_of_day_365 := (testdata.today_ns + (86400 * ns_per_second)) - 1
	codes(testdata.assessed_days_ago(365, last_ns_of_day_365)) == set()
}

# A failed assessment is told that it did not pass; its age is not a second
# problem to fix (a new assessment brings a new date), and a waiver for
# assessment.not_passed alone must cover it.
test_not_passed_and_old_is_only_not_passed if {
	old := object.union(testdata.assessed_days_ago(400, testdata.now_ns), {"facts": {"assessment": {"status": "failed"}}})
	codes(old) == {"assessment.not_passed"}
}

test_expired_reports_age_in_days if {
	vs := assessment.violations with input as testdata.assessed_days_ago(400, testdata.now_ns)
		with data.mlgate.config as testdata.config
	some v in vs
	v.code == "assessment.expired"
	v.params.age_days == 400
	v.params.max_age_days == 365
}

# The age in the message counts whole days exactly: 1 ns short of 400 days is 399 on
# every engine (a float division made it 400 on regorus and 399 on OPA).
test_expired_age_is_exact_to_the_nanosecond if {
	last_ns_of_day_399 := (testdata.today_ns + (86400 * ns_per_second)) - 1
	vs := assessment.violations with input as testdata.assessed_days_ago(399, last_ns_of_day_399)
		with data.mlgate.config as testdata.config
	some v in vs
	v.code == "assessment.expired"
	v.params.age_days == 399
}

test_max_age_is_policy_data if {
	cfg := testdata.config_with({"assessment": {"max_age_days": 30}})
	codes_with(testdata.assessed_days_ago(30, testdata.now_ns), cfg) == set()
	codes_with(testdata.assessed_days_ago(31, testdata.now_ns), cfg) == {"assessment.expired"}
}

test_not_applicable_out_of_scope if {
	doc := object.union(unassessed, {"facts": {"audience": "research"}})
	count(codes(doc)) > 0
	result(doc) == {"status": "not_applicable", "violations": []}
}

test_evaluated_when_scope_undecidable if {
	doc := object.union(unassessed, {"facts": {"audience": null}})
	result(doc).status == "fail"
}

test_only_public_opinion_skips_explicit_false if {
	doc := object.union(unassessed, {"facts": {"public_opinion": false}})
	result_with(doc, only_public_opinion) == {"status": "not_applicable", "violations": []}
	result(doc).status == "fail"
}

test_only_public_opinion_requires_true_or_unknown if {
	every flag in [true, null] {
		doc := object.union(unassessed, {"facts": {"public_opinion": flag}})
		result_with(doc, only_public_opinion).status == "fail"
	}
}

# Nor is a future date held against an assessment that did not pass: the date
# is evidence of a pass, and not_passed already blocks (a waiver for it alone
# must cover the gate).
test_not_passed_with_future_date_is_only_not_passed if {
	every status in ["failed", "pending", "none"] {
		doc := testdata.with_facts({"assessment": {"status": status, "date": testdata.day_string(testdata.today_ns + testdata.ns_per_day), "date_ns": testdata.today_ns + testdata.ns_per_day}})
		codes(doc) == {"assessment.not_passed"}
	}
}

# On ill-formed input the gate reports input_invalid, and no date comparison
# made with a time it cannot trust.
test_a_future_date_under_a_malformed_now_is_only_input_invalid if {
	tomorrow := testdata.today_ns + testdata.ns_per_day
	doc := object.union(
		testdata.with_facts({"assessment": {"date": testdata.day_string(tomorrow), "date_ns": tomorrow}}),
		{"now": "garbage"},
	)
	codes(doc) == {"assessment.input_invalid"}
}
