// A brute-force evaluation of seed 001's rules, written straight from their
// text (README "Admission core") over the accepted admission events, with no
// model and no read model: what every faster path is checked against.
// Header-only; test code only.
#pragma once

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "events/event.h"

namespace ledger::testing {

class BruteForce {
 public:
  static constexpr std::int64_t kUnlimited = std::numeric_limits<std::int64_t>::max();
  using Scope = events::QuotaScope;
  using L = events::QuotaLevel;

  // Every accepted event in global order; only the gpu-style dimension
  // `dimension` with no region or SKU is evaluated, in the standing window
  // ("") and the per-request window ("request").
  BruteForce(const std::vector<events::Event>& history, std::string dimension) : dimension_(std::move(dimension)) {
    for (const auto& ev : history) apply(ev);
  }
  // One more accepted event, in global order.
  void add(const events::Event& ev) { apply(ev); }

  // README "Capacity per reservation state": active and exhausted hold their
  // quantity over [start, end); nothing else holds.
  static bool holds(const std::string& state) { return state == "active" || state == "exhausted"; }

  // The recorded state of reservation `id` ("" when unknown), and its window.
  std::string state(const std::string& id) const {
    auto it = reservations_.find(id);
    return it == reservations_.end() ? "" : it->second.state;
  }
  std::pair<events::Instant, events::Instant> window(const std::string& id) const {
    const auto& r = reservations_.at(id);
    return {r.start, r.end};
  }
  // Every reservation id of the dimension.
  std::vector<std::string> reservation_ids() const {
    std::vector<std::string> out;
    for (const auto& [id, _] : reservations_) out.push_back(id);
    return out;
  }

  // Whether reservation `id` fits when activated (or resumed) at `now`: under
  // every scope s from its owner up to the organization whose effective
  // ceiling is not below the owner's, its quantity plus what the other
  // reservations under s hold, at every instant t of [max(start, now), end),
  // is at most effective(s). The instants tried are every window edge.
  bool fits(const std::string& id, events::Instant now) const {
    const Reservation& r = reservations_.at(id);
    const std::int64_t e0 = effective(r.owner);
    const events::Instant from{std::max(r.start.micros, now.micros)};
    std::set<std::int64_t> instants = {from.micros};
    for (const auto& [_, o] : reservations_) {
      for (const std::int64_t t : {o.start.micros, o.end.micros}) {
        if (t >= from.micros && t < r.end.micros) instants.insert(t);
      }
    }
    for (std::optional<Scope> s = r.owner; s && s->level != L::kPlan; s = parent(*s)) {
      const std::int64_t e = effective(*s);
      if (e == kUnlimited || e < e0) continue;
      for (const std::int64_t t : instants) {
        std::int64_t sum = r.quantity;
        for (const auto& [oid, o] : reservations_) {
          if (oid == id || !holds(o.state) || t < o.start.micros || t >= o.end.micros) continue;
          if (ancestor_or_self(*s, o.owner)) sum += o.quantity;
        }
        if (sum > e) return false;
      }
    }
    return true;
  }

  // effective(n) by the recursive definition, of the standing window ("")
  // or the per-request one ("request"); kUnlimited when nothing binds.
  std::int64_t effective(const Scope& s, const std::string& window = "") const {
    std::optional<std::int64_t> own;
    if (auto w = ceilings_.find(window); w != ceilings_.end()) {
      for (const auto& [key, q] : w->second) {
        if (key.first == s) own = std::min(own.value_or(q), q);
      }
    }
    if (own) return std::min(*own, allowed(s, window));
    auto p = parent(s);
    return p ? effective(*p, window) : kUnlimited;
  }

  // The per-request cap of requester n0: the most one request may ask for.
  std::int64_t request_cap(const Scope& n0) const { return effective(n0, "request"); }

  // The reason code of a decision (the seed's contract as the README has it).
  std::string reason(const Scope& n0, std::int64_t usage, std::int64_t delta, events::Instant now,
                     std::int64_t warn_percent = 80) const {
    if (delta > request_cap(n0)) return "request_ceiling_exceeded";
    if (effective(n0) == kUnlimited) return "no_ceiling";
    const std::string d = decide(n0, usage, delta, now, warn_percent);
    if (d == "allow") return "within_ceiling";
    if (d == "warn") return "near_limit";
    return usage + delta > effective(n0) ? "ceiling_exceeded" : "capacity_reserved";
  }

