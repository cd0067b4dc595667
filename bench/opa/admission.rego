# Admission decisions (POST /v1/decisions) as a Rego policy, for the
# side-by-side benchmark in bench/run_decisions.sh: the same question asked
# of Open Policy Agent, with the read model exported as OPA's data.
#
#   POST /v1/data/ledger/admission/decision  {"input": <policy_decision_input>}
#   -> {"result": <the fields of the ledger's answer listed below>}
#
# data.ledger.read_model is the document bench/opa/export.sh writes from the
# read model (schema rm) at one position:
#   position                  the read model's admission checkpoint
#   nodes[<scope>]            {chain, version, expires_at_ns}: chain is the
#                             node's scopes up to global ("project:p1", ...,
#                             "organization:o1", "plan:pro", "global") as
#                             the latest links at the position make it
#   rules[<scope>][<dim>]     the ceiling rules in force there
#   delegations[<scope>][<dim>]
#   reservations[<org>][<dim>]  every reservation, its state at the position
#   registry[<kind>][<id>]    {version, attributes}
#   warn_threshold            quota.warn_threshold_percent: whether the key
#                             is defined, its default, every value ever set
#                             at project / organization / plan / global
#
# Ported from domain/admission.cc (decide_admission, evaluate_along) and the
# query service's threshold read (adapters/http/routes/memory_reads.cc):
#   - input checks of validate_decision_input, unknown scope, hierarchy
#     mismatch, unknown registry entries, unit mismatch, pinned registry
#     versions (answered as {"error": {"code", "message"}});
#   - the requester (the principal named by actor_id when it hangs under the
#     project, else the project) and an expired principal's deny;
#   - effective ceilings along the chain: own(n) the smallest matching rule
#     (dimension, window, region / SKU empty or equal), allowed(n) from the
#     parent's effective ceiling or its delegation cap, clamping, the binding
#     scope and rule, matched rules broadest first, the unit;
#   - the per-request cap (window `request`) judged first, and
#     current_usage.scope_window `request`;
#   - capacity reserved for others under each binding scope of the
#     organization (states active / exhausted inside their window at the
#     decision's instant, region and SKU overlap), available, allow / warn /
#     deny with ceiling_exceeded or capacity_reserved;
#   - the near-limit threshold: the value in force now at project, then
#     organization, then plan, then global (tenant filter as
#     domain::applies_to), clamped to 0..100; 80 when the key is not defined.
# Not ported: the JSON body parser's own checks (types, unknown fields,
# lengths), authentication, roles and the tenant check, rate limits, the
# decision log, product messages (apply_product_message), applications'
# policy chains (`application`), `as_of` / `as_of_position` / `min_position`,
# X-Correlation-Id fallbacks (the bench always sends correlation_id), and
# chains deeper than 12 scopes (more than 7 nested departments: answered
# with error `chain_too_deep`). The decision's instant is time.now_ns(), the
# ledger's is its clock: they agree unless a reservation window or a
# scheduled threshold changes between the two calls.
package ledger.admission

import rego.v1

# A reference, never a value: every lookup below is a path into OPA's store
# (taking the whole document as a value would copy it at every query).
import data.ledger.read_model as rm

now := time.now_ns()

# ------------------------------------------------------------------- input

# Each field of the input, with the value an absent field stands for (plain
# references: object.get over the whole input costs far more per query).
default actor_type := ""

actor_type := input.actor.actor_type

default actor_id := ""

actor_id := input.actor.actor_id

default organization_id := ""

organization_id := input.hierarchy.organization_id

default department_id := ""

department_id := input.hierarchy.department_id

default project_id := ""

project_id := input.hierarchy.project_id

default product_id := ""

product_id := input.product.product_id

default resource_type := ""

resource_type := input.product.resource_type

default dimension := ""

dimension := input.request.dimension

default requested := 0

requested := input.request.requested_delta

default region := ""

region := input.request.region

default sku := ""

sku := input.request.sku_or_model

default request_unit := ""

request_unit := input.request.unit

default usage_window := ""

usage_window := input.current_usage.scope_window

default usage := 0

usage := input.current_usage.quantity

default usage_unit := ""

usage_unit := input.current_usage.unit

default correlation_id := ""

correlation_id := input.correlation_id

default pinned := {}

pinned := input.registry_versions

# ------------------------------------------------------------------ scopes

scope_key(level, _) := "global" if level == "global"

