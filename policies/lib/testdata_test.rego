# Policy test fixtures: a valid, in-scope gate input and the default policy
# data, shared by the policy unit tests. Tests derive their cases from
# valid_input with the helpers below (object.union), so each case shows only
# what it changes. The gates decide on facts; raw tags only feed messages, so
# a case that patches facts need not patch the tags that would have produced
# them.
package mlgate.testdata

# The policy data the unit tests run on, spelled out: a unit test keeps its
# meaning when data.json or a default is tuned. These are fixtures, not the
# defaults (those live in gates/<gate>/data.schema.json and
# main/data.schema.json); the shipped data is pinned by shipped_data_test.rego
# and exercised by the conformance corpus (policies/scenarios).
config := {
	"protected_aliases": ["production", "public", "champion"],
	"protected_stages": ["production"],
	"default_target": "production",
	"scope": {"public_audiences": ["public"], "regions": ["CN"]},
	"filing": {"only_public_opinion": false},
	"assessment": {"only_public_opinion": false, "max_age_days": 365},
	"labeling": {"required": {
		"text": ["explicit", "implicit"],
		"image": ["explicit", "implicit"],
		"audio": ["explicit", "implicit"],
		"video": ["explicit", "implicit"],
		"code": ["explicit", "implicit"],
	},
	"require_producer_code": false},
	"attestation": {"trusted_keys": []},
	"evaluation": {"required": false, "allowed_experiments": [], "requirements": []},
	"service": {
		"required": false,
		"user_agreement": true,
		"minors": true,
		"user_data": true,
		"content_handling": true,
		"complaints": true,
	},
	"data_manifest": {
		"min_datasets": 1,
		"require_legitimate_source": true,
		"require_ip_cleared": true,
		"require_personal_info_consent": true,
		"require_quality_measures": true,
		"labeling_duties": ["rules_documented", "quality_assessment", "sampling_verification", "labeler_training"],
		"require_safety_sampling": false,
		"min_safety_sample_size": 4000,
		"max_violation_rate": 0.05,
	},
}

# The default policy data with some settings changed.
config_with(patch) := object.union(config, patch)

ns_per_day := 86400000000000

# 2026-11-29T00:00:00Z, the day of now_ns.
today_ns := 1795910400000000000

# 2026-11-29T12:00:00Z, the evaluation time of valid_input.
now_ns := 1795953600000000000

digest := "7a782cdc641478a1f82df7abcef1c22bb7e29c26d8ec6209d4f8f85880ac8fd8"

manifest_content := {
	"manifest_version": 1,
	"foundation_models": [{
		"name": "base-7b",
		"source": "https://vendor.example/base-7b",
		"license": "Apache-2.0",
		"legitimate_source": true,
	}],
	"datasets": [
		{
			"name": "zh-news-2024",
			"kind": "pretraining",
			"source_category": "licensed",
			"license": "commercial agreement #123",
			"legitimate_source": true,
			"ip_cleared": true,
			"contains_personal_info": true,
			"personal_info_consent": true,
			"records": 1200000,
		},
		{
			"name": "support-dialogues",
			"kind": "finetuning",
			"source_category": "user_consented",
			"license": "terms of service v4, section 7",
			"legitimate_source": true,
			"ip_cleared": true,
			"contains_personal_info": false,
			"records": 85000,
		},
	],
	"quality_measures": ["deduplication", "toxicity filtering"],
	"labeling": {
		"used": true,
		"rules_documented": true,
		"rules_uri": "https://wiki.example/labeling-rules",
		"quality_assessment": true,
		"sampling_verification": true,
		"labeler_training": true,
	},
}

