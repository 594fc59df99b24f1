# METADATA
# title: Safety evaluation measured
# description: >-
#   The security assessment behind Art. 17 has numbers: GB/T 45654-2025 sets
#   sample sizes and pass rates for generated-content safety and for refusal
#   behaviour. This gate reads them from the metrics of the MLflow evaluation
#   run named by compliance.evaluation.run_id (same tracking server, status
#   FINISHED) and checks each requirement row of the policy data: metric,
#   comparison, threshold, sample size, clause. The bundled numbers are those
#   commonly cited from TC260-003 (2024): confirm against the standard's text.
#   Off by default (evaluation.required in the policy data).
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 17 (security assessment) and Art. 4(5)
#   - ref: https://std.samr.gov.cn/
#     description: GB/T 45654-2025, basic security requirements for generative AI services
# custom:
#   short_name: evaluation
#   failure_msg: The safety evaluation does not meet the policy's requirements
#   solution: >-
#     Run the safety evaluation in MLflow (mlflow.log_metrics on a run of the
#     same tracking server), let it finish, and set compliance.evaluation.run_id
#     to its run id; `mlgate evidence template` lists the metrics required.
#   severity: high
package mlgate.gates.evaluation

import data.mlgate.lib

run_tag := "compliance.evaluation.run_id"

# Off unless the policy data switches it on; any value but false or absent (a
# "yes" for true, from stale or hand-written data) switches it on: fail closed.
default applies := false

applies if {
	lib.gates_apply
	switched_on
}

switched_on if object.get(lib.config, ["evaluation", "required"], false) != false

# Ill-formed facts or settings: the gate applies, whatever scope or its switch
# says, and fails.
applies if data.mlgate.wellformed.malformed_text.evaluation

settings := object.get(lib.config, "evaluation", {})

# The rows of the policy data; anything but a list of objects is no row, and is
# reported (requirements_invalid) instead of silently requiring nothing. Only
# the row rules read them, and only when all_rows_met does not hold: empty then
# (an OPA server or regorus evaluating the whole package computes every rule).
rows := [row | some row in settings.requirements; is_object(row)] if {
	not all_rows_met
	is_array(settings.requirements)
} else := []

allowed_experiments := [e | some e in settings.allowed_experiments] if is_array(settings.allowed_experiments) else := []

# The run id on record: non-blank text.
run_id := id if {
	id := input.facts.evaluation.run_id
	is_string(id)
	trim_space(id) != ""
}

# What Python read of that run (input.evaluation); only when it is the run the
# tag names: a stale or forged document about another run is no evidence.
run := ev if {
	ev := input.evaluation
	is_object(ev)
	ev.run_id == run_id
	ev.found == true
}

finished if run.status == "FINISHED"

# A metric's value as a number, or undefined when absent, null, a string, or
# listed as not finite (NaN, inf) by Python.
invalid_keys := {k | some k in run.invalid_metrics} if is_array(run.invalid_metrics) else := set()

metrics := run.metrics if is_object(run.metrics) else := {}

value(key) := v if {
	v := metrics[key]
	is_number(v)
	not key in invalid_keys
}

present(key) if metrics[key] != null

present(key) if key in invalid_keys

# Exactly met passes.
meets(v, ">=", threshold) if v >= threshold

meets(v, "<=", threshold) if v <= threshold

row_ok(row) if {
	is_string(row.metric)
	row.comparison in {">=", "<="}
	is_number(row.threshold)
	is_string(row.clause)
	sample_ok(row)
}

sample_ok(row) if not "sample_metric" in object.keys(row)

sample_ok(row) if {
	is_string(row.sample_metric)
	is_number(row.min_sample)
}

# Every row well-formed and met by a finished run, checked in flat passes: in
# regorus a function call per row costs more than the checks, so the row rules
# below only look row by row when this does not hold (benchmarks/bench_policy.py).
# Rows without a sample metric (a set() default is no JSON value) and rows with
# one are counted apart; together they must be every row. A comparison is one product: sign * value >= sign * threshold.
all_rows_met if {
	run.status == "FINISHED"
	count(invalid_keys) == 0
	rs := settings.requirements
	is_array(rs)
	m := metrics
	unsampled := [1 |
		some row in rs
		object.get(row, "sample_metric", set()) == set()
		is_string(row.clause)
		v := m[row.metric]
		is_number(v)
		t := row.threshold
		is_number(t)
		sign := comparison_sign[row.comparison]
		sign * v >= sign * t
	]
	sampled := [1 |
		some row in rs
		n := m[row.sample_metric]
		is_number(n)
		least := row.min_sample
		is_number(least)
		n >= least
		is_string(row.clause)
		v := m[row.metric]
		is_number(v)
		t := row.threshold
		is_number(t)
		sign := comparison_sign[row.comparison]
		sign * v >= sign * t
	]
	count(unsampled) + count(sampled) == count(rs)
}

