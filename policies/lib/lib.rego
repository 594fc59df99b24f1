# METADATA
# title: mlgate shared helpers
# description: >-
#   Scope decision and helpers shared by every gate. Facts arrive typed and
#   normalised from Python (null when absent or invalid); Rego never parses
#   tags or time strings.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 2
package mlgate.lib

config := data.mlgate.config

facts := input.facts

# A violation as every gate reports it: a stable code and the values its
# failure_msg (in the rule's METADATA) is formatted with.
violation(code, params) := {"code": code, "params": params}

# The unparsable tags the input lists; anything but a list lists none (and is
# input_invalid, policies/lib/wellformed.rego), never an evaluation error.
fact_errors := facts.errors if is_array(facts.errors) else := []

# Tags present on the version whose value did not parse. A rule, not a
# function, so it is computed once per evaluation.
invalid_tags := {err.tag | some err in fact_errors}

# True when the tag is present on the version but its value did not parse.
tag_invalid(tag) if tag in invalid_tags

# The values of the tag that did not parse, each with what was expected of it
# (empty when it parsed or is absent): a gate's <tag>_invalid rule reports each,
# `some params in lib.invalid_tag_values(tag)`. `expected` is Python's: the tag's
# declared form, or "only the tag ...; remove the look-alike tag ..." when a key
# that folds to it is on the version too (contract section 7).
invalid_tag_values(tag) := {{"value": err.value, "expected": err.expected} |
	some err in fact_errors
	err.tag == tag
}

# True when the fact read from the tag is null because the tag is absent, not
# because its value did not parse (that is <tag>_invalid): a gate's <tag>_missing.
tag_missing(tag, fact) if {
	fact == null
	not tag_invalid(tag)
}

# Decidable only on well-formed facts and settings (wellformed.rego): an
# ill-typed audience or region list never decides "out of scope".
scope_decidable if {
	facts.audience != null
	facts.regions != null
	not data.mlgate.wellformed.malformed_text.scope
}

in_scope if {
	scope_decidable
	facts.audience in config.scope.public_audiences
	some region in facts.regions
	region in config.scope.regions
}

# in_scope as the decision reports it: true, false, or null when undecidable.
in_scope_value := true if {
	in_scope
} else := false if {
	scope_decidable
} else := null

# The gates beyond scope apply when in scope, and also when scope cannot be
# decided: missing scope facts never let a version skip a gate.
gates_apply if not scope_decidable

gates_apply if in_scope

# Required for a gate with an only_public_opinion switch: always when the
# switch is off; otherwise unless the version is explicitly not public-opinion.
public_opinion_requires(switch) if not switch

public_opinion_requires(switch) if {
	switch
	facts.public_opinion != false
}

# The result every gate package exports. A gate that does not apply reports
# no violations; a gate with violations fails; otherwise it passes.
gate_result(applies, violations) := {"status": "not_applicable", "violations": []} if {
	not applies
} else := {"status": "fail", "violations": [v | some v in violations]} if {
	count(violations) > 0
} else := {"status": "pass", "violations": []}
