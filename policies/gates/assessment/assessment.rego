# METADATA
# title: Security assessment passed
# description: >-
#   Services with public-opinion attributes or social-mobilisation capacity
#   must pass a security assessment before launch. The result, the date and the
#   report reference must be on record, and the assessment must not be stale.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 17
# custom:
#   short_name: assessment
#   failure_msg: The security assessment is not passed, not on record, or stale
#   solution: >-
#     Pass the security assessment, then set compliance.assessment.status=passed,
#     compliance.assessment.date (YYYY-MM-DD) and compliance.assessment.report
#     on the model version.
#   severity: critical
package mlgate.gates.assessment

import data.mlgate.lib

ns_per_day := 86400000000000

default applies := false

applies if {
	lib.gates_apply
	lib.public_opinion_requires(lib.config.assessment.only_public_opinion)
}

# Ill-formed input or settings: the gate applies, whatever scope says, and fails.
applies if data.mlgate.wellformed.malformed_text.assessment

assessment := input.facts.assessment

# A missing date or report is always reported (every violation at once), but a date
# in the future or too old is judged only when the status says passed: a failed or
# pending assessment brings a new date, and a waiver of assessment.not_passed covers it.
# A rule, not `not assessment.status in {...}`: OPA evaluates a negated call on an
# absent field as undefined (regorus as true), and an absent status expects evidence.
expects_evidence if not evidence_withheld

evidence_withheld if assessment.status in {"failed", "pending", "none"}

# Dates are compared only when date, now and settings are well-formed; anything
# else fails with input_invalid, and never with an arithmetic error.
dates_comparable if not data.mlgate.wellformed.malformed_text.assessment

# METADATA
# title: Assessment status missing
# description: The compliance.assessment.status tag is absent.
# custom:
#   short_name: status_missing
#   failure_msg: The tag compliance.assessment.status is missing
#   solution: Set compliance.assessment.status to passed once the security assessment is passed.
#   severity: critical
violations contains {"code": "assessment.status_missing", "params": {}} if {
	lib.tag_missing("compliance.assessment.status", assessment.status)
}

# METADATA
# title: Assessment status invalid
# description: The compliance.assessment.status tag holds a value that is not allowed.
# custom:
#   short_name: status_invalid
#   failure_msg: "The tag compliance.assessment.status is '{value}'; expected {expected}"
#   solution: Set compliance.assessment.status to passed, failed, pending or none. Keep only that exact key and remove any look-alike spelling of it (another case or accent).
#   severity: critical
violations contains {"code": "assessment.status_invalid", "params": params} if {
	some params in lib.invalid_tag_values("compliance.assessment.status")
}

# METADATA
# title: Assessment not passed
# description: The security assessment failed, is pending, or was never made.
# custom:
#   short_name: not_passed
#   failure_msg: "The security assessment is '{status}', not passed"
#   solution: Pass the security assessment before launch, then set compliance.assessment.status=passed.
#   severity: critical
violations contains {"code": "assessment.not_passed", "params": {"status": status}} if {
	status := assessment.status
	status != null
	status != "passed"
}

# METADATA
# title: Assessment date missing
# description: No date is on record for the security assessment.
# custom:
#   short_name: date_missing
#   failure_msg: The tag compliance.assessment.date is missing
#   solution: Set compliance.assessment.date to the date the assessment was passed (YYYY-MM-DD).
#   severity: high
violations contains {"code": "assessment.date_missing", "params": {}} if {
	lib.tag_missing("compliance.assessment.date", assessment.date_ns)
}

# METADATA
# title: Assessment date invalid
# description: The compliance.assessment.date tag is not an ISO 8601 date.
# custom:
#   short_name: date_invalid
#   failure_msg: "The tag compliance.assessment.date is '{value}'; expected {expected}"
#   solution: Set compliance.assessment.date to an ISO 8601 date such as 2026-03-01. Keep only that exact key and remove any look-alike spelling of it (another case or accent).
#   severity: high
violations contains {"code": "assessment.date_invalid", "params": params} if {
	some params in lib.invalid_tag_values("compliance.assessment.date")
}

# METADATA
# title: Assessment date in the future
# description: The assessment date lies after the evaluation time.
# custom:
#   short_name: date_in_future
#   failure_msg: "The assessment date {date} is in the future"
#   solution: Correct compliance.assessment.date to the date the assessment was actually passed.
#   severity: high
violations contains {"code": "assessment.date_in_future", "params": {"date": assessment.date}} if {
	expects_evidence
	dates_comparable
	assessment.date_ns != null
	assessment.date_ns > input.now_ns
}

# METADATA
# title: Assessment expired
# description: The assessment is older than the maximum age set in the policy data.
# custom:
#   short_name: expired
#   failure_msg: "The security assessment of {date} is {age_days} days old; at most {max_age_days} days are accepted"
#   solution: Renew the security assessment and update compliance.assessment.date and compliance.assessment.report.
#   severity: high
violations contains {"code": "assessment.expired", "params": params} if {
	expects_evidence
	dates_comparable
	assessment.date_ns != null

	# Integers only: a float division rounds a few ns short of whole days up to the next
	# day in one engine (regorus) and not in another (OPA). age_ns >= 0 here, so the
	# remainder is the part of a day and the division below is exact.
	age_ns := input.now_ns - assessment.date_ns
	age_ns >= (lib.config.assessment.max_age_days + 1) * ns_per_day
	age_days := (age_ns - (age_ns % ns_per_day)) / ns_per_day
	params := {"date": assessment.date, "age_days": age_days, "max_age_days": lib.config.assessment.max_age_days}
}

# METADATA
# title: Assessment report missing
# description: No reference to the assessment report is on record.
# custom:
#   short_name: report_missing
#   failure_msg: The tag compliance.assessment.report is missing or empty
#   solution: Set compliance.assessment.report to the URI or artifact path of the assessment report.
#   severity: high
violations contains {"code": "assessment.report_missing", "params": {}} if {
	not report_present
}

report_present if {
	is_string(assessment.report)
	trim_space(assessment.report) != ""
}

# METADATA
# title: Gate input or policy data ill-formed
# description: >-
#   A fact this gate reads, or its section of the policy data, is ill-typed,
#   empty or contradicts another field (see policies/lib/wellformed.rego):
#   not what mlgate builds. The gate cannot decide on it, so it fails; no
#   waiver covers this.
# custom:
#   short_name: input_invalid
#   failure_msg: "The gate cannot decide on ill-formed input: {fields}"
#   solution: >-
#     Evaluate with mlgate (check, promote), which builds the gate input from the
#     registry; a client of an OPA server must send the document mlgate would
#     (schemas/gate_input.schema.json), and the server must hold the complete
#     policy data (mlgate policy push).
#   severity: critical
violations contains {"code": "assessment.input_invalid", "params": {"fields": fields}} if {
	fields := data.mlgate.wellformed.malformed_text.assessment
}

result := lib.gate_result(applies, violations)
