// The query service's in-memory read models (issue 12): the admission model
// (domain::AdmissionModel: hierarchy, ceiling rules, delegations,
// reservations, registry) and the policy values with their key catalog
// (projections/policy_values/policy_values_store.h), both at ONE position
// of the ledger. Decisions, effective ceilings and plain policy-value reads
// are answered from here without PostgreSQL; the PostgreSQL read models stay
// for listings, the audit view and `as_of_position` history.
//
//   AdmissionStore store;
//   store.apply(events_from_the_store_up_to_head);   // the start snapshot
//   store.mark_ready();                              // answers from now on
//   // the apply loop (adapters/projector/memory_feed.h), one thread:
//   store.apply(guarded_batch);                      // contiguous positions
//   // any reader thread, never blocked by the apply loop:
//   auto snap = store.snapshot();                    // shared_ptr<const QuerySnapshot>
//   auto in = snap->admission.snapshot_for(input);   // one consistent position
//
// Concurrency (left-right, no lock on the read path): the store keeps two
// copies of the models. Readers load the published copy with one atomic
// shared_ptr load and keep it for their answer; it never changes under
// them. apply() writes the OTHER copy — first the batch it published last
// time, then the new one — and swaps it in atomically. Before touching a
// copy the writer waits until no reader holds it any more (readers hold a
// copy for one answer, microseconds), so the apply loop may wait for
// readers, readers never wait for the apply loop. Each batch is applied
// twice (once per copy); memory is two models.
//
// Positions: apply() takes events in global order with no gap (what
// projections::ChainGuard admits); events at or below position() are
// skipped, a gap is refused (`position_gap`, nothing applied). position()
// is the `snapshot_version` of every answer. Each apply() calls the
// advance callback (set_on_advance) after publishing, from the apply
// thread: read-your-writes waits are woken by it.
//
// Thread-safety: apply(), mark_ready() and set_on_advance() from one thread
// (the apply loop); snapshot(), ready() and position() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "domain/admission.h"
#include "domain/config/config_model.h"
#include "domain/error.h"
#include "events/event.h"
#include "projections/entitlements/entitlements_view.h"
#include "projections/policy_values/policy_values_store.h"

namespace ledger::projections {

// One immutable view of the read models at `position`.
struct QuerySnapshot {
  events::GlobalPosition position;
  domain::AdmissionModel admission;
  PolicyValuesModel policy;
  domain::config::ConfigModel config;  // layered configuration (seed 004, projections/config/)
  // TokenRevoked, as the admission read model's token_revocations:
  // (tenant, "principal" | "token", principal or token id).
  std::set<std::tuple<std::string, std::string, std::string>> revocations;
  // The position of each reservation's (latest) ReservationDrafted.
  std::map<std::pair<std::string, std::string>, std::int64_t> drafted_positions;  // by (organization, id)
  // Plan entitlements (projections/entitlements/entitlements_view.h).
  EntitlementsView entitlements;

  // PgAdmissionQueries::revocation over `revocations`: "principal_revoked",
  // "token_revoked" or nullopt.
  std::optional<std::string> revocation(const std::string& tenant, const std::string& principal_id,
                                        const std::optional<std::string>& token_id) const;
};

class AdmissionStore {
 public:
  AdmissionStore();
  AdmissionStore(const AdmissionStore&) = delete;
  AdmissionStore& operator=(const AdmissionStore&) = delete;

  // The published snapshot (never null; position 0 before anything applied).
  std::shared_ptr<const QuerySnapshot> snapshot() const { return published_.load(std::memory_order_acquire); }
  events::GlobalPosition position() const { return events::GlobalPosition{position_.load(std::memory_order_acquire)}; }

  // Ready once the start snapshot reached the store's head at start; before
  // that every answer from memory is 503 `snapshot_not_ready`.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  void mark_ready() { ready_.store(true, std::memory_order_release); }
  // The apply loop failed beyond repair (an exception mid-batch): answer
  // 503 from now on rather than from a model that may be half applied.
  void mark_failed() { ready_.store(false, std::memory_order_release); }

  // Applies recorded events (decoded here); see the header comment.
  domain::Result<void> apply(std::span<const events::RecordedEvent> batch);
  // The same with envelopes already decoded (tests, benchmarks).
  domain::Result<void> apply(std::span<const events::Envelope> batch);

  // Brings the spare copy up to the published one now (after a large
  // start snapshot, so its events are not held until the next batch).
  void settle();

  void set_on_advance(std::function<void(events::GlobalPosition)> f) { on_advance_ = std::move(f); }

 private:
  void wait_unshared(const std::shared_ptr<QuerySnapshot>& copy) const;

  std::atomic<std::shared_ptr<const QuerySnapshot>> published_;
  std::shared_ptr<QuerySnapshot> live_;    // the copy published (the writer's handle)
  std::shared_ptr<QuerySnapshot> spare_;   // the other copy, behind by `pending_`
  std::vector<events::Envelope> pending_;  // published in live_, not yet in spare_
  std::atomic<std::int64_t> position_{0};
  std::atomic<bool> ready_{false};
  std::function<void(events::GlobalPosition)> on_advance_;
};

// Applies one envelope to both models (no position check).
void apply_to(QuerySnapshot& s, const events::Envelope& e);

}  // namespace ledger::projections
