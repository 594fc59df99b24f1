# METADATA
# title: mlgate input and policy-data checks
# description: >-
#   Which facts of the gate input and which settings of the policy data are
#   ill-typed, empty or contradictory, per gate. mlgate's Python never builds
#   such a document, but a client of an OPA server holding these policies can,
#   and so can stale or partial policy data: every gate that reads a
#   malformed field fails with <gate>.input_invalid instead of trusting it
#   (an absent key or a "yes" for true must never read as "not required").
package mlgate.wellformed

facts := input.facts

config := data.mlgate.config

ns_per_day := 86400000000000

audiences := {"public", "enterprise", "internal", "research"}

modalities_known := {"text", "image", "audio", "video", "code"}

# The comma-separated malformed fields a gate reads; undefined when there is
# none. Gates read `wellformed.malformed_text.<gate>` (a rule, computed once per
# decision; a function would be re-evaluated at every call).
malformed_fields(gate) := malformed_text[gate]

# Per gate, its malformed fields. The field-by-field rules below cost as much
# as the gates themselves, so a document of the usual shape is first checked
# by one rule (wellformed_at_a_glance); only one that fails it is examined
# field by field. The glance is stricter than the detail, never looser.
malformed_text := {} if {
	wellformed_at_a_glance
} else := {gate: concat(", ", sort(fields)) |
	some [gate, _] in malformed
	fields := {field | some [g, field] in malformed; g == gate}
}

# One flat body, the helpers below inlined: in regorus a rule or function call
# costs more than most checks (benchmarks/bench_policy.py).
wellformed_at_a_glance if {
	f := input.facts
	f.audience in {null, "public", "enterprise", "internal", "research"}
	is_array(f.regions)
	count(f.regions) > 0
	count([r | some r in f.regions; is_string(r); count(r) == 2; trim(r, upper_letters) == ""]) == count(f.regions)
	f.public_opinion in {null, true, false}
	f.filing.status in {null, "completed", "pending", "none"}
	is_string(f.filing.id)
	f.assessment.status in {null, "passed", "failed", "pending", "none"}
	is_string(f.assessment.report)
	date_ns := f.assessment.date_ns
	is_number(date_ns)
	date_ns == floor(date_ns)
	date_ns > -9000000000000000000
	date_ns < 9000000000000000000
	date_ns % ns_per_day == 0
	f.assessment.date == sprintf("%04d-%02d-%02d", time.date(date_ns))
	is_array(f.modalities)
	count(f.modalities) > 0
	count({m | some m in f.modalities} - modalities_known) == 0
	f.labeling.explicit in {null, true, false}
	f.labeling.implicit in {null, true, false}
	type_name(f.labeling.producer_code) in {"null", "string"}
	count([n | some n in service_obligations; type_name(f.service[n]) in {"null", "string"}]) == 5
	nullable_digest(f.attestation.sha256)
	type_name(f.evaluation.run_id) in {"null", "string"}
	evaluation_evidence_ok
	f.errors == []
	now_ns := input.now_ns
	is_number(now_ns)
	now_ns == floor(now_ns)
	now_ns > -9000000000000000000
	now_ns < 9000000000000000000
	input.now == sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", array.concat(time.date(now_ns), time.clock(now_ns)))
	m := input.manifest
	m.attached == true
	m.parse_error == null
	m.schema_errors == []
	is_string(m.digest_tagged)
	count(m.digest_tagged) == 64
	trim(m.digest_tagged, lower_hex) == ""
	is_string(m.digest_computed)
	count(m.digest_computed) == 64
	trim(m.digest_computed, lower_hex) == ""
	m.content.manifest_version == 1
	is_array(m.content.datasets)
	is_array(object.get(m.content, "foundation_models", []))
	c := data.mlgate.config
	is_array(c.scope.public_audiences)
	count([x | some x in c.scope.public_audiences; is_string(x)]) == count(c.scope.public_audiences)
	is_array(c.scope.regions)
	count([x | some x in c.scope.regions; is_string(x)]) == count(c.scope.regions)
	is_boolean(c.filing.only_public_opinion)
	is_boolean(c.assessment.only_public_opinion)
	is_number(c.assessment.max_age_days)
	c.assessment.max_age_days == floor(c.assessment.max_age_days)
	c.assessment.max_age_days >= 1
	is_boolean(c.labeling.require_producer_code)
	count([k | some k in service_switches; is_boolean(c.service[k])]) == 6
	trusted_keys_wellformed(c.attestation.trusted_keys)
	is_boolean(c.evaluation.required)
	strings(c.evaluation.allowed_experiments)
	is_array(c.evaluation.requirements)
	required := c.labeling.required
	is_object(required)
	count([x |
		some x in f.modalities
		labels := object.get(required, x, [])
		is_array(labels)
		count({label | some label in labels} - {"explicit", "implicit"}) == 0
	]) == count(f.modalities)
	d := c.data_manifest
	is_number(d.min_datasets)
	d.min_datasets == floor(d.min_datasets)
	d.min_datasets >= 0
	is_boolean(d.require_legitimate_source)
	is_boolean(d.require_ip_cleared)
	is_boolean(d.require_personal_info_consent)
	is_boolean(d.require_quality_measures)
	is_array(d.labeling_duties)
	count([x | some x in d.labeling_duties; is_string(x)]) == count(d.labeling_duties)
	is_boolean(d.require_safety_sampling)
	is_number(d.min_safety_sample_size)
	d.min_safety_sample_size == floor(d.min_safety_sample_size)
	d.min_safety_sample_size >= 0
	is_number(d.max_violation_rate)
	d.max_violation_rate >= 0
	d.max_violation_rate <= 1
}