  // allow | warn | deny for `usage + delta` at requester `n0` at `now`: a
  // request above its per-request cap is denied whatever the usage.
  std::string decide(const Scope& n0, std::int64_t usage, std::int64_t delta, events::Instant now,
                     std::int64_t warn_percent = 80) const {
    if (delta > request_cap(n0)) return "deny";
    const std::int64_t e0 = effective(n0);
    if (e0 == kUnlimited) return "allow";
    std::int64_t available = e0;
    for (std::optional<Scope> s = n0; s && s->level != L::kPlan; s = parent(*s)) {
      const std::int64_t e = effective(*s);
      if (e == kUnlimited || e < e0) continue;
      std::int64_t reserved = 0;
      for (const auto& [id, r] : reservations_) {
        if (!holds(r.state) || now < r.start || now >= r.end) continue;
        if (ancestor_or_self(r.owner, n0)) continue;  // the requester's own, or an ancestor's
        if (!ancestor_or_self(*s, r.owner)) continue;
        reserved += r.quantity;
      }
      available = std::min(available, std::max<std::int64_t>(0, e - reserved));
    }
    if (usage + delta > available) return "deny";
    if ((usage + delta) * 100 > available * warn_percent) return "warn";
    return "allow";
  }

 private:
  struct Reservation {
    Scope owner;
    std::int64_t quantity = 0;
    events::Instant start, end;
    std::string state = "draft";
  };

  std::optional<Scope> parent(const Scope& s) const {
    if (s.level == L::kGlobal) return std::nullopt;
    if (s.level == L::kPlan) return Scope{L::kGlobal, ""};
    return parents_.at(s);
  }
  bool ancestor_or_self(const Scope& a, const Scope& s) const {
    for (std::optional<Scope> x = s; x; x = parent(*x)) {
      if (*x == a) return true;
    }
    return false;
  }
  std::int64_t allowed(const Scope& s, const std::string& window) const {
    auto p = parent(s);
    if (!p) return kUnlimited;
    if (auto d = delegations_.find(*p); d != delegations_.end()) return std::min(d->second, allowed(*p, window));
    return effective(*p, window);
  }

  void apply(const events::Event& ev) {
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, events::OrganizationCreated>) {
            parents_[{L::kOrganization, e.organization_id}] = {L::kPlan, e.plan_id};
            parents_[{L::kDepartment, e.default_department_id}] = {L::kOrganization, e.organization_id};
          } else if constexpr (std::is_same_v<T, events::OrganizationPlanChanged>) {
            parents_[{L::kOrganization, e.organization_id}] = {L::kPlan, e.plan_id};
          } else if constexpr (std::is_same_v<T, events::DepartmentCreated> ||
                               std::is_same_v<T, events::DepartmentMoved>) {
            parents_[{L::kDepartment, e.department_id}] = e.parent_department_id.empty()
                                                              ? Scope{L::kOrganization, e.organization_id}
                                                              : Scope{L::kDepartment, e.parent_department_id};
          } else if constexpr (std::is_same_v<T, events::ProjectCreated> || std::is_same_v<T, events::ProjectMoved>) {
            parents_[{L::kProject, e.project_id}] = {L::kDepartment, e.department_id};
          } else if constexpr (std::is_same_v<T, events::PrincipalCreated>) {
            parents_[{L::kPrincipal, e.principal_id}] = {L::kProject, e.project_id};
          } else if constexpr (std::is_same_v<T, events::CeilingSet>) {
            if (plain(e.target)) ceilings_[e.target.window][{e.scope, e.rule_id}] = e.quantity;
          } else if constexpr (std::is_same_v<T, events::CeilingCleared>) {
            ceilings_[e.target.window].erase({e.scope, e.rule_id});
          } else if constexpr (std::is_same_v<T, events::CeilingDelegated>) {
            if (e.dimension == dimension_) delegations_[e.scope] = e.max_quantity.value_or(kUnlimited);
          } else if constexpr (std::is_same_v<T, events::CeilingDelegationRevoked>) {
            if (e.dimension == dimension_) delegations_.erase(e.scope);
          } else if constexpr (std::is_same_v<T, events::ReservationDrafted>) {
            if (e.dimension == dimension_)
              reservations_[e.reservation_id] = {e.owner, e.quantity, e.window_start, e.window_end};
          } else if constexpr (std::is_same_v<T, events::ReservationStateChanged>) {
            if (auto r = reservations_.find(e.reservation_id); r != reservations_.end()) r->second.state = e.state;
          }
        },
        ev);
  }
  bool plain(const events::CeilingTarget& t) const {
    return t.dimension == dimension_ && (t.window.empty() || t.window == "request") && t.region.empty() &&
           t.sku_or_model.empty();
  }

  std::string dimension_;
  std::map<Scope, Scope> parents_;
  std::map<std::string, std::map<std::pair<Scope, std::string>, std::int64_t>> ceilings_;  // by window
  std::map<Scope, std::int64_t> delegations_;
  std::map<std::string, Reservation> reservations_;
};

}  // namespace ledger::testing