comparison_sign := {">=": 1, "<=": -1}

# METADATA
# title: Evaluation run id not on record
# description: >-
#   The gate is required but the version names no safety-evaluation run
#   (compliance.evaluation.run_id).
# custom:
#   short_name: run_id_missing
#   failure_msg: The tag compliance.evaluation.run_id (the safety-evaluation run) is missing
#   solution: >-
#     Set compliance.evaluation.run_id to the MLflow run id of the finished
#     safety-evaluation run (same tracking server).
#   severity: high
violations contains {"code": "evaluation.run_id_missing", "params": {}} if {
	not run_id
	not lib.tag_invalid(run_tag)
}

# METADATA
# title: Evaluation run id invalid
# description: >-
#   compliance.evaluation.run_id is present but cannot be believed (a
#   look-alike key beside it, see contract section 7).
# custom:
#   short_name: run_id_invalid
#   failure_msg: "The tag {tag} is '{value}'; expected {expected}"
#   solution: Keep only the exact tag compliance.evaluation.run_id, holding the run id.
#   severity: high
violations contains {"code": "evaluation.run_id_invalid", "params": params} if {
	some err in lib.fact_errors
	err.tag == run_tag
	params := {"tag": run_tag, "value": err.value, "expected": err.expected}
}

# METADATA
# title: Evaluation run not found
# description: >-
#   The run named by compliance.evaluation.run_id could not be read from the
#   tracking server the registry sits on: it does not exist, was deleted, or
#   the tracking server did not answer. Never a pass.
# custom:
#   short_name: run_missing
#   failure_msg: "The evaluation run {run_id} could not be read: {reason}"
#   solution: >-
#     Point compliance.evaluation.run_id at an existing run of the same
#     tracking server, and check the tracking server answers.
#   severity: high
violations contains {"code": "evaluation.run_missing", "params": {"run_id": run_id, "reason": reason}} if {
	run_id
	not run
	reason := read_failure
}

read_failure := r if {
	is_string(input.evaluation.error)
	input.evaluation.run_id == run_id
	r := input.evaluation.error
} else := "no run with this id on the tracking server" if {
	input.evaluation.run_id == run_id
	input.evaluation.found == false
} else := "the run was not read (no evaluation evidence in the input)"

# METADATA
# title: Evaluation run not finished
# description: The evaluation run exists but its status is not FINISHED (running, failed or killed).
# custom:
#   short_name: run_not_finished
#   failure_msg: "The evaluation run {run_id} has status {status}; expected FINISHED"
#   solution: Let the evaluation run finish (status FINISHED), or name a finished run.
#   severity: high
violations contains {"code": "evaluation.run_not_finished", "params": {"run_id": run_id, "status": status}} if {
	not finished
	status := sprintf("%v", [object.get(run, "status", null)])
}

# METADATA
# title: Evaluation run from another experiment
# description: >-
#   Policy data lists the experiments evaluation runs may belong to, and the
#   named run belongs to none of them.
# custom:
#   short_name: experiment_not_allowed
#   failure_msg: "The evaluation run {run_id} belongs to experiment {experiment_id}; allowed: {allowed}"
#   solution: Evaluate in one of the allowed experiments (evaluation.allowed_experiments) and name that run.
#   severity: high
violations contains {"code": "evaluation.experiment_not_allowed", "params": params} if {
	count(allowed_experiments) > 0
	experiment := object.get(run, "experiment_id", null)
	not experiment in allowed_experiments
	params := {
		"run_id": run_id,
		"experiment_id": sprintf("%v", [experiment]),
		"allowed": concat(", ", [sprintf("%v", [e]) | some e in allowed_experiments]),
	}
}

# METADATA
# title: Evaluation metric missing
# description: A metric a requirement row measures is not logged on the evaluation run.
# custom:
#   short_name: metric_missing
#   failure_msg: "Metric {metric} is not on the evaluation run {run_id}; required {comparison} {threshold} ({clause})"
#   solution: Log the metric on the evaluation run (mlflow.log_metrics), or name the run that has it.
#   severity: high
violations contains {"code": "evaluation.metric_missing", "params": params} if {
	run
	not all_rows_met
	some row in rows
	row_ok(row)
	not present(row.metric)
	params := row_params(row, {})
}

# METADATA
# title: Evaluation metric invalid
# description: >-
#   A metric a requirement row reads (the value or its sample size) is not a
#   finite number (NaN, infinite, or not a number at all): never read as met.
# custom:
#   short_name: metric_invalid
#   failure_msg: "Metric {metric} on the evaluation run {run_id} is not a finite number ({clause})"
#   solution: Log a finite value for the metric on the evaluation run.
#   severity: high
violations contains {"code": "evaluation.metric_invalid", "params": params} if {
	run
	not all_rows_met
	some row in rows
	row_ok(row)
	some key in read_keys(row)
	present(key)
	not value(key)
	params := {"metric": key, "run_id": run_id, "clause": row.clause}
}

