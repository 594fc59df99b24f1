# METADATA
# title: Four eyes on promotions
# description: >-
#   Separation of duties (policy data promotion.four_eyes, off by default): a
#   promotion to a protected target is blocked when the user promoting wrote
#   any of the version's current compliance evidence, or when who wrote a
#   piece of it, or who is promoting, is unknown. Who wrote what comes from
#   the evidence ledger of the mlgate+ registry store (input.provenance, per
#   compliance tag) and who promotes from the user MLflow's authentication
#   verified (input.promoted_by); a plain registry keeps no ledger, so there
#   every writer is unknown. Not a gate: the decision reports it as
#   "promotion" after the gates, only while the switch is on.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 17 (filing and assessment evidence)
# custom:
#   short_name: promotion
#   failure_msg: The promotion needs a second pair of eyes
#   solution: >-
#     Have a user who wrote none of the version's compliance.* evidence promote
#     it, through an mlgate+ registry server with MLflow authentication, after
#     a listed evidence writer (evidence.writers) wrote the evidence there.
#   severity: high
package mlgate.promotion

import data.mlgate.lib

# Off unless the policy data switches it on; any value but false or absent
# switches it on (fail closed).
default four_eyes_on := false

four_eyes_on if object.get(lib.config, ["promotion", "four_eyes"], false) != false

applies if {
	four_eyes_on
	data.mlgate.main.enforcement == "deny"
}

# The evidence: every compliance.* tag the version holds.
evidence_keys := {key | some key, _ in input.tags; startswith(key, "compliance.")} if {
	is_object(input.tags)
} else := set()

provenance := input.provenance if is_object(input.provenance) else := {}

writer(key) := provenance[key].writer if {
	is_object(provenance[key])
	is_string(provenance[key].writer)
	trim_space(provenance[key].writer) != ""
}

promoter := input.promoted_by if {
	is_string(input.promoted_by)
	trim_space(input.promoted_by) != ""
}

unknown_keys := sort([key | some key in evidence_keys; not writer(key)])

own_keys := sort([key | some key in evidence_keys; writer(key) == promoter])

# METADATA
# title: Promoter wrote the evidence
# description: >-
#   The user promoting wrote some of the version's current compliance
#   evidence: nobody else looked at it.
# custom:
#   short_name: four_eyes
#   failure_msg: "User '{user}' wrote the evidence it promotes ({keys}); another user must promote it (four eyes)"
#   solution: >-
#     Have a user who wrote none of the version's compliance.* evidence promote it.
#   severity: high
violations contains {"code": "promotion.four_eyes", "params": {"user": promoter, "keys": own_keys}} if {
	applies
	count(own_keys) > 0
}

# METADATA
# title: Evidence writer or promoter unknown
# description: >-
#   Four eyes cannot be checked: who wrote a piece of the evidence is not in
#   the evidence ledger (a plain registry keeps none; a tag written before the
#   ledger, outside the mlgate+ store, or without a verified user), or the
#   user promoting is not verified.
# custom:
#   short_name: provenance_unknown
#   failure_msg: "Four eyes cannot be checked: the writer of {keys} is unknown, and the promoter is {promoter} (a plain registry keeps no evidence ledger)"
#   solution: >-
#     Promote through an mlgate+ registry server with MLflow authentication, after
#     a listed evidence writer (re)wrote each compliance.* tag there.
#   severity: high
violations contains {"code": "promotion.provenance_unknown", "params": {
	"keys": shown(unknown_keys),
	"promoter": promoter_shown,
}} if {
	applies
	some _ in unknown_missing
}

unknown_missing contains "evidence" if count(unknown_keys) > 0

unknown_missing contains "promoter" if not promoter

shown(keys) := "no tag" if count(keys) == 0 else := concat(", ", keys)

promoter_shown := sprintf("'%s'", [promoter]) if promoter else := "unknown"

default status := "not_applicable"

status := "fail" if {
	applies
	count(violations) > 0
} else := "pass" if applies

result := {"status": status, "violations": [v | some v in violations]}