upper_letters := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# The service gate's facts (one reference per obligation) and settings.
service_obligations := ["user_agreement", "minors", "user_data", "content_handling", "complaints"]

service_switches := array.concat(["required"], service_obligations)

lower_hex := "0123456789abcdef"

# ------------------------------------------------------------------- shapes

integral(x) if {
	is_number(x)
	x == floor(x)
}

# Nanoseconds that time.date can take (years 1684 to 2255): outside, an
# engine errors or gives up, and Python never writes such a value.
epoch_ns(x) if {
	integral(x)
	x > -9000000000000000000
	x < 9000000000000000000
}

nullable_string(x) if x == null

nullable_string(x) if is_string(x)

nullable_boolean(x) if x == null

nullable_boolean(x) if is_boolean(x)

# Comprehensions and set operations rather than `every`: these checks run on
# every decision, and `every` costs several times more per element in regorus.
strings(xs) if {
	is_array(xs)
	count([x | some x in xs; is_string(x)]) == count(xs)
}

# trim rather than regex.match: cheaper, and these run on every decision.
sha256_hex(x) if {
	is_string(x)
	count(x) == 64
	trim(x, lower_hex) == ""
}

region_code(x) if {
	is_string(x)
	count(x) == 2
	trim(x, upper_letters) == ""
}

nullable_digest(x) if x == null

nullable_digest(x) if sha256_hex(x)

day_string(ns) := sprintf("%04d-%02d-%02d", time.date(ns))

rfc3339_seconds(ns) := sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", array.concat(time.date(ns), time.clock(ns)))

# ------------------------------------------------------------------- time

# now and now_ns say the same instant (now to the second): a "now" that is not
# the RFC 3339 form of now_ns is a forged or corrupt document.
now_wellformed if {
	epoch_ns(input.now_ns)
	input.now == rfc3339_seconds(input.now_ns)
}

# The UTC day of now_ns, YYYY-MM-DD; undefined when the time is malformed, so
# nothing compared with it (waiver expiry) can hold.
today := day_string(input.now_ns) if now_wellformed

# ------------------------------------------------------------------- facts

# Fields every gate reads: the evaluation time and the list of unparsable tags.
shared_malformed contains "now" if not now_wellformed

shared_malformed contains "facts.errors" if not fact_errors_wellformed

fact_errors_wellformed if {
	is_array(facts.errors)
	not fact_error_malformed
}

# OPA does not evaluate `not f(x.absent)` as "f does not hold": a call whose
# argument is undefined makes the whole `not` expression undefined, so the rule
# would never fire there (regorus fires it). Every negated check below is on a
# rule or on a function of a defined value, whose body reads the field.
fact_error_malformed if {
	some fact_error in facts.errors
	not fact_error_wellformed(fact_error)
}

fact_error_wellformed(fact_error) if {
	is_string(fact_error.tag)
	is_string(fact_error.value)
	is_string(fact_error.expected)
}

malformed contains [gate, field] if {
	some gate in data.mlgate.main.required_gates
	some field in shared_malformed
}

malformed contains ["scope", "facts.audience"] if not audience_wellformed

audience_wellformed if facts.audience == null

audience_wellformed if facts.audience in audiences

# Python writes upper-case ISO 3166-1 alpha-2 codes, at least one: "cn",
# " CN", "CHN", "CN,SG" or [] are not a decision that CN is absent.
malformed contains ["scope", "facts.regions"] if not regions_wellformed

regions_wellformed if facts.regions == null

regions_wellformed if {
	is_array(facts.regions)
	count(facts.regions) > 0
	every region in facts.regions {
		region_code(region)
	}
}

malformed contains [gate, "facts.public_opinion"] if {
	not public_opinion_wellformed
	some gate in {"filing", "assessment"}
}

public_opinion_wellformed if nullable_boolean(facts.public_opinion)