scope_key(level, id) := concat(":", [level, id]) if level != "global"

scope_json(key) := {"level": "global", "id": ""} if key == "global"

scope_json(key) := {"level": substring(key, 0, i), "id": substring(key, i + 1, -1)} if {
	key != "global"
	i := indexof(key, ":")
}

_level(key) := scope_json(key).level

project_key := scope_key("project", project_id)

principal_key := scope_key("principal", actor_id)

# The principal when it hangs directly under the project, else the project.
requester := principal_key if {
	rm.nodes[principal_key].chain[1] == project_key
} else := project_key

chain := rm.nodes[requester].chain

_on_chain(key) if key in chain

# ------------------------------------------------------ effective ceilings

# A bound: q (null = unlimited), the scope and rule it came from.
_none := {"q": null, "from": null, "rule_id": "", "kind": ""}

_le(_, b) if b == null

_le(a, b) if {
	b != null
	a <= b
}

_matches(r, target) if {
	r.window == target.window
	r.region in {"", target.region}
	r.sku_or_model in {"", target.sku_or_model}
}

# The smallest rule of a scope (ties: the first by rule id).
_own(here, _) := _none if count(here) == 0

_own(here, key) := {"q": m, "from": key, "rule_id": first.rule_id, "kind": "ceiling"} if {
	count(here) > 0
	m := min([r.quantity | some r in here])
	first := [r | some r in here; r.quantity == m][0]
}

# effective(n): its own rule held down by what it is allowed (ties go to
# its own rule), or its parent's when it has none.
_effective(own, allowed, _) := own if {
	own.from != null
	_le(own.q, allowed.q)
}

_effective(own, allowed, _) := allowed if {
	own.from != null
	not _le(own.q, allowed.q)
}

_effective(own, _, parent_eff) := parent_eff if own.from == null

# What a node passes to its children: its delegation's cap (when below
# what it is allowed itself), what it is allowed (a delegation without a
# lower cap), or, without a delegation, its effective ceiling.
_passes(node, _, eff) := eff if node.delegation == null

_passes(node, allowed, _) := node.delegation if {
	node.delegation != null
	_lowers(node.delegation, allowed)
}

_passes(node, allowed, _) := allowed if {
	node.delegation != null
	not _lowers(node.delegation, allowed)
}

_lowers(d, allowed) if {
	d.q != null
	allowed.q == null
}

_lowers(d, allowed) if {
	d.q != null
	allowed.q != null
	d.q < allowed.q
}

_delegation_of(key, dim) := d if {
	d := rm.delegations[key][dim]
} else := null

_rules_at(key, dim) := rules if {
	rules := rm.rules[key][dim]
} else := []

# What one scope of the chain (index k) brings, independently of the others:
# its smallest matching rule, its delegation of the dimension as a bound
# (requester excluded: its delegation only concerns its children), the rules
# it contributes to matched_rules (ceilings by rule id, then the
# delegation) and the first rule's unit.
_node(key, k, target) := node if {
	by_id := {r.rule_id: r | some r in _rules_at(key, target.dimension); _matches(r, target)}
	here := [by_id[id] | some id in sort(object.keys(by_id))]
	d := _delegation_of(key, target.dimension)
	delegation := _delegation_bound(d, key, k)
	ceilings := [{"rule_id": r.rule_id, "scope": key, "version": format_int(r.rule_version, 10), "kind": "ceiling"} |
		some r in here
	]
	node := {
		"own": _own(here, key),
		"delegation": delegation,
		"matched": array.concat(ceilings, _delegation_matched(d, key, k)),
		"units": [r.unit | some r in here; r.unit != ""],
	}
}

_delegation_bound(d, _, k) := null if {
	not _delegates(d, k)
}

_delegation_bound(d, key, k) := {"q": d.max_quantity, "from": key, "rule_id": d.delegation_id, "kind": "delegation"} if {
	_delegates(d, k)
}

_delegates(d, k) if {
	k > 0
	d != null
}

_delegation_matched(d, key, k) := [{"rule_id": d.delegation_id, "scope": key, "version": format_int(d.version, 10), "kind": "delegation"}] if {
	_delegates(d, k)
}

_delegation_matched(d, _, k) := [] if not _delegates(d, k)

# One step of evaluate_along, from the parent's state (what this node is
# allowed, what it inherits) to this node's; null: above the chain's end.
_down(s, node) := s if node == null