# A public text model offered in CN and SG with every piece of evidence in
# order, promoted to the protected alias production: every gate passes.
valid_input := {
	"input_version": 1,
	"model": {"name": "public-chatbot", "version": "3"},
	"request": {"target": "production", "kind": "alias", "enforcement": "deny"},
	"facts": {
		"audience": "public",
		"regions": ["CN", "SG"],
		"public_opinion": null,
		"modalities": ["text"],
		"filing": {"status": "completed", "id": "Beijing-WXSuanFa-20240101-0001"},
		"assessment": {
			"status": "passed",
			"date": "2026-06-01",
			"date_ns": 1780272000000000000,
			"report": "s3://compliance/reports/chatbot-v3.pdf",
		},
		"labeling": {"explicit": true, "implicit": true, "producer_code": null},
		"service": {
			"user_agreement": null,
			"minors": null,
			"user_data": null,
			"content_handling": null,
			"complaints": null,
		},
		"attestation": {"sha256": null},
		"evaluation": {"run_id": null},
		"errors": [],
	},
	"tags": {
		"compliance.audience": "public",
		"compliance.regions": "CN,SG",
		"compliance.modalities": "text",
		"compliance.filing.status": "completed",
		"compliance.filing.id": "Beijing-WXSuanFa-20240101-0001",
		"compliance.assessment.status": "passed",
		"compliance.assessment.date": "2026-06-01",
		"compliance.assessment.report": "s3://compliance/reports/chatbot-v3.pdf",
		"compliance.labeling.explicit": "true",
		"compliance.labeling.implicit": "true",
		"compliance.data_manifest.sha256": digest,
	},
	"aliases": [],
	"manifest": {
		"attached": true,
		"content": manifest_content,
		"digest_tagged": digest,
		"digest_computed": digest,
		"parse_error": null,
		"schema_errors": [],
	},
	"now": "2026-11-29T12:00:00Z",
	"now_ns": now_ns,
	"waivers": [],
}

# valid_input with a (deep) patch applied.
patched(patch) := object.union(valid_input, patch)

with_facts(patch) := patched({"facts": patch})

with_manifest(patch) := patched({"manifest": patch})

# The manifest content with a patch applied (lists are replaced whole).
with_content(patch) := with_manifest({"content": object.union(manifest_content, patch)})

# The manifest content replaced outright: object.union merges nested objects, so
# with_content cannot take a field away.
with_content_exactly(content) := json.patch(valid_input, [{"op": "replace", "path": "/manifest/content", "value": content}])

with_waivers(waivers) := patched({"waivers": waivers})

waiver(id, codes) := {
	"id": id,
	"codes": codes,
	"expires": "2027-01-31",
	"justification": "test",
	"approver": "release-manager",
	"ticket": "COMP-1",
}

# doc with the tag absent; facts_patch sets the facts it fed to null.
without_tag(doc, tag, facts_patch) := object.union(
	object.remove(doc, ["tags"]),
	{"tags": object.remove(doc.tags, [tag]), "facts": facts_patch},
)

# doc with the tag holding a value that does not parse: Python records a fact
# error and leaves the facts it fed null (facts_patch).
with_bad_tag(doc, tag, value, facts_patch) := object.union(doc, {
	"tags": {tag: value},
	"facts": object.union(facts_patch, {"errors": array.concat(doc.facts.errors, [fact_error(tag, value)])}),
})

fact_error(tag, value) := {"tag": tag, "value": value, "expected": "a valid value"}

missing_tag(tag, facts_patch) := without_tag(valid_input, tag, facts_patch)

invalid_tag(tag, value, facts_patch) := with_bad_tag(valid_input, tag, value, facts_patch)

# Outside the scope of the Measures: a research model.
out_of_scope := with_facts({"audience": "research"})

# Scope cannot be decided: no audience on record.
undecidable := missing_tag("compliance.audience", {"audience": null})

# An assessment passed on the day n days before today_ns, evaluated at at_ns
# (Rego compares date_ns; date and now must say the same day and second, or
# the input is ill-formed).
assessed_days_ago(n, at_ns) := patched({
	"facts": {"assessment": {
		"date_ns": today_ns - (n * ns_per_day),
		"date": day_string(today_ns - (n * ns_per_day)),
	}},
	"now_ns": at_ns,
	"now": rfc3339_seconds(at_ns),
})

day_string(ns) := sprintf("%04d-%02d-%02d", time.date(ns))

rfc3339_seconds(ns) := sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", array.concat(time.date(ns), time.clock(ns)))
