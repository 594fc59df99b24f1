# METADATA
# title: Complaints channel on record
# description: >-
#   Providers must set up a convenient complaints and reporting channel, publish
#   how complaints are handled and in what time, and handle them promptly. When
#   policy data requires it, the channel must be on record on the version.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 15
# custom:
#   short_name: complaints
package mlgate.gates.complaints

import data.mlgate.lib

default applies := false

applies if {
	lib.gates_apply
	lib.config.complaints.required == true
}

# METADATA
# title: Complaints channel missing
# description: The compliance.complaints.channel tag is absent, blank or invalid.
# custom:
#   short_name: channel_missing
#   failure_msg: The tag compliance.complaints.channel (the complaints channel) is missing
#   solution: >-
#     Set compliance.complaints.channel to the URI or document id of the
#     complaints and reporting channel and its published handling times.
#   severity: high
violations contains {"code": "complaints.channel_missing", "params": {}} if {
	not channel_on_record
}

channel_on_record if is_string(input.facts.complaints.channel)

result := lib.gate_result(applies, violations)
