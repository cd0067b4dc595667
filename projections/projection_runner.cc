#include "events/codec/json_codec.h"
#include "projections/projection.h"

namespace ledger::projections {

domain::Result<events::GlobalPosition> ProjectionRunner::checkpoint() {
  if (!checkpoint_) {
    auto c = store_.checkpoint(projection_.name());
    if (!c) return c;
    checkpoint_ = *c;
  }
  return *checkpoint_;
}

domain::Result<ApplyStats> ProjectionRunner::apply(std::span<const events::RecordedEvent> batch) {
  auto from = checkpoint();
  if (!from) return std::unexpected(from.error());
  ApplyStats stats;
  events::GlobalPosition to = *from;
  std::vector<RowOp> ops;
  for (const auto& r : batch) {
    const events::GlobalPosition pos = r.meta.global_position;
    if (pos <= to) {
      ++stats.skipped;
      continue;
    }
    if (pos != to.next()) {
      domain::Error e{domain::ErrorKind::kInternal, "position_gap", "an event is missing before this position", {}};
      e.with("projection", std::string(projection_.name())).with("checkpoint", to.value).with("position", pos.value);
      return std::unexpected(std::move(e));
    }
    auto env = codec::decode(r);
    if (!env) {
      domain::Error e{domain::ErrorKind::kInternal, "undecodable_event", env.error(), {}};
      e.with("position", pos.value).with("event_type", r.event_type);
      return std::unexpected(std::move(e));
    }
    auto rows = projection_.apply(*env);
    ops.insert(ops.end(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
    to = pos;
    ++stats.applied;
  }
  if (to != *from) {
    if (auto ok = store_.commit(projection_.name(), ops, *from, to); !ok) {
      checkpoint_.reset();  // re-read: another instance may have moved it
      return std::unexpected(ok.error());
    }
    checkpoint_ = to;
  }
  stats.checkpoint = to;
  return stats;
}

}  // namespace ledger::projections
