# METADATA
# title: Training-data manifest attached and sound
# description: >-
#   Training data and foundation models must come from legitimate sources,
#   infringe no intellectual property, have consent where personal information
#   is involved, be subject to quality measures, and labelled data must follow
#   documented rules with quality assessment, sampling verification and
#   trained labelers. The provider must be able to explain all of it: the
#   manifest attached to the version is that explanation.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 7
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 8
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 19
# custom:
#   short_name: data_manifest
#   failure_msg: The training-data manifest is missing, corrupt or shows unmet duties
#   solution: >-
#     Write compliance/data_manifest.json (see schemas/data_manifest.schema.json)
#     and attach it with `mlgate manifest attach MODEL VERSION FILE`.
#   severity: critical
package mlgate.gates.data_manifest

import data.mlgate.lib

default applies := false

applies if lib.gates_apply

# Ill-formed input or settings: the gate applies, whatever scope says, and fails.
applies if data.mlgate.wellformed.malformed_text.data_manifest

manifest := input.manifest

settings := lib.config.data_manifest

# Content duties are checked only on a manifest that parsed and is schema-valid,
# with well-formed evidence and settings; anything else already fails with its
# own code (input_invalid for the latter).
content := manifest.content if {
	manifest.attached == true
	manifest.parse_error == null
	manifest.schema_errors == []
	is_object(manifest.content)
	not data.mlgate.wellformed.malformed_text.data_manifest
}

names(entries) := concat(", ", sort({e.name | some e in entries}))

# METADATA
# title: Manifest missing
# description: The artifact compliance/data_manifest.json is not attached to the version.
# custom:
#   short_name: missing
#   failure_msg: No data manifest is attached (artifact compliance/data_manifest.json)
#   solution: Attach the training-data manifest with `mlgate manifest attach MODEL VERSION FILE`.
#   severity: critical
violations contains {"code": "data_manifest.missing", "params": {}} if {
	not manifest.attached
}

# METADATA
# title: Manifest is not JSON
# description: The attached manifest artifact does not parse as JSON.
# custom:
#   short_name: not_json
#   failure_msg: "The attached data manifest is not valid JSON: {error}"
#   solution: Fix the manifest file and attach it again with `mlgate manifest attach`.
#   severity: critical
violations contains {"code": "data_manifest.not_json", "params": {"error": manifest.parse_error}} if {
	manifest.attached
	manifest.parse_error != null
}

# METADATA
# title: Manifest schema-invalid
# description: The attached manifest does not match schemas/data_manifest.schema.json.
# custom:
#   short_name: schema_invalid
#   failure_msg: "The attached data manifest is not valid against the manifest schema: {errors}"
#   solution: Fix the listed fields (see schemas/data_manifest.schema.json) and attach the manifest again.
#   severity: critical
violations contains {"code": "data_manifest.schema_invalid", "params": {"errors": concat("; ", manifest.schema_errors)}} if {
	manifest.attached
	manifest.parse_error == null
	data.mlgate.wellformed.strings(manifest.schema_errors)
	count(manifest.schema_errors) > 0
}

# METADATA
# title: Manifest digest missing
# description: The tag compliance.data_manifest.sha256 is absent, so the manifest cannot be tied to what was attached.
# custom:
#   short_name: digest_missing
#   failure_msg: The tag compliance.data_manifest.sha256 is missing
#   solution: Attach the manifest with `mlgate manifest attach`, which sets the digest tag.
#   severity: high
violations contains {"code": "data_manifest.digest_missing", "params": {}} if {
	manifest.attached
	lib.tag_missing("compliance.data_manifest.sha256", manifest.digest_tagged)
}

# METADATA
# title: Manifest digest invalid
# description: The tag compliance.data_manifest.sha256 is not a 64-character hex digest.
# custom:
#   short_name: digest_invalid
#   failure_msg: "The tag compliance.data_manifest.sha256 is '{value}'; expected {expected}"
#   solution: Attach the manifest again with `mlgate manifest attach`, which sets the digest tag. Keep only that exact key and remove any look-alike spelling of it (another case or accent).
#   severity: high
violations contains {"code": "data_manifest.digest_invalid", "params": params} if {
	some params in lib.invalid_tag_values("compliance.data_manifest.sha256")
}

# METADATA
# title: Manifest changed after attach
# description: The manifest's sha256 now differs from the digest recorded when it was attached.
# custom:
#   short_name: digest_mismatch
#   failure_msg: "The data manifest changed after it was attached: sha256 is {computed}, the tag records {tagged}"
#   solution: >-
#     Restore the approved manifest (the one whose sha256 the tag records): the
#     decision log holds it in the gate input of the version's allowed promotion. To
#     approve a changed manifest instead, remove the protected alias first (its
#     evidence is frozen while it holds one), attach it with `mlgate manifest attach`,
#     and promote the version again.
#   severity: critical
violations contains {"code": "data_manifest.digest_mismatch", "params": params} if {
	manifest.attached
	manifest.digest_tagged != null
	manifest.digest_computed != manifest.digest_tagged
	params := {"computed": manifest.digest_computed, "tagged": manifest.digest_tagged}
}

