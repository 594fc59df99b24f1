# METADATA
# title: Signed attestation of the evidence and model files
# description: >-
#   The compliance evidence a release is promoted on must be what a trusted
#   signer attested, and the model files must be those it attested: a signed
#   in-toto statement (DSSE envelope compliance/attestation.dsse.json, made by
#   mlgate attest) covering exactly the current compliance.* tags, the data
#   manifest digest and the sha256 of every model file. Python verifies the
#   signature and hashes the files (input.attestation); this gate decides. Off
#   unless the policy data lists trusted keys (attestation.trusted_keys).
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 17 (security assessment and filing on record)
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 7 (training data, via the manifest digest)
# custom:
#   short_name: attestation
#   failure_msg: The evidence or the model files are not what a trusted signer attested
#   solution: >-
#     Have compliance review the version's evidence and run
#     mlgate attest MODEL VERSION --key KEY.pem with a key listed in
#     attestation.trusted_keys.
#   severity: critical
package mlgate.gates.attestation

import data.mlgate.lib

default applies := false

# Off until policy data lists a trusted key; anything but an empty list (or
# absent) switches it on: fail closed.
applies if {
	lib.gates_apply
	switched_on
}

switched_on if object.get(lib.config, ["attestation", "trusted_keys"], []) != []

# Ill-formed facts or settings: the gate applies, whatever scope or its keys
# say, and fails.
applies if data.mlgate.wellformed.malformed_text.attestation

att := input.attestation

checked if is_object(att)

# Read and checked without an error: the comparisons below are meaningful.
readable if {
	checked
	att.error == null
	att.present == true
}

# METADATA
# title: Attestation not checked
# description: >-
#   The gate applies but the input carries no attestation evidence: the reader
#   did not check it (an input made elsewhere, or a reader without the keys).
# custom:
#   short_name: not_checked
#   failure_msg: The attestation was not checked (no input.attestation); the decision cannot rely on it
#   solution: Decide through mlgate check, promote or the mlgate+ registry, which check the attestation when trusted keys are listed.
#   severity: critical
violations contains {"code": "attestation.not_checked", "params": {}} if {
	switched_on
	not checked
}

# METADATA
# title: Attestation unreadable
# description: >-
#   Reading the envelope, verifying it or hashing the model files failed: fail
#   closed, never pass.
# custom:
#   short_name: unreadable
#   failure_msg: "The attestation could not be checked: {reason}"
#   solution: Fix what the reason names (the artifact store, the envelope, a trusted key in the policy data), then attest again if needed.
#   severity: critical
violations contains {"code": "attestation.unreadable", "params": {"reason": att.error}} if {
	checked
	att.error != null
}

# METADATA
# title: No attestation attached
# description: The version has no compliance/attestation.dsse.json.
# custom:
#   short_name: envelope_missing
#   failure_msg: No signed attestation (compliance/attestation.dsse.json) is attached to the version
#   solution: Have compliance run mlgate attest MODEL VERSION --key KEY.pem.
#   severity: critical
violations contains {"code": "attestation.envelope_missing", "params": {}} if {
	checked
	att.error == null
	att.present == false
}

# METADATA
# title: Attestation digest tag mismatch
# description: >-
#   compliance.attestation.sha256 is absent, invalid or not the digest of the
#   attached envelope: the envelope was replaced or the tag edited.
# custom:
#   short_name: digest_tag_mismatch
#   failure_msg: "The tag compliance.attestation.sha256 ({tagged}) is not the digest of the attached envelope ({computed})"
#   solution: Attest again (mlgate attest), which logs the envelope and tags its digest together.
#   severity: critical
violations contains {"code": "attestation.digest_tag_mismatch", "params": params} if {
	readable
	tagged := object.get(lib.facts, ["attestation", "sha256"], null)
	tagged != att.envelope_sha256
	params := {"tagged": tagged_text(tagged), "computed": att.envelope_sha256}
}

tagged_text(t) := t if is_string(t) else := "absent or invalid"

# METADATA
# title: Attestation signature invalid
# description: >-
#   The envelope names a trusted key but its signature does not verify: the
#   statement or the signature was altered after signing.
# custom:
#   short_name: signature_invalid
#   failure_msg: The attestation's signature does not verify under the trusted key it names
#   solution: Attest again with the trusted key; find out who altered the envelope.
#   severity: critical
violations contains {"code": "attestation.signature_invalid", "params": {}} if {
	readable
	att.signature != "valid"
	att.signature != "untrusted"
}

# METADATA
# title: Attestation signer not trusted
# description: No key in attestation.trusted_keys verifies the attestation's signature.
# custom:
#   short_name: untrusted_signer
#   failure_msg: The attestation is not signed by a key listed in attestation.trusted_keys
#   solution: Attest with a trusted key, or have compliance add the signer's public key to the policy data.
#   severity: critical
violations contains {"code": "attestation.untrusted_signer", "params": {}} if {
	readable
	att.signature == "untrusted"
}

# METADATA
# title: Attestation for another model version
# description: The statement names another registered model or version than the one decided.
# custom:
#   short_name: other_version
#   failure_msg: "The attestation is for model {model} version {version}, not this version"
#   solution: Attest this version (mlgate attest MODEL VERSION --key KEY.pem).
#   severity: critical
violations contains {"code": "attestation.other_version", "params": params} if {
	readable
	att.subject_match != true
	params := {"model": sprintf("%v", [att.statement_model]), "version": sprintf("%v", [att.statement_version])}
}

# METADATA
# title: Compliance tag changed since attested
# description: A compliance.* tag was added, removed or changed after the attestation was signed.
# custom:
#   short_name: tag_changed
#   failure_msg: "The tag {tag} changed since the attestation was signed"
#   solution: Restore the attested value, or have compliance review the change and attest again.
#   severity: critical
violations contains {"code": "attestation.tag_changed", "params": {"tag": tag}} if {
	readable
	some tag in diff(att.tags_diff)
}

# METADATA
# title: Data manifest changed since attested
# description: The data manifest's digest is not the one the attestation covers.
# custom:
#   short_name: manifest_changed
#   failure_msg: The data manifest (compliance/data_manifest.json) changed since the attestation was signed
#   solution: Restore the attested manifest, or have compliance review it and attest again.
#   severity: critical
violations contains {"code": "attestation.manifest_changed", "params": {}} if {
	readable
	att.manifest_match != true
}

# METADATA
# title: Model file changed since attested
# description: >-
#   A model file was added, removed or its bytes changed since the attestation
#   was signed: what would be promoted is not what was approved.
# custom:
#   short_name: model_file_changed
#   failure_msg: "The model file {file} was added, removed or changed since the attestation was signed"
#   solution: Register the attested model files again, or have compliance review the new files and attest again.
#   severity: critical
violations contains {"code": "attestation.model_file_changed", "params": {"file": name}} if {
	readable
	some name in diff(att.files_diff)
}

# A list of names as the input gives it; anything else is one unreadable entry
# (the gate still fails: fail closed).
diff(names) := [n | some n in names; is_string(n)] if is_array(names) else := ["(unreadable list)"]

# METADATA
# title: Gate input or policy data ill-formed
# description: >-
#   A fact this gate reads (facts.attestation.sha256, present even while the
#   gate is off), or its section of the policy data, is ill-typed or absent
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
violations contains {"code": "attestation.input_invalid", "params": {"fields": fields}} if {
	fields := data.mlgate.wellformed.malformed_text.attestation
}

result := lib.gate_result(applies, violations)
