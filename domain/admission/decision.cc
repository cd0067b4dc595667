#include "domain/admission/decision.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "domain/admission/internal.h"

namespace ledger::domain {

using admission_internal::Along;
using admission_internal::Bound;
using admission_internal::err;
using admission_internal::evaluate_along;
using admission_internal::invalid;
using admission_internal::kUnlimited;
using admission_internal::overlaps;
using admission_internal::to_effective;
using admission_internal::unknown_registry;
using admission_internal::unknown_scope;

namespace {

// A decision's ceiling rules (DecisionSnapshot::rules or rule_refs).
using Rules = std::span<const CeilingRule* const>;

__extension__ using Wide = __int128;  // products of two quantities

// The request names a project on the snapshot's chain, the organization and
// department it gives are on that chain, and the dimension, product and
// resource type are registered; the units it gives are the dimension's.
// Returns the dimension's unit.
Result<std::string> check_references(const DecisionInput& in, const DecisionSnapshot& s) {
  if (s.chain.empty()) return unknown_scope(QuotaScope{QuotaLevel::kProject, in.hierarchy.project_id});
  auto on_chain = [&](QuotaLevel l, const std::string& id) {
    return std::any_of(s.chain.begin(), s.chain.end(),
                       [&](const ChainNode& n) { return n.scope.level == l && n.scope.id == id; });
  };
  if (!on_chain(QuotaLevel::kOrganization, in.hierarchy.organization_id) ||
      (!in.hierarchy.department_id.empty() && !on_chain(QuotaLevel::kDepartment, in.hierarchy.department_id))) {
    return fail(err(ErrorKind::kFailedPrecondition, "hierarchy_mismatch",
                    "the project does not belong to that organization or department")
                    .with("project", in.hierarchy.project_id));
  }
  if (!s.dimension) return unknown_registry("quota_dimension", in.request.dimension);
  if (!in.product.product_id.empty() && !s.product) return unknown_registry("product", in.product.product_id);
  if (!in.product.resource_type.empty() && !s.resource_type) {
    return unknown_registry("resource_type", in.product.resource_type);
  }
  std::string unit = s.dimension->attributes.contains("unit") ? s.dimension->attributes.at("unit") : "";
  for (const std::string* given : {&in.request.unit, &in.current_usage.unit}) {
    if (!given->empty() && *given != unit) {
      return fail(err(ErrorKind::kFailedPrecondition, "unit_mismatch", "the dimension is measured in " + unit)
                      .with("dimension", in.request.dimension)
                      .with("expected_unit", unit)
                      .with("given_unit", *given));
    }
  }
  return unit;
}

// Records the registry versions the decision read; a version the caller
// pinned that is no longer current refuses the decision.
Result<void> record_registry_versions(const DecisionInput& in, const DecisionSnapshot& s, DecisionOutput& out) {
  // Made in key order and handed to the map whole (no search, no move per entry).
  RegistryVersions::sequence_type versions;
  versions.reserve(5);
  auto put = [&versions](const char* kind, std::int64_t version) {
    versions.emplace_back(kind, std::to_string(version));
  };
  if (s.product) put("product", s.product->version);
  // check_references refused a decision without its dimension.
  // NOLINTNEXTLINE(bugprone-unchecked-optional-access)
  put("quota_dimension", s.dimension->version);
  if (s.resource_type) put("resource_type", s.resource_type->version);
  put("scope", s.chain.front().version);
  if (s.usage_unit) put("usage_unit", s.usage_unit->version);
  out.registry_versions.adopt_sequence(boost::container::ordered_unique_range, std::move(versions));
  for (const auto& [kind, pinned] : in.registry_versions) {
    auto it = out.registry_versions.find(kind);
    if (!pinned.empty() && it != out.registry_versions.end() && it->second != pinned) {
      return fail(err(ErrorKind::kAborted, "registry_version_mismatch",
                      "the registry changed since the version the caller pinned")
                      .with("registry_kind", kind)
                      .with("pinned", pinned)
                      .with("current", it->second));
    }
  }
  return {};
}

// Deny `principal_expired`, reporting the usage window's ceiling.
void deny_expired(const DecisionInput& in, const DecisionSnapshot& s, Rules rules, const std::string& unit,
                  DecisionOutput& out) {
  const CeilingTarget usage_target{in.request.dimension, in.current_usage.scope_window, in.request.region,
                                   in.request.sku_or_model};
  const Along a = evaluate_along(s.chain, rules, s.delegations, usage_target);
  out.effective = to_effective(a.effective[0], a);
  if (out.effective.unit.empty()) out.effective.unit = unit;
  out.decision = "deny";
  out.reason_code = "principal_expired";
  out.user_message = "This API key or account has expired.";
}

// The per-request cap: the effective `request`-window ceiling for the
// same dimension / region / SKU. It bounds requested_delta alone (usage,
// reservations and the warn threshold do not apply), so it can only deny;
// when it passes, the usage window decides exactly as without it. A
// request above its cap is denied whatever the usage window would say.
// Returns whether the cap decided (a deny, or scope_window `request`).
bool judge_per_request(const DecisionInput& in, const DecisionSnapshot& s, Rules rules, const std::string& unit,
                       DecisionOutput& out) {
  const bool per_request_window = in.current_usage.scope_window == kRequestWindow;
  // Only a `request`-window rule sets a cap (a delegation only bounds the
  // rules below it): with none in the snapshot, and usage asked for another
  // window, the cap cannot decide.
  if (!per_request_window && std::none_of(rules.begin(), rules.end(),
                                          [](const CeilingRule* r) { return r->target.window == kRequestWindow; })) {
    return false;
  }
  const CeilingTarget request_target{in.request.dimension, std::string(kRequestWindow), in.request.region,
                                     in.request.sku_or_model};
  // Its matched rules are copied out only when it decides.
  const Along ra = evaluate_along(s.chain, rules, s.delegations, request_target);
  const Bound cap = ra.effective[0];
  const std::int64_t requested = in.request.requested_delta;
  const bool capped = cap.from != nullptr;
  if ((capped && requested > cap.quantity) || per_request_window) {
    out.effective = to_effective(cap, ra);
    if (out.effective.unit.empty()) out.effective.unit = unit;
    out.per_request = true;
    out.reserved_for_others = 0;
    if (!capped) {
      // scope_window `request` with no request ceiling on the path.
      out.decision = "allow";
      out.reason_code = "no_ceiling";
      out.user_message = "No quota limits this request.";
    } else if (requested > cap.quantity) {
      out.decision = "deny";
      out.reason_code = "request_ceiling_exceeded";
      out.user_message = "This request asks for more than a single request may.";
      out.limit_remaining = cap.quantity;
    } else {
      out.decision = "allow";
      out.reason_code = "within_ceiling";
      out.user_message = "This request is within your quota.";
      out.limit_remaining = cap.quantity - requested;
    }
    return true;
  }
  return false;
}

// The usage window's ceiling less what others' reservations hold, against
// current usage plus the request: allow, warn near the limit, or deny.
void judge_usage_window(const DecisionInput& in, const DecisionSnapshot& s, Rules rules, Instant as_of,
                        const std::string& unit, DecisionOutput& out) {
  const CeilingTarget target{in.request.dimension, in.current_usage.scope_window, in.request.region,
                             in.request.sku_or_model};
  const Along a = evaluate_along(s.chain, rules, s.delegations, target);
  out.effective = to_effective(a.effective[0], a);
  if (out.effective.unit.empty()) out.effective.unit = unit;

  if (!out.effective.quantity) {
    out.decision = "allow";
    out.reason_code = "no_ceiling";
    out.user_message = "No quota limits this request.";
    return;
  }

  // Capacity reserved for others, under each scope of the chain that belongs
  // to the organization (reservations never cross organizations). A scope
  // holds a reservation when it is on the reservation's owner chain (owner
  // .. organization). Both chains are paths up the same tree, so the scopes
  // they share are the organization and, level by level downward, those on
  // which the two still agree: walked from the organization. A reservation
  // whose whole owner chain is shared is owned on the requester's own chain
  // (by the requester or above it): it holds nothing for others.
  boost::container::small_vector<std::int64_t, 8> reserved_under(s.chain.size(), 0);
  const auto organization = std::find_if(s.chain.begin(), s.chain.end(),
                                         [](const ChainNode& n) { return n.scope.level == QuotaLevel::kOrganization; });
  if (organization != s.chain.end()) {
    const auto top = static_cast<std::size_t>(organization - s.chain.begin());
    // By place id where the model made the slots and the chain's ids (the
    // list is of the request's dimension then); by name otherwise. The same
    // answer either way (AdmissionModel.ReservationSlotsDecideAsTheViewsDo).
    const auto slots = s.reservations.slots();
    const auto& places = s.chain_places;
    const bool by_id = !slots.empty() && places.size == s.chain.size();
    std::size_t i = 0;
    for (const auto& shared : s.reservations) {
      const std::size_t at = i++;
      if (by_id && slots[at].owner_count != 0) {
        const ReservationSlot& slot = slots[at];
        if (!slot.holds || as_of.micros < slot.window_start || as_of.micros >= slot.window_end) continue;
        // overlaps(), reading the view only when both name a region or SKU.
        if ((!slot.any_region && !target.region.empty() && shared->region != target.region) ||
            (!slot.any_sku && !target.sku_or_model.empty() && shared->sku_or_model != target.sku_or_model)) {
          continue;
        }
        const std::size_t owners = slot.owner_count;
        std::size_t shared_top = 0;
        while (shared_top < owners && shared_top <= top &&
               slot.owners[owners - 1 - shared_top] == places.ids[top - shared_top]) {
          ++shared_top;
        }
        if (shared_top == owners) continue;  // owned on the requester's chain
        for (std::size_t k = 0; k < shared_top; ++k) reserved_under[top - k] += slot.quantity;
        continue;
      }
      const ReservationView& r = *shared;
      if (r.dimension != target.dimension || !holds_at(r, as_of)) continue;
      if (!overlaps(r.region, target.region) || !overlaps(r.sku_or_model, target.sku_or_model)) continue;
      const auto& owners = r.owner_chain;
      std::size_t shared_top = 0;
      while (shared_top < owners.size() && shared_top <= top &&
             owners[owners.size() - 1 - shared_top] == s.chain[top - shared_top].scope) {
        ++shared_top;
      }
      if (shared_top == owners.size()) continue;  // owned on the requester's chain (or nowhere)
      for (std::size_t k = 0; k < shared_top; ++k) reserved_under[top - k] += r.quantity;
    }
  }
  std::int64_t available = kUnlimited;
  std::int64_t reserved_at_binding = 0;
  for (std::size_t i = 0; i < s.chain.size(); ++i) {
    const Bound& eff = a.effective[i];
    // A scope whose ceiling is below the requester's was delegated past: it
    // does not bind the requester, so neither do reservations under it.
    if (!eff.from || eff.quantity < a.effective[0].quantity) continue;
    const std::int64_t reserved = reserved_under[i];
    const std::int64_t avail = std::max<std::int64_t>(0, eff.quantity - reserved);
    if (avail < available) {
      available = avail;
      reserved_at_binding = reserved;
    }
  }
  out.available = available;
  out.reserved_for_others = reserved_at_binding;
  const std::int64_t usage = in.current_usage.quantity;
  const std::int64_t delta = in.request.requested_delta;
  const bool fits = usage <= available && delta <= available - usage;
  if (!fits) {
    out.decision = "deny";
    const bool by_reservation = usage <= *out.effective.quantity && delta <= *out.effective.quantity - usage;
    out.reason_code = by_reservation ? "capacity_reserved" : "ceiling_exceeded";
    out.user_message = by_reservation ? "The capacity you asked for is reserved for others in your organization."
                                      : "This request would exceed your quota.";
    out.limit_remaining = std::max<std::int64_t>(0, available - usage);
    return;
  }
  out.limit_remaining = available - usage - delta;
  const std::int64_t after = usage + delta;
  // Compare in 128-bit: quotas near INT64_MAX must not overflow.
  if (static_cast<Wide>(after) * 100 > static_cast<Wide>(available) * s.warn_threshold_percent) {
    out.decision = "warn";
    out.reason_code = "near_limit";
    out.user_message = "This request is allowed, but you are close to your quota.";
  } else {
    out.decision = "allow";
    out.reason_code = "within_ceiling";
    out.user_message = "This request is within your quota.";
  }
}

}  // namespace

Result<void> validate_decision_input(const DecisionInput& in) {
  const std::string& type = in.actor.actor_type;
  if (!type.empty() && type != "user" && type != "service_account" && type != "api_key" && type != "worker") {
    return invalid("invalid_decision_input", "actor.actor_type must be user, service_account, api_key or worker");
  }
  if (in.hierarchy.organization_id.empty() || in.hierarchy.project_id.empty()) {
    return invalid("invalid_decision_input", "hierarchy.organization_id and hierarchy.project_id are required");
  }
  if (in.request.dimension.empty()) return invalid("invalid_decision_input", "request.dimension is required");
  if (in.request.requested_delta < 0) {
    return invalid("invalid_decision_input", "request.requested_delta must not be negative");
  }
  if (in.current_usage.quantity < 0) {
    return invalid("invalid_decision_input", "current_usage.quantity must not be negative");
  }
  if (!valid_window(in.current_usage.scope_window)) {
    return invalid("invalid_window", "current_usage.scope_window must be empty, minute, hour, day, month or request");
  }
  return {};
}

Result<DecisionOutput> decide_admission(const DecisionInput& in, const DecisionSnapshot& s, Instant as_of) {
  if (auto v = validate_decision_input(in); !v) return std::unexpected(v.error());
  const auto unit = check_references(in, s);
  if (!unit) return std::unexpected(unit.error());

  DecisionOutput out;
  if (auto ok = record_registry_versions(in, s, out); !ok) return std::unexpected(ok.error());
  out.snapshot_version = s.snapshot_version;
  out.correlation_id = in.correlation_id;

  // The rules as references, whether the snapshot owns them or refers.
  const std::vector<const CeilingRule*> owned =
      s.rule_refs.empty() ? admission_internal::refer_to(s.rules) : std::vector<const CeilingRule*>{};
  const Rules rules = s.rule_refs.empty() ? Rules(owned) : Rules(s.rule_refs);
  // An expired principal (API key, service account, user) is admitted to
  // nothing, whatever its ceilings would say.
  if (s.requester_expires_at && as_of >= *s.requester_expires_at) {
    deny_expired(in, s, rules, *unit, out);
    return out;
  }
  if (judge_per_request(in, s, rules, *unit, out)) return out;
  judge_usage_window(in, s, rules, as_of, *unit, out);
  return out;
}

std::vector<CeilingRule> rules_of(const DecisionSnapshot& s) {
  if (s.rule_refs.empty()) return s.rules;
  std::vector<CeilingRule> out;
  out.reserve(s.rule_refs.size());
  for (const CeilingRule* r : s.rule_refs) out.push_back(*r);
  return out;
}

}  // namespace ledger::domain