# METADATA
# title: Too few datasets
# description: The manifest lists fewer training datasets than the policy requires.
# custom:
#   short_name: no_datasets
#   failure_msg: "The data manifest lists {count} datasets; at least {min} are required"
#   solution: List every training dataset in the manifest's datasets array.
#   severity: high
violations contains {"code": "data_manifest.no_datasets", "params": {"count": n, "min": settings.min_datasets}} if {
	n := count(content.datasets)
	n < settings.min_datasets
}

# METADATA
# title: Dataset from an illegitimate source
# description: A dataset is not marked as coming from a legitimate source.
# custom:
#   short_name: dataset_source
#   failure_msg: "Datasets not from a legitimate source: {names}"
#   solution: Remove these datasets from training or document their lawful source and set legitimate_source to true.
#   severity: critical
violations contains {"code": "data_manifest.dataset_source", "params": {"names": names(bad)}} if {
	settings.require_legitimate_source
	bad := [d | some d in content.datasets; not d.legitimate_source == true]
	count(bad) > 0
}

# METADATA
# title: Foundation model from an illegitimate source
# description: A foundation model is not marked as coming from a legitimate source.
# custom:
#   short_name: foundation_model_source
#   failure_msg: "Foundation models not from a legitimate source: {names}"
#   solution: Use foundation models with a lawful source and license, and set legitimate_source to true.
#   severity: critical
violations contains {"code": "data_manifest.foundation_model_source", "params": {"names": names(bad)}} if {
	settings.require_legitimate_source
	bad := [m | some m in object.get(content, "foundation_models", []); not m.legitimate_source == true]
	count(bad) > 0
}

# METADATA
# title: Intellectual property not cleared
# description: A dataset is not marked as cleared of intellectual-property claims.
# custom:
#   short_name: ip_not_cleared
#   failure_msg: "Datasets not cleared for intellectual property: {names}"
#   solution: Clear the intellectual-property rights of these datasets (or remove them) and set ip_cleared to true.
#   severity: critical
violations contains {"code": "data_manifest.ip_not_cleared", "params": {"names": names(bad)}} if {
	settings.require_ip_cleared
	bad := [d | some d in content.datasets; not d.ip_cleared == true]
	count(bad) > 0
}

# METADATA
# title: Personal information without consent
# description: A dataset contains personal information but consent is not on record.
# custom:
#   short_name: consent_missing
#   failure_msg: "Datasets with personal information but no consent on record: {names}"
#   solution: Obtain consent (or another legal basis) for the personal information, or remove it, and set personal_info_consent to true.
#   severity: critical
violations contains {"code": "data_manifest.consent_missing", "params": {"names": names(bad)}} if {
	settings.require_personal_info_consent
	bad := [d |
		some d in content.datasets
		# Consent first: a dataset that has it (the usual one with personal information)
		# is done after one negation, and each costs regorus ~1 µs per dataset here.
		not d.personal_info_consent == true
		not d.contains_personal_info == false
	]
	count(bad) > 0
}

# METADATA
# title: No data-quality measures
# description: The manifest lists no measures for the authenticity, accuracy, objectivity and diversity of training data.
# custom:
#   short_name: quality_measures_missing
#   failure_msg: The data manifest lists no data-quality measures
#   solution: List the measures taken for training-data quality (deduplication, filtering, review) in quality_measures.
#   severity: high
violations contains {"code": "data_manifest.quality_measures_missing", "params": {}} if {
	settings.require_quality_measures
	is_object(content)
	not has_quality_measure
}

has_quality_measure if {
	is_array(content.quality_measures)
	some m in content.quality_measures
	is_string(m)
	trim_space(m) != ""
}

# METADATA
# title: Data-labeling duties unmet
# description: Data labeling was used but not every labeling duty is on record.
# custom:
#   short_name: labeling_duties
#   failure_msg: "Data labeling was used but these duties are not met: {duties}"
#   solution: Document the labeling rules, assess labeling quality, verify samples and train labelers; record each as true in the manifest's labeling section.
#   severity: high
violations contains {"code": "data_manifest.labeling_duties", "params": {"duties": concat(", ", unmet)}} if {
	# Anything but the boolean false (a "true" string, 1) leaves the duties due.
	is_object(content)
	not content.labeling.used == false
	unmet := sort({duty | some duty in settings.labeling_duties; not content.labeling[duty] == true})
	count(unmet) > 0
}

