# METADATA
# title: Scope decided (public service in mainland China?)
# description: >-
#   Decides whether the Interim Measures apply: a generative AI service offered
#   to the public within mainland China. Out of scope, the other gates are not
#   applicable. Missing or unreadable audience or regions block, because the
#   gate cannot tell.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 2
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 20
# custom:
#   short_name: scope
#   failure_msg: Scope cannot be decided from the version's audience and regions
#   solution: >-
#     Set compliance.audience (public, enterprise, internal or research) and
#     compliance.regions (comma-separated ISO 3166-1 alpha-2 codes, e.g. CN,SG)
#     on the model version.
#   severity: critical
package mlgate.gates.scope

import data.mlgate.lib

# METADATA
# title: Audience missing
# description: The compliance.audience tag is absent.
# custom:
#   short_name: audience_missing
#   failure_msg: The tag compliance.audience is missing, so scope cannot be decided
#   solution: Set compliance.audience to public, enterprise, internal or research.
#   severity: critical
violations contains {"code": "scope.audience_missing", "params": {}} if {
	lib.tag_missing("compliance.audience", input.facts.audience)
}

# METADATA
# title: Audience invalid
# description: The compliance.audience tag holds a value that is not allowed.
# custom:
#   short_name: audience_invalid
#   failure_msg: "The tag compliance.audience is '{value}'; expected {expected}"
#   solution: Set compliance.audience to public, enterprise, internal or research. Keep only that exact key and remove any look-alike spelling of it (another case or accent).
#   severity: critical
violations contains {"code": "scope.audience_invalid", "params": params} if {
	some params in lib.invalid_tag_values("compliance.audience")
}

# METADATA
# title: Regions missing
# description: The compliance.regions tag is absent or empty.
# custom:
#   short_name: regions_missing
#   failure_msg: The tag compliance.regions is missing, so scope cannot be decided
#   solution: Set compliance.regions to the comma-separated ISO 3166-1 alpha-2 codes where the service is offered, e.g. CN,SG.
#   severity: critical
violations contains {"code": "scope.regions_missing", "params": {}} if {
	lib.tag_missing("compliance.regions", input.facts.regions)
}

# METADATA
# title: Regions invalid
# description: The compliance.regions tag holds something that is not a list of ISO 3166-1 alpha-2 codes.
# custom:
#   short_name: regions_invalid
#   failure_msg: "The tag compliance.regions is '{value}'; expected {expected}"
#   solution: Set compliance.regions to comma-separated two-letter country codes, e.g. CN,SG. Keep only that exact key and remove any look-alike spelling of it (another case or accent).
#   severity: critical
violations contains {"code": "scope.regions_invalid", "params": params} if {
	some params in lib.invalid_tag_values("compliance.regions")
}

# The scope gate always applies: it is what decides whether the others do.
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
violations contains {"code": "scope.input_invalid", "params": {"fields": fields}} if {
	fields := data.mlgate.wellformed.malformed_text.scope
}

result := lib.gate_result(true, violations)
