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
  // `dimension` with no window, region or SKU is evaluated.
  BruteForce(const std::vector<events::Event>& history, std::string dimension) : dimension_(std::move(dimension)) {
    for (const auto& ev : history) apply(ev);
  }

  // effective(n) by the recursive definition; kUnlimited when nothing binds.
  std::int64_t effective(const Scope& s) const {
    std::optional<std::int64_t> own;
    for (const auto& [key, q] : ceilings_) {
      if (key.first == s) own = std::min(own.value_or(q), q);
    }
    if (own) return std::min(*own, allowed(s));
    auto p = parent(s);
    return p ? effective(*p) : kUnlimited;
  }

  // allow | warn | deny for `usage + delta` at requester `n0` at `now`.
  std::string decide(const Scope& n0, std::int64_t usage, std::int64_t delta, events::Instant now,
                     std::int64_t warn_percent = 80) const {
    const std::int64_t e0 = effective(n0);
    if (e0 == kUnlimited) return "allow";
    std::int64_t available = e0;
    for (std::optional<Scope> s = n0; s && s->level != L::kPlan; s = parent(*s)) {
      const std::int64_t e = effective(*s);
      if (e == kUnlimited || e < e0) continue;
      std::int64_t reserved = 0;
      for (const auto& [id, r] : reservations_) {
        if (r.state != "active" || now < r.start || now >= r.end) continue;
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
  std::int64_t allowed(const Scope& s) const {
    auto p = parent(s);
    if (!p) return kUnlimited;
    if (auto d = delegations_.find(*p); d != delegations_.end()) return std::min(d->second, allowed(*p));
    return effective(*p);
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
          } else if constexpr (std::is_same_v<T, events::DepartmentCreated> || std::is_same_v<T, events::DepartmentMoved>) {
            parents_[{L::kDepartment, e.department_id}] =
                e.parent_department_id.empty() ? Scope{L::kOrganization, e.organization_id}
                                               : Scope{L::kDepartment, e.parent_department_id};
          } else if constexpr (std::is_same_v<T, events::ProjectCreated> || std::is_same_v<T, events::ProjectMoved>) {
            parents_[{L::kProject, e.project_id}] = {L::kDepartment, e.department_id};
          } else if constexpr (std::is_same_v<T, events::PrincipalCreated>) {
            parents_[{L::kPrincipal, e.principal_id}] = {L::kProject, e.project_id};
          } else if constexpr (std::is_same_v<T, events::CeilingSet>) {
            if (plain(e.target)) ceilings_[{e.scope, e.rule_id}] = e.quantity;
          } else if constexpr (std::is_same_v<T, events::CeilingCleared>) {
            ceilings_.erase({e.scope, e.rule_id});
          } else if constexpr (std::is_same_v<T, events::CeilingDelegated>) {
            if (e.dimension == dimension_) delegations_[e.scope] = e.max_quantity.value_or(kUnlimited);
          } else if constexpr (std::is_same_v<T, events::CeilingDelegationRevoked>) {
            if (e.dimension == dimension_) delegations_.erase(e.scope);
          } else if constexpr (std::is_same_v<T, events::ReservationDrafted>) {
            if (e.dimension == dimension_) reservations_[e.reservation_id] = {e.owner, e.quantity, e.window_start, e.window_end};
          } else if constexpr (std::is_same_v<T, events::ReservationStateChanged>) {
            if (auto r = reservations_.find(e.reservation_id); r != reservations_.end()) r->second.state = e.state;
          }
        },
        ev);
  }
  bool plain(const events::CeilingTarget& t) const {
    return t.dimension == dimension_ && t.window.empty() && t.region.empty() && t.sku_or_model.empty();
  }

  std::string dimension_;
  std::map<Scope, Scope> parents_;
  std::map<std::pair<Scope, std::string>, std::int64_t> ceilings_;
  std::map<Scope, std::int64_t> delegations_;
  std::map<std::string, Reservation> reservations_;
};

}  // namespace ledger::testing