malformed contains ["filing", "facts.filing.status"] if not filing_status_wellformed

filing_status_wellformed if facts.filing.status in {null, "completed", "pending", "none"}

malformed contains ["filing", "facts.filing.id"] if not filing_id_wellformed

filing_id_wellformed if nullable_string(facts.filing.id)

malformed contains ["assessment", "facts.assessment.status"] if not assessment_status_wellformed

assessment_status_wellformed if {
	facts.assessment.status in {null, "passed", "failed", "pending", "none"}
}

malformed contains ["assessment", "facts.assessment.report"] if not assessment_report_wellformed

assessment_report_wellformed if nullable_string(facts.assessment.report)

# date and date_ns are both null, or the same day: date_ns is 00:00 UTC of it.
malformed contains ["assessment", "facts.assessment.date"] if not assessment_date_wellformed

assessment_date_wellformed if {
	facts.assessment.date == null
	facts.assessment.date_ns == null
}

assessment_date_wellformed if {
	epoch_ns(facts.assessment.date_ns)
	facts.assessment.date_ns % ns_per_day == 0
	facts.assessment.date == day_string(facts.assessment.date_ns)
}

malformed contains ["labeling", "facts.modalities"] if not modalities_wellformed

modalities_wellformed if facts.modalities == null

modalities_wellformed if {
	is_array(facts.modalities)
	count(facts.modalities) > 0
	every m in facts.modalities {
		m in modalities_known
	}
}

malformed contains ["labeling", field] if {
	some label in ["explicit", "implicit"]
	not label_wellformed(label)
	field := concat(".", ["facts.labeling", label])
}

label_wellformed(label) if nullable_boolean(facts.labeling[label])

# The provider code is text or null, whether or not the policy data requires it:
# an absent key is a document mlgate never writes.
malformed contains ["labeling", "facts.labeling.producer_code"] if not producer_code_wellformed

producer_code_wellformed if nullable_string(facts.labeling.producer_code)

# Each obligation's reference is text or null, present even while the gate is
# switched off: a document without them is not one mlgate wrote (fail closed).
malformed contains ["service", concat(".", ["facts.service", name])] if {
	some name in service_obligations
	not service_fact_wellformed(name)
}

service_fact_wellformed(name) if nullable_string(facts.service[name])

# The evaluation run's id, present even while the gate is off.
malformed contains ["evaluation", "facts.evaluation.run_id"] if not evaluation_run_id_wellformed

evaluation_run_id_wellformed if nullable_string(facts.evaluation.run_id)

# The attestation's digest tag, present even while the gate is off.
malformed contains ["attestation", "facts.attestation.sha256"] if not attestation_digest_wellformed

attestation_digest_wellformed if nullable_digest(facts.attestation.sha256)

# ------------------------------------------------------------------- manifest

malformed contains ["data_manifest", concat(".", ["manifest", field])] if {
	some field in manifest_malformed
}

manifest_malformed contains field if {
	some field in ["attached", "parse_error", "schema_errors", "digest_tagged", "digest_computed"]
	not manifest_field_wellformed(field)
}

manifest_field_wellformed("attached") if is_boolean(input.manifest.attached)

manifest_field_wellformed("parse_error") if nullable_string(input.manifest.parse_error)

manifest_field_wellformed("schema_errors") if strings(input.manifest.schema_errors)

manifest_field_wellformed("digest_tagged") if nullable_digest(input.manifest.digest_tagged)

manifest_field_wellformed("digest_computed") if nullable_digest(input.manifest.digest_computed)

# An attached artifact has bytes, so a digest of them.
manifest_malformed contains "digest_computed" if {
	input.manifest.attached == true
	input.manifest.digest_computed == null
}

# An attached artifact either did not parse (parse_error) or has content.
manifest_malformed contains "content" if {
	input.manifest.attached == true
	input.manifest.parse_error == null
	not manifest_has_content
}

manifest_has_content if is_object(input.manifest.content)

# Content reported schema-valid must have the schema's shape where a duty
# could read a wrong type as "nothing to check" (a string of datasets counts
# its characters): anything else contradicts schema_errors == []. Absent duty
# fields need no entry here: every duty fails on them by itself.
manifest_malformed contains "content" if {
	input.manifest.attached == true
	input.manifest.parse_error == null
	input.manifest.schema_errors == []
	not manifest_content_shaped(input.manifest.content)
}

# (A dataset that is not an object has no legitimate_source == true: the
# duties fail on it by themselves.)
manifest_content_shaped(content) if {
	content.manifest_version == 1
	is_array(content.datasets)
	is_array(object.get(content, "foundation_models", []))
}

# ------------------------------------------------------------------- policy data

