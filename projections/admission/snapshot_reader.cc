#include "projections/admission/snapshot_reader.h"

#include <string>
#include <utility>

namespace ledger::domain {

// The model's every-dimension view of the rules and delegations at a scope
// (AdmissionModel answers one dimension at a time; the effective-ceilings
// route without `dimension` lists them all). Read-only.
struct AdmissionAccess {
  static std::vector<CeilingRule> rules_at(const AdmissionModel& m, const QuotaScope& s) {
    if (const auto* at = m.place(s)) return at->ceilings;
    return {};
  }
  static std::vector<Delegation> delegations_at(const AdmissionModel& m, const QuotaScope& s) {
    if (const auto* at = m.place(s)) return at->delegations;
    return {};
  }
};

}  // namespace ledger::domain

namespace ledger::projections {

using events::QuotaLevel;

domain::Result<void> SnapshotReader::at_own_position(std::optional<events::GlobalPosition> max_position) const {
  if (!max_position || *max_position == snapshot_->position) return {};
  // A caller's mistake, never a client's: no route sends a past position here.
  domain::Error e{domain::ErrorKind::kInternal,
                  "internal",
                  "the in-memory read model answers at its own position only; past positions are read from the "
                  "stored read models",
                  {}};
  e.with("max_position", max_position->value).with("snapshot_version", snapshot_->position.value);
  return std::unexpected(std::move(e));
}

DecisionRead SnapshotReader::decision_read(const domain::DecisionInput& in, const std::string* policy_key) const {
  const QuerySnapshot& s = *snapshot_;
  DecisionRead read;
  read.snapshot = s.admission.snapshot_for(in);
  read.snapshot.snapshot_version = s.position.value;
  if (!policy_key || read.snapshot.chain.empty()) return read;
  // As PgAdmissionQueries::decision_reads: the project asked for, the
  // organization and plan of the chain, no user.
  DecisionPolicyValue p;
  p.chain.project_id = in.hierarchy.project_id;
  for (const auto& n : read.snapshot.chain) {
    if (n.scope.level == QuotaLevel::kOrganization && p.chain.org_id.empty()) p.chain.org_id = n.scope.id;
    if (n.scope.level == QuotaLevel::kPlan) p.chain.plan = n.scope.id;
  }
  if (const auto* key = s.policy.key(*policy_key)) {
    p.key = *key;
    p.candidates = s.policy.candidates(*policy_key, p.chain);
  }
  read.policy = std::move(p);
  return read;
}

domain::Result<std::vector<DecisionRead>> SnapshotReader::decision_reads(
    std::span<const domain::DecisionInput> in, std::optional<events::GlobalPosition> max_position,
    const std::optional<std::string>& policy_key) {
  if (auto ok = at_own_position(max_position); !ok) return std::unexpected(std::move(ok.error()));
  std::vector<DecisionRead> out;
  out.reserve(in.size());
  for (const auto& one : in) out.push_back(decision_read(one, policy_key ? &*policy_key : nullptr));
  return out;
}

domain::Result<CeilingSnapshot> SnapshotReader::effective_ceilings(const events::QuotaScope& scope,
                                                                   const std::optional<std::string>& dimension,
                                                                   std::optional<events::GlobalPosition> max_position) {
  if (auto ok = at_own_position(max_position); !ok) return std::unexpected(std::move(ok.error()));
  const QuerySnapshot& s = *snapshot_;
  CeilingSnapshot out;
  out.snapshot_version = s.position.value;
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

domain::Result<ReservationLookup> SnapshotReader::reservation(const std::string& organization_id,
                                                              const std::string& reservation_id,
                                                              std::optional<events::GlobalPosition> max_position) {
  if (auto ok = at_own_position(max_position); !ok) return std::unexpected(std::move(ok.error()));
  const QuerySnapshot& s = *snapshot_;
  ReservationLookup out;
  out.snapshot_version = s.position.value;
  const auto* r = s.admission.reservation(organization_id, reservation_id);
  if (!r) return out;
  ReservationRecord rec;
  rec.view = s.admission.view_of(*r);
  rec.organization_id = r->drafted.organization_id;
  rec.kind = r->drafted.kind;
  rec.unit = r->drafted.unit;
  rec.attributes = r->drafted.attributes;
  rec.version = r->version;
  if (auto it = s.drafted_positions.find({organization_id, reservation_id}); it != s.drafted_positions.end())
    rec.drafted_position = it->second;
  out.reservation = std::move(rec);
  return out;
}

domain::Result<PolicySnapshot> SnapshotReader::policy_snapshot(const std::string& key, const domain::ScopeChain& chain,
                                                               std::optional<events::GlobalPosition> max_position) {
  if (auto ok = at_own_position(max_position); !ok) return std::unexpected(std::move(ok.error()));
  PolicySnapshot out;
  out.snapshot_version = snapshot_->position.value;
  const auto* def = snapshot_->policy.key(key);
  if (!def) return out;
  out.key = *def;
  out.candidates = snapshot_->policy.candidates(key, chain);
  return out;
}

domain::Result<std::vector<std::string>> SnapshotReader::key_names(const std::string& prefix,
                                                                   std::optional<events::GlobalPosition> max_position) {
  if (auto ok = at_own_position(max_position); !ok) return std::unexpected(std::move(ok.error()));
  return snapshot_->policy.key_names(prefix);
}

}  // namespace ledger::projections
