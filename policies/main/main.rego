# METADATA
# title: mlgate decision
# description: >-
#   Combines the gates of the Interim Measures for Generative AI Services
#   (required_gates) into one decision. allowed is true only when every
#   required gate is explicitly pass, waived or not_applicable; a gate that is
#   missing or undefined blocks.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for the Management of Generative AI Services
package mlgate.main

import data.mlgate.lib

# The gates of the decision, in the order it reports them: the one place a gate
# is wired. Python reads this literal (mlgate.policy.PolicySet.gate_ids) and
# `mlgate policy check` refuses a gate package missing from it, an id here
# without its package, a duplicate, or an id that is not [a-z][a-z0-9_]*.
required_gates := ["scope", "filing", "assessment", "labeling", "data_manifest", "evaluation", "service", "attestation"]

passing_statuses := {"pass", "waived", "not_applicable"}

# A gate whose result is undefined is simply absent here, and an absent gate
# blocks (see all_gates_pass) and is reported by Python. The gate tree is read
# once: regorus evaluates every gate package for a reference with a variable in
# it, and indexing data.mlgate.gates[id] per gate costs ~10% of a decision
# (benchmarks/bench_policy.py); this form costs ~3% over one line per gate.
#
# The result is bound in the body, not in the head: in regorus an undefined
# value in the head of one iteration empties the whole object.
gate_results[id] := result if {
	all_gates := data.mlgate.gates
	some id in required_gates
	result := all_gates[id].result
}

# A protected target is enforced whatever the input claims; anything else is
# enforced unless the input explicitly asks for warn.
default enforcement := "deny"

enforcement := "warn" if {
	input.request.enforcement == "warn"
	input.request.kind in {"alias", "stage"}
	is_string(input.request.target)
	data.mlgate.wellformed.protected_lists_wellformed
	not protected_target
}

protected_target if {
	input.request.kind == "alias"
	is_string(input.request.target)
	data.mlgate.wellformed.protected_lists_wellformed
	lower(input.request.target) in {lower(a) | some a in lib.config.protected_aliases; is_string(a)}
}

protected_target if {
	input.request.kind == "stage"
	is_string(input.request.target)
	data.mlgate.wellformed.protected_lists_wellformed
	lower(input.request.target) in {lower(s) | some s in lib.config.protected_stages; is_string(s)}
}

# The waivers the input lists; anything but a list lists none.
listed_waivers := input.waivers if is_array(input.waivers) else := []

# A waiver applies through its last day (expires, YYYY-MM-DD, UTC) and never
# once now has passed it, whoever listed it in the input.
waiver_active(w) if {
	is_array(w.codes)
	is_string(w.expires)
	regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, w.expires)
	w.expires >= data.mlgate.wellformed.today
}

code_matches(pattern, code) if pattern == code

code_matches(pattern, code) if {
	endswith(pattern, ".*")
	startswith(code, trim_suffix(pattern, "*"))
}

# Scope undecidability is never waivable: it means the gate cannot tell; nor is
# ill-formed input, for the same reason.
waived_by(gate_id, code) := ids[0] if {
	gate_id != "scope"
	not endswith(code, ".input_invalid")
	ids := sort({w.id |
		some w in listed_waivers
		waiver_active(w)
		some pattern in w.codes
		code_matches(pattern, code)
	})
	count(ids) > 0
}

annotated(gate_id, v) := object.union(v, {"waived_by": waived_by(gate_id, v.code)}) if {
	waived_by(gate_id, v.code)
} else := v

final_status(status, violations) := "waived" if {
	status == "fail"
	count(violations) > 0
	every v in violations {
		v.waived_by
	}
} else := status

# Without waivers the gates' own results are the decision's; otherwise every
# violation is annotated with the waiver covering it.
gate_verdicts := gate_results if {
	count(listed_waivers) == 0
} else := {id: gate |
	some id, raw in gate_results
	violations := [annotated(id, v) | some v in raw.violations]
	gate := {"status": final_status(raw.status, violations), "violations": violations}
}

# Four eyes (promotion.rego) joins the decision after the gates while policy
# data switches it on; it is no gate, and no waiver covers it.
gates := object.union(gate_verdicts, {"promotion": data.mlgate.promotion.result}) if {
	data.mlgate.promotion.four_eyes_on
} else := gate_verdicts

all_gates_pass if {
	every id in required_gates {
		gates[id].status in passing_statuses
	}
	not four_eyes_blocks
}

four_eyes_blocks if {
	gates.promotion
	not gates.promotion.status in passing_statuses
}

default allowed := false

allowed if all_gates_pass

# warn reports failures without blocking, but never covers a missing gate.
allowed if {
	enforcement == "warn"
	every id in required_gates {
		gates[id]
	}
}

waivers_applied := sort({v.waived_by |
	some gate in gates
	some v in gate.violations
	v.waived_by
})

decision := {
	"allowed": allowed,
	"in_scope": lib.in_scope_value,
	"enforcement": enforcement,
	"gates": gates,
	"waivers_applied": waivers_applied,
}
