// The query service's in-memory snapshot (projections/admission/
// admission_store.h), read through the read models' ports: what the
// PostgreSQL readers answer, from memory, with no statement.
//
//   auto snap = store.snapshot();               // one position for the request
//   projections::SnapshotReader read(snap);
//   auto reads = read.decision_reads(inputs, std::nullopt, "quota.warn_threshold_percent");
//
// A snapshot is one position: it answers at that position only. A call
// asking for another max_position is refused (kInternal: no route asks it);
// time travel is the stored read models' job.
// Given the store's shared snapshot, it holds it, so it stays valid while
// the store moves on.
#pragma once

#include <memory>

#include "projections/admission/admission_reader.h"
#include "projections/admission/admission_store.h"
#include "projections/policy_values/policy_value_reader.h"

namespace ledger::projections {

class SnapshotReader final : public AdmissionReader, public PolicyValueReader {
 public:
  // Holds `snapshot` while it reads it.
  explicit SnapshotReader(std::shared_ptr<const QuerySnapshot> snapshot)
      : owner_(std::move(snapshot)), snapshot_(owner_.get()) {}
  // Reads `snapshot`, which must outlive the reader.
  explicit SnapshotReader(const QuerySnapshot& snapshot) : snapshot_(&snapshot) {}

  const QuerySnapshot& snapshot() const { return *snapshot_; }

  // Both read models of a snapshot stand at its position.
  domain::Result<events::GlobalPosition> checkpoint() override { return snapshot_->position; }

  domain::Result<std::vector<DecisionRead>> decision_reads(std::span<const domain::DecisionInput> in,
                                                           std::optional<events::GlobalPosition> max_position,
                                                           const std::optional<std::string>& policy_key) override;
  domain::Result<CeilingSnapshot> effective_ceilings(const events::QuotaScope& scope,
                                                     const std::optional<std::string>& dimension,
                                                     std::optional<events::GlobalPosition> max_position) override;
  domain::Result<ReservationLookup> reservation(const std::string& organization_id, const std::string& reservation_id,
                                                std::optional<events::GlobalPosition> max_position) override;

  domain::Result<PolicySnapshot> policy_snapshot(const std::string& key, const domain::ScopeChain& chain,
                                                 std::optional<events::GlobalPosition> max_position) override;
  domain::Result<std::vector<std::string>> key_names(const std::string& prefix,
                                                     std::optional<events::GlobalPosition> max_position) override;

  // decision_reads() for one input, without the vector.
  DecisionRead decision_read(const domain::DecisionInput& in, const std::string* policy_key) const;

 private:
  // Refuses a max_position other than the snapshot's own.
  domain::Result<void> at_own_position(std::optional<events::GlobalPosition> max_position) const;

  std::shared_ptr<const QuerySnapshot> owner_;  // empty when borrowed
  const QuerySnapshot* snapshot_;
};

}  // namespace ledger::projections
