#include "adapters/http/routes/memory_reads.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include "adapters/http/routes/http_json.h"

namespace ledger::domain {

// The model's every-dimension view of the rules and delegations at a scope
// (AdmissionModel answers one dimension at a time; the effective-ceilings
// route without `dimension` lists them all). Read-only.
struct AdmissionAccess {
  static std::vector<CeilingRule> rules_at(const AdmissionModel& m, const QuotaScope& s) {
    std::vector<CeilingRule> out;
    if (auto it = m.ceilings_.find(s); it != m.ceilings_.end()) {
      for (const auto& [id, r] : it->second) out.push_back(r);
    }
    return out;
  }
  static std::vector<Delegation> delegations_at(const AdmissionModel& m, const QuotaScope& s) {
    std::vector<Delegation> out;
    if (auto it = m.delegations_.find(s); it != m.delegations_.end()) {
      for (const auto& [dimension, d] : it->second) out.push_back(d);
    }
    return out;
  }
};

}  // namespace ledger::domain

namespace ledger::routes {

using adapters::http::HttpResponse;
using events::QuotaLevel;

namespace {

HttpResponse not_ready(std::int64_t position, std::int64_t needed, const std::string& message) {
  auto r = error_response({domain::ErrorKind::kUnavailable, "snapshot_not_ready", message, {}});
  auto body = nlohmann::json::parse(r.body);
  body["snapshot_version"] = position;
  body["min_position"] = needed;
  r.body = body.dump();
  return r;
}

}  // namespace

std::expected<std::shared_ptr<const projections::QuerySnapshot>, HttpResponse> memory_snapshot(
    const projections::AdmissionStore& store, const Consistency& c,
    const std::function<domain::Result<std::int64_t>()>& head) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(c.wait_ms);
  if (!store.ready() && c.min_position > 0) {
    // A reader that asked for a position waits for it (up to wait_ms), a
    // model still catching up after a start included; one that did not ask
    // is told at once. (A position beyond the head is refused below, once
    // the store is ready: the wait is bounded either way.)
    while (!store.ready() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (!store.ready()) {
    // Never an answer from a model that has not caught up with the ledger.
    return std::unexpected(not_ready(store.position(), c.min_position,
                                     "the in-memory read model is still catching up with the ledger; retry"));
  }
  if (c.min_position > store.position()) {
    Consistency wait = c;
    wait.as_of_position.reset();
    wait.wait_ms = std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (auto answer = await_snapshot(wait, head, [&]() -> domain::Result<std::int64_t> { return store.position(); })) {
      return std::unexpected(std::move(*answer));
    }
  }
  return store.snapshot();
}

adapters::postgres::DecisionRead decision_read(const projections::QuerySnapshot& s, const domain::DecisionInput& in,
                                               const std::string& policy_key) {
  adapters::postgres::DecisionRead read;
  read.snapshot = s.admission.snapshot_for(in);
  read.snapshot.snapshot_version = s.position;
  if (read.snapshot.chain.empty()) return read;
  // As decision_reads: the project asked for, the organization and plan of the chain, no user.
  adapters::postgres::DecisionPolicyValue p;
  p.chain.project_id = in.hierarchy.project_id;
  for (const auto& n : read.snapshot.chain) {
    if (n.scope.level == QuotaLevel::kOrganization && p.chain.org_id.empty()) p.chain.org_id = n.scope.id;
    if (n.scope.level == QuotaLevel::kPlan) p.chain.plan = n.scope.id;
  }
  if (const auto* key = s.policy.key(policy_key)) {
    p.key = *key;
    p.candidates = s.policy.candidates(policy_key, p.chain);
  }
  read.policy = std::move(p);
  return read;
}

adapters::postgres::CeilingSnapshot ceiling_snapshot(const projections::QuerySnapshot& s,
                                                     const events::QuotaScope& scope,
                                                     const std::optional<std::string>& dimension) {
  adapters::postgres::CeilingSnapshot out;
  out.snapshot_version = s.position;
  out.chain = s.admission.chain(scope);
  for (const auto& n : out.chain) {
    for (auto& r : domain::AdmissionAccess::rules_at(s.admission, n.scope)) {
      if (!dimension || r.target.dimension == *dimension) out.rules.push_back(std::move(r));
    }
    for (auto& d : domain::AdmissionAccess::delegations_at(s.admission, n.scope)) {
      if (!dimension || d.dimension == *dimension) out.delegations.push_back(std::move(d));
    }
  }
  return out;
}

std::optional<adapters::postgres::ReservationRecord> reservation_record(const projections::QuerySnapshot& s,
                                                                        const std::string& organization_id,
                                                                        const std::string& id) {
  const auto* r = s.admission.reservation(organization_id, id);
  if (!r) return std::nullopt;
  adapters::postgres::ReservationRecord rec;
  rec.view = s.admission.view_of(*r);
  rec.organization_id = r->drafted.organization_id;
  rec.kind = r->drafted.kind;
  rec.unit = r->drafted.unit;
  rec.attributes = r->drafted.attributes;
  rec.version = r->version;
  if (auto it = s.drafted_positions.find({organization_id, id}); it != s.drafted_positions.end())
    rec.drafted_position = it->second;
  return rec;
}

void mark_read_model(HttpResponse& r, const char* source) {
  for (const auto& [name, value] : r.headers) {
    if (name == kReadModelHeader) return;
  }
  r.headers.emplace_back(kReadModelHeader, source);
}

}  // namespace ledger::routes