# Python validates data.json and hands the engines the complete configuration;
# an OPA server can still hold partial or foreign data. A gate whose settings
# are absent or ill-typed fails rather than reading "absent" as "not required".
malformed contains ["scope", "data.mlgate.config.scope"] if not scope_config_wellformed

scope_config_wellformed if {
	strings(config.scope.public_audiences)
	strings(config.scope.regions)
}

malformed contains [gate, concat(".", ["data.mlgate.config", gate])] if {
	some gate in {"filing", "assessment"}
	not public_opinion_switch_wellformed(gate)
}

public_opinion_switch_wellformed(gate) if is_boolean(config[gate].only_public_opinion)

malformed contains ["assessment", "data.mlgate.config.assessment"] if {
	not assessment_max_age_wellformed
}

assessment_max_age_wellformed if {
	integral(config.assessment.max_age_days)
	config.assessment.max_age_days >= 1
}

malformed contains ["labeling", "data.mlgate.config.labeling"] if not labeling_config_wellformed

# The label lists the labeling gate reads (those of the declared modalities, or
# of every configured one when none is declared) are lists of known labels: a
# "Explicit" would make explicit labels unneeded. An unknown modality key is
# never read as anything but "both labels" (fail closed), so it may stay.
labeling_config_wellformed if {
	is_boolean(config.labeling.require_producer_code)
	required := config.labeling.required
	is_object(required)
	read := labeling_modalities_read(required)
	count([m | some m in read; known_labels(object.get(required, m, []))]) == count(read)
}

labeling_modalities_read(required) := facts.modalities if {
	is_array(facts.modalities)
} else := object.keys(required)

known_labels(labels) if {
	is_array(labels)
	count({label | some label in labels} - {"explicit", "implicit"}) == 0
}

malformed contains ["data_manifest", "data.mlgate.config.data_manifest"] if {
	not data_manifest_config_wellformed
}

data_manifest_config_wellformed if {
	settings := config.data_manifest
	integral(settings.min_datasets)
	settings.min_datasets >= 0
	is_boolean(settings.require_legitimate_source)
	is_boolean(settings.require_ip_cleared)
	is_boolean(settings.require_personal_info_consent)
	is_boolean(settings.require_quality_measures)
	strings(settings.labeling_duties)
	is_boolean(settings.require_safety_sampling)
	integral(settings.min_safety_sample_size)
	settings.min_safety_sample_size >= 0
	is_number(settings.max_violation_rate)
	settings.max_violation_rate >= 0
	settings.max_violation_rate <= 1
}

malformed contains ["service", "data.mlgate.config.service"] if not service_config_wellformed

service_config_wellformed if {
	count([k | some k in service_switches; is_boolean(config.service[k])]) == count(service_switches)
}

# What Python read of the evaluation run (input.evaluation, present only when
# the tag names a run): typed as mlgate writes it, and a run found has a status,
# an experiment and no error. A list of invalid metrics that is not a list
# must not read as "none invalid".
malformed contains ["evaluation", "evaluation"] if not evaluation_evidence_ok

evaluation_evidence_ok if not "evaluation" in object.keys(input)

evaluation_evidence_ok if {
	ev := input.evaluation
	is_string(ev.run_id)
	type_name(ev.status) in {"null", "string"}
	type_name(ev.experiment_id) in {"null", "string"}
	is_object(ev.metrics)
	count([v | some v in ev.metrics; is_number(v)]) == count(ev.metrics)
	strings(ev.invalid_metrics)
	type_name(ev.error) in {"null", "string"}
	evaluation_run_consistent(ev)
}

evaluation_run_consistent(ev) if ev.found == false

evaluation_run_consistent(ev) if {
	ev.found == true
	ev.error == null
	is_string(ev.status)
	is_string(ev.experiment_id)
}

# The evaluation switch is a boolean and the experiments a list of ids; the
# requirement rows are checked row by row by the gate (requirements_invalid).
malformed contains ["evaluation", "data.mlgate.config.evaluation"] if not evaluation_config_wellformed

evaluation_config_wellformed if {
	is_boolean(config.evaluation.required)
	strings(config.evaluation.allowed_experiments)
	is_array(config.evaluation.requirements)
}

# The trusted keys: a list of {name, public_key_pem} texts. Anything else (a
# string, a key without its PEM) is neither "no key" nor a key.
malformed contains ["attestation", "data.mlgate.config.attestation"] if not attestation_config_wellformed

attestation_config_wellformed if trusted_keys_wellformed(config.attestation.trusted_keys)

trusted_keys_wellformed(keys) if {
	is_array(keys)
	count([k | some k in keys; is_string(k.name); is_string(k.public_key_pem)]) == count(keys)
}

# The protected targets: without them every target would read as unprotected.
protected_lists_wellformed if {
	is_array(config.protected_aliases)
	is_array(config.protected_stages)
}