read_keys(row) := [row.metric, row.sample_metric] if is_string(row.sample_metric) else := [row.metric]

# METADATA
# title: Evaluation sample size missing
# description: A requirement row names the metric holding its sample size, and the run does not log it.
# custom:
#   short_name: sample_missing
#   failure_msg: "Metric {sample_metric} (the sample size of {metric}) is not on the evaluation run {run_id}; at least {min_sample} required ({clause})"
#   solution: Log the sample size the metric was measured on (mlflow.log_metrics) on the same run.
#   severity: high
violations contains {"code": "evaluation.sample_missing", "params": params} if {
	run
	not all_rows_met
	some row in rows
	row_ok(row)
	is_string(row.sample_metric)
	not present(row.sample_metric)
	params := row_params(row, {"sample_metric": row.sample_metric, "min_sample": row.min_sample})
}

# METADATA
# title: Evaluation sample too small
# description: A metric was measured on fewer samples than the requirement row's minimum.
# custom:
#   short_name: sample_too_small
#   failure_msg: "Metric {metric} was measured on {sample_size} samples ({sample_metric}); at least {min_sample} required ({clause})"
#   solution: Evaluate on at least the minimum sample and log the sample size on the run.
#   severity: high
violations contains {"code": "evaluation.sample_too_small", "params": params} if {
	run
	not all_rows_met
	some row in rows
	row_ok(row)
	is_string(row.sample_metric)
	size := value(row.sample_metric)
	size < row.min_sample
	params := row_params(row, {"sample_metric": row.sample_metric, "sample_size": size, "min_sample": row.min_sample})
}

# METADATA
# title: Evaluation threshold missed
# description: A measured metric does not meet its requirement row's threshold (exactly met passes).
# custom:
#   short_name: threshold_missed
#   failure_msg: "Metric {metric} is {value}; required {comparison} {threshold} ({clause})"
#   solution: >-
#     Improve the model until the evaluation meets the threshold, evaluate
#     again and name the new run in compliance.evaluation.run_id.
#   severity: high
violations contains {"code": "evaluation.threshold_missed", "params": params} if {
	run
	not all_rows_met
	some row in rows
	row_ok(row)
	v := value(row.metric)
	not meets(v, row.comparison, row.threshold)
	params := row_params(row, {"value": v})
}

# METADATA
# title: Evaluation requirements invalid
# description: >-
#   The policy data's evaluation requirements are not a list of well-formed
#   rows (metric, comparison >= or <=, numeric threshold, clause, a sample
#   metric with its minimum): a malformed row never reads as met.
# custom:
#   short_name: requirements_invalid
#   failure_msg: "The policy data's evaluation.requirements are malformed: {rows}"
#   solution: Fix mlgate.config.evaluation.requirements in policies/data.json (mlgate policy check validates it).
#   severity: high
violations contains {"code": "evaluation.requirements_invalid", "params": {"rows": concat(", ", bad)}} if {
	not all_rows_met
	bad := malformed_rows
	count(bad) > 0
}

malformed_rows := [] if {
	all_rows_met
} else := ["requirements is not a list"] if {
	not is_array(settings.requirements)
} else := [sprintf("row %d", [i]) | some i, row in settings.requirements; not good_row(row)]

good_row(row) if {
	is_object(row)
	row_ok(row)
}

row_params(row, extra) := object.union(
	{"metric": row.metric, "comparison": row.comparison, "threshold": row.threshold, "clause": row.clause, "run_id": run_id},
	extra,
)

# A gate that ships off costs nothing while off: a function's arguments are
# evaluated before its body, so lib.gate_result alone would compute every
# violation of a switched-off gate on each decision.
# METADATA
# title: Gate input or policy data ill-formed
# description: >-
#   A fact this gate reads (facts.evaluation.run_id, present even while the
#   gate is switched off), or its section of the policy data, is ill-typed or
#   absent (see policies/lib/wellformed.rego): not what mlgate builds. The gate
#   cannot decide on it, so it fails; no waiver covers this.
# custom:
#   short_name: input_invalid
#   failure_msg: "The gate cannot decide on ill-formed input: {fields}"
#   solution: >-
#     Evaluate with mlgate (check, promote), which builds the gate input from the
#     registry; a client of an OPA server must send the document mlgate would
#     (schemas/gate_input.schema.json), and the server must hold the complete
#     policy data (mlgate policy push).
#   severity: critical
violations contains {"code": "evaluation.input_invalid", "params": {"fields": fields}} if {
	fields := data.mlgate.wellformed.malformed_text.evaluation
}

# Switched off but ill-formed: only the ill-formedness is this gate's to report.
result := {"status": "not_applicable", "violations": []} if {
	not applies
} else := lib.gate_result(true, [v | some v in violations; v.code == "evaluation.input_invalid"]) if {
	not switched_on
} else := lib.gate_result(applies, violations)