# METADATA
# title: Safety sampling missing
# description: >-
#   Policy data requires a safety sampling of every training dataset (the
#   share of illegal or harmful content in a sample of each source), and a
#   dataset's safety_sampling is absent.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 7
#   - ref: https://std.samr.gov.cn/
#     description: GB/T 45654-2025, training-data source safety
# custom:
#   short_name: safety_sampling_missing
#   failure_msg: "Datasets without a safety sampling (safety_sampling): {names}"
#   solution: >-
#     Sample each training dataset for illegal or harmful content and record
#     safety_sampling with sample_size and violation_rate in the manifest.
#   severity: high
violations contains {"code": "data_manifest.safety_sampling_missing", "params": {"names": names(bad)}} if {
	settings.require_safety_sampling == true
	not every_dataset_sampled_within_limits
	bad := [d | some d in content.datasets; not safety_sampled(d)]
	count(bad) > 0
}

safety_sampled(d) if is_object(d.safety_sampling)

# Every dataset sampled within both limits, checked in one flat pass: in regorus
# a function call per dataset costs more than the checks, so the three rules
# below only look dataset by dataset when this does not hold
# (benchmarks/bench_policy.py, every gate on against the five). The types are
# checked by comparison, not is_number (a builtin call per value costs regorus
# three comparisons): Rego orders null < booleans < numbers < strings < arrays,
# sets and objects, so `x >= minimum; x < ""` holds only for a number of at
# least minimum, and `x >= 0; x <= maximum` only for a number in [0, maximum]
# (for numbers minimum and maximum; other ones are data_manifest.input_invalid,
# and the rules below read them as this does).
every_dataset_sampled_within_limits if {
	datasets := content.datasets
	min_size := settings.min_safety_sample_size
	max_rate := settings.max_violation_rate
	within := [1 |
		some d in datasets
		s := d.safety_sampling
		s.sample_size >= min_size
		s.sample_size < ""
		s.violation_rate >= 0
		s.violation_rate <= max_rate
	]
	count(within) == count(datasets)
}

dataset_name(d) := d.name if {
	is_string(d.name)
} else := "(unnamed)"

# METADATA
# title: Safety sample too small
# description: A dataset's safety sampling examined fewer records than the policy's minimum.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 7
#   - ref: https://std.samr.gov.cn/
#     description: GB/T 45654-2025, training-data source safety
# custom:
#   short_name: safety_sample_too_small
#   failure_msg: "Dataset {dataset}: safety sample of {sample_size} records; at least {min} are required"
#   solution: Sample at least the required number of records of the dataset and record the result in safety_sampling.
#   severity: high
violations contains {"code": "data_manifest.safety_sample_too_small", "params": params} if {
	settings.require_safety_sampling == true
	not every_dataset_sampled_within_limits
	some d in content.datasets
	safety_sampled(d)
	not sample_large_enough(d.safety_sampling)
	params := {
		"dataset": dataset_name(d),
		"sample_size": object.get(d.safety_sampling, "sample_size", null),
		"min": settings.min_safety_sample_size,
	}
}

# Anything but a number (a forged "5000") is too small: fail closed.
sample_large_enough(s) if {
	is_number(s.sample_size)
	s.sample_size >= settings.min_safety_sample_size
}

# METADATA
# title: Violation rate too high
# description: A dataset's safety sampling found a larger share of illegal or harmful content than the policy allows.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 7
#   - ref: https://std.samr.gov.cn/
#     description: GB/T 45654-2025, training-data source safety
# custom:
#   short_name: violation_rate_too_high
#   failure_msg: "Dataset {dataset}: violation rate {violation_rate} in its safety sample; at most {max} is allowed"
#   solution: Filter the dataset (or drop the source) until a fresh sample's violation rate is within the maximum, and record it.
#   severity: critical
violations contains {"code": "data_manifest.violation_rate_too_high", "params": params} if {
	settings.require_safety_sampling == true
	not every_dataset_sampled_within_limits
	some d in content.datasets
	safety_sampled(d)
	not violation_rate_within(d.safety_sampling)
	params := {
		"dataset": dataset_name(d),
		"violation_rate": object.get(d.safety_sampling, "violation_rate", null),
		"max": settings.max_violation_rate,
	}
}

# Anything but a number (a forged "0.01") is too high: fail closed.
violation_rate_within(s) if {
	is_number(s.violation_rate)
	s.violation_rate <= settings.max_violation_rate
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
violations contains {"code": "data_manifest.input_invalid", "params": {"fields": fields}} if {
	fields := data.mlgate.wellformed.malformed_text.data_manifest
}

result := lib.gate_result(applies, violations)
