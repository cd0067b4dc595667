#include "projections/admission/admission_store.h"

#include <thread>

#include "events/codec/json_codec.h"

namespace ledger::projections {

void apply_to(QuerySnapshot& s, const events::Envelope& e) {
  s.admission.apply(e.meta.stream_id, e.event, {e.meta.global_position.value, e.meta.recorded_at, e.meta.actor.id});
  s.policy.apply(e);
  s.entitlements.apply(e);
  s.config.apply(e.meta, e.event);
  if (const auto* r = std::get_if<events::TokenRevoked>(&e.event)) {
    const bool by_principal = !r->principal_id.empty();
    s.revocations.emplace(r->tenant, by_principal ? "principal" : "token",
                          by_principal ? r->principal_id : r->token_id);
  }
  if (const auto* d = std::get_if<events::ReservationDrafted>(&e.event)) {
    s.drafted_positions[{d->organization_id, d->reservation_id}] = e.meta.global_position.value;
  }
  s.position = e.meta.global_position;
}

std::optional<std::string> QuerySnapshot::revocation(const std::string& tenant, const std::string& principal_id,
                                                     const std::optional<std::string>& token_id) const {
  if (revocations.contains({tenant, "principal", principal_id})) return "principal_revoked";
  if (token_id && !token_id->empty() && revocations.contains({tenant, "token", *token_id})) return "token_revoked";
  return std::nullopt;
}

AdmissionStore::AdmissionStore() : live_(std::make_shared<QuerySnapshot>()), spare_(std::make_shared<QuerySnapshot>()) {
  published_.store(live_, std::memory_order_release);
}

void AdmissionStore::wait_unshared(const std::shared_ptr<QuerySnapshot>& copy) const {
  // The writer's own handle is the only one left once every reader that
  // loaded this copy has answered; no new reader can load it (it is not
  // published). use_count is exact here: nobody else can copy it meanwhile.
  for (int spins = 0; copy.use_count() > 1; ++spins) {
    if (spins < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

void AdmissionStore::settle() {
  wait_unshared(spare_);
  for (const auto& e : pending_) apply_to(*spare_, e);
  spare_->admission.seal();
  pending_.clear();
  pending_.shrink_to_fit();
}

domain::Result<void> AdmissionStore::apply(std::span<const events::RecordedEvent> batch) {
  std::vector<events::Envelope> envs;
  envs.reserve(batch.size());
  for (const auto& r : batch) {
    if (r.meta.global_position <= position()) continue;
    auto env = codec::decode(r);
    if (!env) {
      domain::Error e{domain::ErrorKind::kInternal, "undecodable_event", env.error(), {}};
      e.with("position", r.meta.global_position.value).with("event_type", r.event_type);
      return std::unexpected(std::move(e));
    }
    envs.push_back(std::move(*env));
  }
  return apply(std::span<const events::Envelope>(envs));
}

domain::Result<void> AdmissionStore::apply(std::span<const events::Envelope> batch) {
  std::vector<events::Envelope> fresh;
  events::GlobalPosition at = position();
  for (const auto& e : batch) {
    const events::GlobalPosition pos = e.meta.global_position;
    if (pos <= at) continue;
    if (pos != at.next()) {
      domain::Error err{domain::ErrorKind::kInternal, "position_gap", "an event is missing before this position", {}};
      err.with("checkpoint", at.value).with("position", pos.value);
      return std::unexpected(std::move(err));
    }
    fresh.push_back(e);
    at = pos;
  }
  if (fresh.empty()) return {};
  // The spare copy: wait for its last readers, catch it up with what was
  // published last time, then with this batch.
  wait_unshared(spare_);
  for (const auto& e : pending_) apply_to(*spare_, e);
  for (const auto& e : fresh) apply_to(*spare_, e);
  spare_->admission.seal();
  spare_->position = at;
  published_.store(spare_, std::memory_order_release);
  std::swap(live_, spare_);
  pending_ = std::move(fresh);
  position_.store(at.value, std::memory_order_release);
  if (on_advance_) on_advance_(at);
  return {};
}

}  // namespace ledger::projections
