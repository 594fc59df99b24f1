# METADATA
# title: Algorithm filing completed
# description: >-
#   Services with public-opinion attributes or social-mobilisation capacity
#   must complete algorithm record-filing before launch, and the filing number
#   must be on record. By default every in-scope service is treated as such.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 17
# custom:
#   short_name: filing
#   failure_msg: The algorithm record-filing is not completed or not on record
#   solution: >-
#     Complete the algorithm record-filing, then set
#     compliance.filing.status=completed and compliance.filing.id to the filing
#     number on the model version.
#   severity: critical
package mlgate.gates.filing

import data.mlgate.lib

default applies := false

applies if {
	lib.gates_apply
	lib.public_opinion_requires(lib.config.filing.only_public_opinion)
}

# Ill-formed input or settings: the gate applies, whatever scope says, and fails.
applies if data.mlgate.wellformed.malformed_text.filing

# METADATA
# title: Filing status missing
# description: The compliance.filing.status tag is absent.
# custom:
#   short_name: status_missing
#   failure_msg: The tag compliance.filing.status is missing
#   solution: Set compliance.filing.status to completed once the algorithm record-filing is done.
#   severity: critical
violations contains {"code": "filing.status_missing", "params": {}} if {
	lib.tag_missing("compliance.filing.status", input.facts.filing.status)
}

# METADATA
# title: Filing status invalid
# description: The compliance.filing.status tag holds a value that is not allowed.
# custom:
#   short_name: status_invalid
#   failure_msg: "The tag compliance.filing.status is '{value}'; expected {expected}"
#   solution: Set compliance.filing.status to completed, pending or none. Keep only that exact key and remove any look-alike spelling of it (another case or accent).
#   severity: critical
violations contains {"code": "filing.status_invalid", "params": params} if {
	some params in lib.invalid_tag_values("compliance.filing.status")
}

# METADATA
# title: Filing not completed
# description: The algorithm record-filing is pending or was never made.
# custom:
#   short_name: not_completed
#   failure_msg: "The algorithm record-filing is '{status}', not completed"
#   solution: Complete the algorithm record-filing with the CAC before launch, then set compliance.filing.status=completed.
#   severity: critical
violations contains {"code": "filing.not_completed", "params": {"status": status}} if {
	status := input.facts.filing.status
	status != null
	status != "completed"
}

# METADATA
# title: Filing number missing
# description: >-
#   No filing number is on record, whatever the status says: reported beside
#   any status violation, so one decision lists everything to fix.
# custom:
#   short_name: id_missing
#   failure_msg: The tag compliance.filing.id (the algorithm filing number) is missing or empty
#   solution: Set compliance.filing.id to the algorithm filing number.
#   severity: high
violations contains {"code": "filing.id_missing", "params": {}} if {
	not filing_id_present
}

# METADATA
# title: Public-opinion flag invalid
# description: The compliance.public_opinion tag is present but neither true nor false.
# custom:
#   short_name: public_opinion_invalid
#   failure_msg: "The tag compliance.public_opinion is '{value}'; expected {expected}"
#   solution: Set compliance.public_opinion to true or false. Keep only that exact key and remove any look-alike spelling of it (another case or accent).
#   severity: high
violations contains {"code": "filing.public_opinion_invalid", "params": params} if {
	some params in lib.invalid_tag_values("compliance.public_opinion")
}

filing_id_present if {
	is_string(input.facts.filing.id)
	trim_space(input.facts.filing.id) != ""
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
violations contains {"code": "filing.input_invalid", "params": {"fields": fields}} if {
	fields := data.mlgate.wellformed.malformed_text.filing
}

result := lib.gate_result(applies, violations)
