# METADATA
# title: Generated-content labeling enabled
# description: >-
#   Generated content must be labelled. Since 1 September 2025 the Labeling
#   Measures for AI-generated synthetic content require both explicit
#   (visible or audible) and implicit (metadata or watermark) labels. Which
#   labels each modality needs is policy data.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 12
#   - ref: https://www.cac.gov.cn/2025-03/14/c_1743654684782215.htm
#     description: Measures for Labeling AI-Generated Synthetic Content
# custom:
#   short_name: labeling
#   failure_msg: Generated content is not labelled as the policy requires
#   solution: >-
#     Enable explicit and implicit labeling of generated content, then set
#     compliance.modalities, compliance.labeling.explicit=true and
#     compliance.labeling.implicit=true on the model version.
#   severity: high
package mlgate.gates.labeling

import data.mlgate.lib

default applies := false

applies if lib.gates_apply

# Ill-formed input or settings: the gate applies, whatever scope says, and fails.
applies if data.mlgate.wellformed.malformed_text.labeling

labeling := input.facts.labeling

# Modalities to label: those declared, or every configured one when the
# declaration is missing or invalid (fail closed).
modalities := input.facts.modalities if {
	is_array(input.facts.modalities)
} else := object.keys(lib.config.labeling.required)

# The labels per modality; an ill-formed setting (input_invalid) reads as
# "both labels for every modality".
required := lib.config.labeling.required if {
	is_object(lib.config.labeling.required)
} else := {}

# For each label, the modalities that need it, as a comma-separated string
# ("" when none does). A modality the policy data does not list needs both.
needing[label] := concat(",", sort(needs_label)) if {
	some label in ["explicit", "implicit"]
	needs_label := {m |
		some m in modalities
		is_string(m) # anything else is labeling.input_invalid, never an engine error
		label in object.get(required, m, ["explicit", "implicit"])
	}
}

# METADATA
# title: Modalities missing
# description: The compliance.modalities tag is absent or empty.
# custom:
#   short_name: modalities_missing
#   failure_msg: The tag compliance.modalities is missing, so the required labels cannot be decided
#   solution: Set compliance.modalities to what the model generates, e.g. text,image.
#   severity: high
violations contains {"code": "labeling.modalities_missing", "params": {}} if {
	lib.tag_missing("compliance.modalities", input.facts.modalities)
}

# METADATA
# title: Modalities invalid
# description: The compliance.modalities tag lists something other than text, image, audio, video, code.
# custom:
#   short_name: modalities_invalid
#   failure_msg: "The tag compliance.modalities is '{value}'; expected {expected}"
#   solution: Set compliance.modalities to a comma-separated list of text, image, audio, video, code. Keep only that exact key and remove any look-alike spelling of it (another case or accent).
#   severity: high
violations contains {"code": "labeling.modalities_invalid", "params": params} if {
	some params in lib.invalid_tag_values("compliance.modalities")
}

# METADATA
# title: Explicit labeling not on record
# description: The compliance.labeling.explicit tag is absent.
# custom:
#   short_name: explicit_missing
#   failure_msg: "The tag compliance.labeling.explicit is missing; explicit labels are required for {modalities}"
#   solution: Enable visible or audible labels on generated content and set compliance.labeling.explicit=true.
#   severity: high
violations contains {"code": "labeling.explicit_missing", "params": {"modalities": needing.explicit}} if {
	lib.tag_missing("compliance.labeling.explicit", labeling.explicit)
	needing.explicit != ""
}

# METADATA
# title: Explicit labeling tag invalid
# description: The compliance.labeling.explicit tag is neither true nor false.
# custom:
#   short_name: explicit_invalid
#   failure_msg: "The tag compliance.labeling.explicit is '{value}'; expected {expected}"
#   solution: Set compliance.labeling.explicit to true or false. Keep only that exact key and remove any look-alike spelling of it (another case or accent).
#   severity: high
violations contains {"code": "labeling.explicit_invalid", "params": params} if {
	some params in lib.invalid_tag_values("compliance.labeling.explicit")
}

# METADATA
# title: Explicit labeling disabled
# description: Explicit labels are required for a generated modality but disabled.
# custom:
#   short_name: explicit_disabled
#   failure_msg: "Explicit labeling is disabled but required for {modalities}"
#   solution: Enable visible or audible labels on generated content, then set compliance.labeling.explicit=true.
#   severity: high
violations contains {"code": "labeling.explicit_disabled", "params": {"modalities": needing.explicit}} if {
	labeling.explicit == false
	needing.explicit != ""
}

# METADATA
# title: Implicit labeling not on record
# description: The compliance.labeling.implicit tag is absent.
# custom:
#   short_name: implicit_missing
#   failure_msg: "The tag compliance.labeling.implicit is missing; implicit labels are required for {modalities}"
#   solution: Embed metadata or watermark labels in generated content and set compliance.labeling.implicit=true.
#   severity: high
violations contains {"code": "labeling.implicit_missing", "params": {"modalities": needing.implicit}} if {
	lib.tag_missing("compliance.labeling.implicit", labeling.implicit)
	needing.implicit != ""
}

# METADATA
# title: Implicit labeling tag invalid
# description: The compliance.labeling.implicit tag is neither true nor false.
# custom:
#   short_name: implicit_invalid
#   failure_msg: "The tag compliance.labeling.implicit is '{value}'; expected {expected}"
#   solution: Set compliance.labeling.implicit to true or false. Keep only that exact key and remove any look-alike spelling of it (another case or accent).
#   severity: high
violations contains {"code": "labeling.implicit_invalid", "params": params} if {
	some params in lib.invalid_tag_values("compliance.labeling.implicit")
}

# METADATA
# title: Implicit labeling disabled
# description: Implicit labels are required for a generated modality but disabled.
# custom:
#   short_name: implicit_disabled
#   failure_msg: "Implicit labeling is disabled but required for {modalities}"
#   solution: Embed metadata or watermark labels in generated content, then set compliance.labeling.implicit=true.
#   severity: high
violations contains {"code": "labeling.implicit_disabled", "params": {"modalities": needing.implicit}} if {
	labeling.implicit == false
	needing.implicit != ""
}

# METADATA
# title: Producer code not on record
# description: >-
#   Policy data requires the provider code that goes into the implicit label's
#   ContentProducer field (GB 45438-2025), implicit labels are required for a
#   generated modality, and the compliance.labeling.producer_code tag is
#   absent or empty.
# related_resources:
#   - ref: https://www.cac.gov.cn/2025-03/14/c_1743654684782215.htm
#     description: Measures for Labeling AI-Generated Synthetic Content
#   - ref: https://std.samr.gov.cn/
#     description: GB 45438-2025, labeling method for AI-generated synthetic content
# custom:
#   short_name: producer_code_missing
#   failure_msg: "The tag compliance.labeling.producer_code is missing or empty; implicit labels (ContentProducer) are required for {modalities}"
#   solution: >-
#     Set compliance.labeling.producer_code to the provider name or code written
#     into the implicit label's ContentProducer field.
#   severity: high
violations contains {"code": "labeling.producer_code_missing", "params": {"modalities": needing.implicit}} if {
	lib.config.labeling.require_producer_code == true
	needing.implicit != ""
	not producer_code_on_record
}

# Anything but non-blank text (a forged number) is no code on record: fail closed.
producer_code_on_record if {
	is_string(labeling.producer_code)
	trim_space(labeling.producer_code) != ""
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
violations contains {"code": "labeling.input_invalid", "params": {"fields": fields}} if {
	fields := data.mlgate.wellformed.malformed_text.labeling
}

result := lib.gate_result(applies, violations)