_down(s, node) := {"allowed": _passes(node, s.allowed, eff), "eff": eff, "allowed_here": s.allowed} if {
	node != null
	eff := _effective(node.own, s.allowed, s.eff)
}

_at(nodes, k) := nodes[k] if k >= 0

_at(_, k) := null if k < 0

_max_depth := 12

# evaluate_along for the chain: eff[i] / allowed[i] by chain index (global
# last), matched rules broadest first, the unit of the first of them.
along(target) := out if {
	n := count(chain)
	n <= _max_depth
	nodes := [_node(key, k, target) | some k, key in chain]
	top := {"allowed": _none, "eff": _none}
	s1 := _down(top, _at(nodes, n - 1))
	s2 := _down(s1, _at(nodes, n - 2))
	s3 := _down(s2, _at(nodes, n - 3))
	s4 := _down(s3, _at(nodes, n - 4))
	s5 := _down(s4, _at(nodes, n - 5))
	s6 := _down(s5, _at(nodes, n - 6))
	s7 := _down(s6, _at(nodes, n - 7))
	s8 := _down(s7, _at(nodes, n - 8))
	s9 := _down(s8, _at(nodes, n - 9))
	s10 := _down(s9, _at(nodes, n - 10))
	s11 := _down(s10, _at(nodes, n - 11))
	s12 := _down(s11, _at(nodes, n - 12))
	steps := [s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12]
	units := [u | some k in numbers.range(n - 1, 0); some u in nodes[k].units]
	out := {
		"eff": [steps[(n - 1) - k].eff | some k in numbers.range(0, n - 1)],
		"allowed": [steps[(n - 1) - k].allowed_here | some k in numbers.range(0, n - 1)],
		"matched": [m | some k in numbers.range(n - 1, 0); some m in nodes[k].matched],
		"unit": _first_or_empty(units),
	}
}

_first_or_empty(list) := list[0] if count(list) > 0

_first_or_empty(list) := "" if count(list) == 0

usage_target := {"dimension": dimension, "window": usage_window, "region": region, "sku_or_model": sku}

request_target := {"dimension": dimension, "window": "request", "region": region, "sku_or_model": sku}

# --------------------------------------------------------------- registry

dim_entry := rm.registry.quota_dimension[dimension]

unit := object.get(dim_entry.attributes, "unit", "")

_registry_versions contains ["quota_dimension", format_int(dim_entry.version, 10)]

_registry_versions contains ["product", format_int(rm.registry.product[product_id].version, 10)] if product_id != ""

_registry_versions contains ["resource_type", format_int(rm.registry.resource_type[resource_type].version, 10)] if {
	resource_type != ""
}

_registry_versions contains ["usage_unit", format_int(rm.registry.usage_unit[unit].version, 10)]

_registry_versions contains ["scope", format_int(rm.nodes[requester].version, 10)]

registry_versions := {kv[0]: kv[1] | some kv in _registry_versions}

# ------------------------------------------------------------------ errors

_valid_windows := {"", "minute", "hour", "day", "month", "request"}

input_error := "actor.actor_type must be user, service_account, api_key or worker" if {
	not actor_type in {"", "user", "service_account", "api_key", "worker"}
} else := "hierarchy.organization_id and hierarchy.project_id are required" if {
	"" in {organization_id, project_id}
} else := "request.dimension is required" if {
	dimension == ""
} else := "request.requested_delta must not be negative" if {
	requested < 0
} else := "current_usage.quantity must not be negative" if {
	usage < 0
}

_err(code, message) := {"error": {"code": code, "message": message}}

_unit_given(u) if {
	u != ""
	u != unit
}

_pin_mismatch if {
	some kind, p in pinned
	p != ""
	registry_versions[kind] != p
}

# ---------------------------------------------------------------- decision

_capacity_states := {"active", "exhausted"}

_holds(r) if {
	r.state in _capacity_states
	r.window_start_ns <= now
	now < r.window_end_ns
}

_overlaps(a, b) if "" in {a, b}

_overlaps(a, b) if a == b

_pooled(key) if key == "global"

_pooled(key) if startswith(key, "plan:")

_reservations := list if {
	list := rm.reservations[organization_id][dimension]
} else := []

_chain_of(key) := c if {
	c := rm.nodes[key].chain
} else := []

