# METADATA
# title: Service obligations on record
# description: >-
#   Before launch a provider must be able to show the service obligations of
#   the Interim Measures a release can evidence: a service agreement with its
#   users, the intended users and the measures against minors' over-reliance,
#   the protection of user inputs and usage logs, the process for illegal
#   content and model rectification, and a complaints and reporting channel
#   with published handling times. Each is a compliance.service.* tag holding
#   a reference (URI or document id). The gate is off by default
#   (service.required in the policy data); each obligation has its own switch.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 9 (service agreement)
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 10 (intended users, minors)
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 11 (user inputs and usage logs)
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 14 (illegal content, rectification)
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 15 (complaints and reporting)
# custom:
#   short_name: service
#   failure_msg: A service obligation required before launch is not on record
#   solution: >-
#     Set each required compliance.service.* tag (user_agreement, minors,
#     user_data, content_handling, complaints) to the URI or document id of
#     the document that evidences it.
#   severity: high
package mlgate.gates.service

import data.mlgate.lib

# Off unless the policy data switches it on; any value but false or absent (a
# "yes" for true, from stale or hand-written data) switches it on: fail closed.
default applies := false

applies if {
	lib.gates_apply
	switched_on
}

switched_on if object.get(lib.config, ["service", "required"], false) != false

# Ill-formed facts or settings: the gate applies, whatever scope or its switch
# says, and fails (a forged document cannot drop the obligations it would owe).
applies if data.mlgate.wellformed.malformed_text.service

obligations := ["user_agreement", "minors", "user_data", "content_handling", "complaints"]

# The obligations required, while the gate is on: each unless its switch is
# explicitly false. Rules, not functions: computed once per decision (a
# function call per obligation and violation costs regorus more than the gate).
due := {name |
	switched_on
	some name in obligations
	object.get(lib.config, ["service", name], true) != false
}

# References on record: non-blank text. Anything else (absent, null, a number
# in a forged document) is missing.
on_record := {name |
	some name in obligations
	value := input.facts.service[name]
	is_string(value)
	trim_space(value) != ""
}

# The required obligations whose tag is present but invalid (reference_invalid).
invalid := {name |
	some err in lib.fact_errors
	some name in due
	err.tag == concat(".", ["compliance.service", name])
}

# Missing, and not because the tag is there but invalid (reference_invalid says so).
missing := (due - on_record) - invalid

# METADATA
# title: User service agreement not on record
# description: >-
#   Art. 9: the provider signs a service agreement with the users who register
#   for the service, setting out both sides' rights and obligations.
# custom:
#   short_name: user_agreement_missing
#   failure_msg: The tag compliance.service.user_agreement (the user service agreement, Art. 9) is missing
#   solution: >-
#     Set compliance.service.user_agreement to the URI or document id of the
#     service agreement users accept when they register.
#   severity: high
violations contains {"code": "service.user_agreement_missing", "params": {}} if "user_agreement" in missing

# METADATA
# title: Intended users and minors' protection not on record
# description: >-
#   Art. 10: the provider discloses the intended users, occasions and uses of
#   the service and takes effective measures against minors' over-reliance on
#   or addiction to it.
# custom:
#   short_name: minors_missing
#   failure_msg: The tag compliance.service.minors (intended users and measures for minors, Art. 10) is missing
#   solution: >-
#     Set compliance.service.minors to the URI or document id of the published
#     intended users and uses and the measures against minors' over-reliance.
#   severity: high
violations contains {"code": "service.minors_missing", "params": {}} if "minors" in missing

# METADATA
# title: User data protection not on record
# description: >-
#   Art. 11: the provider protects users' inputs and usage logs, collects no
#   unnecessary personal information, and neither retains identifying inputs
#   and logs illegally nor provides them to others.
# custom:
#   short_name: user_data_missing
#   failure_msg: The tag compliance.service.user_data (protection of user inputs and usage logs, Art. 11) is missing
#   solution: >-
#     Set compliance.service.user_data to the URI or document id of the policy
#     protecting user inputs and usage logs (retention, profiling, sharing).
#   severity: high
violations contains {"code": "service.user_data_missing", "params": {}} if "user_data" in missing

# METADATA
# title: Illegal-content handling not on record
# description: >-
#   Art. 14: on finding illegal content the provider stops its generation and
#   transmission, removes it, rectifies the model by optimisation training and
#   reports to the authorities.
# custom:
#   short_name: content_handling_missing
#   failure_msg: The tag compliance.service.content_handling (illegal-content handling and model rectification, Art. 14) is missing
#   solution: >-
#     Set compliance.service.content_handling to the URI or document id of the
#     process that stops, removes, reports illegal content and rectifies the model.
#   severity: high
violations contains {"code": "service.content_handling_missing", "params": {}} if "content_handling" in missing

# METADATA
# title: Complaints channel not on record
# description: >-
#   Art. 15: the provider sets up a convenient complaints and reporting channel,
#   publishes the handling process and time limits, and handles complaints promptly.
# custom:
#   short_name: complaints_missing
#   failure_msg: The tag compliance.service.complaints (complaints and reporting channel, Art. 15) is missing
#   solution: >-
#     Set compliance.service.complaints to the URI or document id of the
#     complaints and reporting channel and its published handling times.
#   severity: high
violations contains {"code": "service.complaints_missing", "params": {}} if "complaints" in missing

# METADATA
# title: Service obligation tag invalid
# description: >-
#   A compliance.service.* tag of a required obligation is present but cannot
#   be believed (a look-alike key beside it, see contract section 7).
# custom:
#   short_name: reference_invalid
#   failure_msg: "The tag {tag} is '{value}'; expected {expected}"
#   solution: Keep only the exact compliance.service.* tag, holding the URI or document id of the evidence.
#   severity: high
violations contains {"code": "service.reference_invalid", "params": params} if {
	some name in due
	tag := concat(".", ["compliance.service", name])
	some err in lib.fact_errors
	err.tag == tag
	params := {"tag": tag, "value": err.value, "expected": err.expected}
}

# METADATA
# title: Gate input or policy data ill-formed
# description: >-
#   A fact this gate reads (facts.service, present even while the gate is
#   switched off), or its section of the policy data, is ill-typed or absent
#   (see policies/lib/wellformed.rego): not what mlgate builds. The gate cannot
#   decide on it, so it fails; no waiver covers this.
# custom:
#   short_name: input_invalid
#   failure_msg: "The gate cannot decide on ill-formed input: {fields}"
#   solution: >-
#     Evaluate with mlgate (check, promote), which builds the gate input from the
#     registry; a client of an OPA server must send the document mlgate would
#     (schemas/gate_input.schema.json), and the server must hold the complete
#     policy data (mlgate policy push).
#   severity: critical
violations contains {"code": "service.input_invalid", "params": {"fields": fields}} if {
	fields := data.mlgate.wellformed.malformed_text.service
}

# A gate that ships off costs nothing while off: a function's arguments are
# evaluated before its body, so lib.gate_result alone would compute every
# violation of a switched-off gate on each decision.
result := {"status": "not_applicable", "violations": []} if {
	not applies
} else := lib.gate_result(applies, violations)