# Capacity that others' reservations hold under scope n of the requester's chain.
_reserved_under(n) := 0 if _pooled(n)

_reserved_under(n) := sum([r.quantity |
	some r in _reservations
	_holds(r)
	_overlaps(r.region, region)
	_overlaps(r.sku_or_model, sku)
	not _on_chain(r.owner)
	n in _chain_of(r.owner)
]) if not _pooled(n)

# The near-limit threshold for the requester's project, organization and plan.
_org_on_chain := [k | some k in chain; startswith(k, "organization:")][0]

_plan_on_chain := [k | some k in chain; startswith(k, "plan:")][0]

_applies(tenant) if tenant == null

_applies(tenant) if tenant == "platform"

_applies(tenant) if tenant == substring(_org_on_chain, count("organization:"), -1)

_threshold_set_at(key) := list if {
	list := rm.warn_threshold.values[key]
} else := []

_threshold_values(key) := [c |
	some c in _threshold_set_at(key)
	c.effective_at_ns <= now
	_applies(c.tenant)
]

_threshold_found := [cs |
	some key in [project_key, _org_on_chain, _plan_on_chain, "global"]
	cs := _threshold_values(key)
	count(cs) > 0
]

_threshold_value := v if {
	cs := _threshold_found[0]
	latest := max([[c.effective_at_ns, c.position] | some c in cs])
	v := [c.value | some c in cs; [c.effective_at_ns, c.position] == latest][0]
} else := rm.warn_threshold.default

_clamp_percent(v) := min([max([v, 0]), 100]) if {
	is_number(v)
	v == floor(v)
}

_clamp_percent(v) := 80 if not is_number(v)

_clamp_percent(v) := 80 if {
	is_number(v)
	v != floor(v)
}

warn_threshold := 80 if not rm.warn_threshold.defined

warn_threshold := _clamp_percent(_threshold_value) if rm.warn_threshold.defined

_effective_json(b, unit_text, per_request) := {
	"quantity": b.q,
	"unit": unit_text,
	"inherited_from": _inherited_level(b, per_request),
	"inherited_from_scope": _inherited_scope(b),
}

_inherited_level(b, _) := null if b.from == null

_inherited_level(b, per_request) := "request" if {
	b.from != null
	per_request
}

_inherited_level(b, per_request) := _level(b.from) if {
	b.from != null
	not per_request
}

_inherited_scope(b) := null if b.from == null

_inherited_scope(b) := scope_json(b.from) if b.from != null

_or(a, _) := a if a != ""

_or(a, b) := b if a == ""

_answer(verdict, reason, message, eff, matched, unit_text, per_request, available, remaining, reserved) := {
	"decision": verdict,
	"reason_code": reason,
	"user_message": message,
	"effective_ceiling": _effective_json(eff, unit_text, per_request),
	"matched_rules": [{"rule_id": m.rule_id, "scope": m.scope, "version": m.version, "kind": m.kind} | some m in matched],
	"evidence": {
		"snapshot_kind": "effective_ceiling",
		"snapshot_version": format_int(rm.position, 10),
		"correlation_id": correlation_id,
	},
	"limit_remaining": remaining,
	"available": available,
	"reserved_for_others": reserved,
	"registry_versions": registry_versions,
	"snapshot_version": rm.position,
}

_expired if {
	startswith(requester, "principal:")
	e := rm.nodes[requester].expires_at_ns
	e != null
	now >= e
}

# Without a `request` rule or a delegation (which matched_rules would list)
# above the requester, the cap is none and nothing matched: what along()
# would answer, without the walk.
_request_along := along(request_target) if {
	some key in chain
	some r in _rules_at(key, dimension)
	r.window == "request"
} else := along(request_target) if {
	some k, key in chain
	k > 0
	_delegation_of(key, dimension) != null
} else := {"eff": [_none], "allowed": [_none], "matched": [], "unit": ""}

_usage_along := along(usage_target)

_per_request_decision := cap_answer if {
	ra := _request_along
	cap := ra.eff[0]
	u := _or(ra.unit, unit)
	cap_answer := _per_request(cap, ra.matched, u)
}

_per_request(cap, matched, u) := _answer(
	"allow", "no_ceiling", "No quota limits this request.",
	cap, matched, u, true, null, null, 0,
) if cap.from == null

_per_request(cap, matched, u) := _answer(
	"deny", "request_ceiling_exceeded", "This request asks for more than a single request may.",
	cap, matched, u, true, null, cap.q, 0,
) if {
	cap.from != null
	requested > cap.q
}

_per_request(cap, matched, u) := _answer(
	"allow", "within_ceiling", "This request is within your quota.",
	cap, matched, u, true, null, cap.q - requested, 0,
) if {
	cap.from != null
	requested <= cap.q
}

_capped if {
	cap := _request_along.eff[0]
	cap.from != null
	requested > cap.q
}

_usage_decision := _usage_answer(_usage_along)

_usage_answer(a) := _answer(
	"allow", "no_ceiling", "No quota limits this request.",
	a.eff[0], a.matched, _or(a.unit, unit), false, null, null, 0,
) if a.eff[0].from == null

_usage_answer(a) := out if {
	e0 := a.eff[0]
	e0.from != null
	binding := [c |
		some i, b in a.eff
		b.from != null
		b.q >= e0.q
		held := _reserved_under(chain[i])
		c := {"avail": max([0, b.q - held]), "reserved": held}
	]
	available := min([c.avail | some c in binding])
	reserved := [c.reserved | some c in binding; c.avail == available][0]
	out := _judge(a, e0, available, reserved)
}

_fits(available) if {
	usage <= available
	requested <= available - usage
}

_judge(a, e0, available, reserved) := _answer(
	"deny", "capacity_reserved", "The capacity you asked for is reserved for others in your organization.",
	e0, a.matched, _or(a.unit, unit), false, available, max([0, available - usage]), reserved,
) if {
	not _fits(available)
	_fits(e0.q)
}

_judge(a, e0, available, reserved) := _answer(
	"deny", "ceiling_exceeded", "This request would exceed your quota.",
	e0, a.matched, _or(a.unit, unit), false, available, max([0, available - usage]), reserved,
) if {
	not _fits(available)
	not _fits(e0.q)
}

_judge(a, e0, available, reserved) := _answer(
	"warn", "near_limit", "This request is allowed, but you are close to your quota.",
	e0, a.matched, _or(a.unit, unit), false, available, (available - usage) - requested, reserved,
) if {
	_fits(available)
	(usage + requested) * 100 > available * warn_threshold
}

_judge(a, e0, available, reserved) := _answer(
	"allow", "within_ceiling", "This request is within your quota.",
	e0, a.matched, _or(a.unit, unit), false, available, (available - usage) - requested, reserved,
) if {
	_fits(available)
	(usage + requested) * 100 <= available * warn_threshold
}

_expired_decision := _answer(
	"deny", "principal_expired", "This API key or account has expired.",
	a.eff[0], a.matched, _or(a.unit, unit), false, null, null, 0,
) if {
	a := _usage_along
}

# The answer: an error as {"error": {code, message}}, else the decision.
decision := _err("invalid_decision_input", input_error) if {
	input_error
} else := _err("invalid_window", "current_usage.scope_window must be empty, minute, hour, day, month or request") if {
	not usage_window in _valid_windows
} else := _err("unknown_scope", "the scope does not exist") if {
	not chain
} else := _err("chain_too_deep", "chains deeper than 12 scopes are not ported") if {
	count(chain) > _max_depth
} else := _err("hierarchy_mismatch", "the project does not belong to that organization or department") if {
	not _on_chain(scope_key("organization", organization_id))
} else := _err("hierarchy_mismatch", "the project does not belong to that organization or department") if {
	department_id != ""
	not _on_chain(scope_key("department", department_id))
} else := _err("unknown_registry_entry", "the quota_dimension is not registered") if {
	not dim_entry
} else := _err("unknown_registry_entry", "the product is not registered") if {
	product_id != ""
	not rm.registry.product[product_id]
} else := _err("unknown_registry_entry", "the resource_type is not registered") if {
	resource_type != ""
	not rm.registry.resource_type[resource_type]
} else := _err("unit_mismatch", concat(" ", ["the dimension is measured in", unit])) if {
	_unit_given(request_unit)
} else := _err("unit_mismatch", concat(" ", ["the dimension is measured in", unit])) if {
	_unit_given(usage_unit)
} else := _err("registry_version_mismatch", "the registry changed since the version the caller pinned") if {
	_pin_mismatch
} else := _expired_decision if {
	_expired
} else := _per_request_decision if {
	_capped
} else := _per_request_decision if {
	usage_window == "request"
} else := _usage_decision
