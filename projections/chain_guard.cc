#include "projections/chain_guard.h"

#include "events/codec/chain.h"
#include "events/codec/json_codec.h"

namespace ledger::projections {
namespace {

// How many admitted positions keep their hash for judging duplicates (a
// relay that restarts repeats at most its last batch).
constexpr std::size_t kRecent = 20000;

domain::Error store_broken(events::GlobalPosition position, const std::string& why) {
  domain::Error e{domain::ErrorKind::kInternal,
                  "store_chain_broken",
                  "the event store's own chain is broken at position " + std::to_string(position.value) + " (" + why +
                      "): run ledger-audit verify",
                  {}};
  e.with("position", position.value);
  return e;
}

std::string short_hash(const std::string& h) { return h.size() > 16 ? h.substr(0, 16) + "…" : h; }

}  // namespace

domain::Result<void> ChainGuard::anchor(events::GlobalPosition position) {
  recent_.clear();
  if (position <= events::GlobalPosition{}) {
    position_ = events::GlobalPosition{};
    hash_ = events::kGenesisHash;
    anchored_ = true;
    return {};
  }
  auto at = history_.read_after(events::GlobalPosition{position.value - 1}, 1);
  if (!at) return std::unexpected(at.error());
  if (at->empty() || at->front().meta.global_position != position) {
    return std::unexpected(store_broken(position, "the checkpoint's position is not in the store"));
  }
  position_ = position;
  hash_ = at->front().hash;
  recent_.emplace(position_, hash_);
  anchored_ = true;
  return {};
}

void ChainGuard::remember(const events::RecordedEvent& r) {
  position_ = r.meta.global_position;
  hash_ = r.hash;
  recent_.emplace_hint(recent_.end(), position_, hash_);
  while (recent_.size() > kRecent) recent_.erase(recent_.begin());
}

// Admits the store's events after the head up to `last` (a gap in what Kafka
// delivered, e.g. a record skipped as junk). Stops early at the store's head.
domain::Result<void> ChainGuard::fill_to(events::GlobalPosition last, Guarded& out) {
  while (position_ < last) {
    auto batch = history_.read_after(
        position_, static_cast<std::size_t>(std::min<std::int64_t>(last.value - position_.value, 1000)));
    if (!batch) return std::unexpected(batch.error());
    if (batch->empty()) return {};
    for (auto& r : *batch) {
      if (r.meta.global_position != position_.next()) return std::unexpected(store_broken(position_.next(), "missing"));
      if (auto fault = codec::verify_link(hash_, r)) {
        return std::unexpected(store_broken(r.meta.global_position, codec::link_fault_name(*fault)));
      }
      remember(r);
      out.events.push_back(std::move(r));
    }
  }
  return {};
}

domain::Result<void> ChainGuard::admit_from_store(events::GlobalPosition position, Guarded& out, ChainAlarm& alarm) {
  const std::size_t before = out.events.size();
  if (auto ok = fill_to(position, out); !ok) return ok;
  alarm.replaced = out.events.size() > before && position_ == position;
  return {};
}

domain::Result<Guarded> ChainGuard::admit(std::span<const FeedRecord> records) {
  Guarded out;
  if (!anchored_) {
    return std::unexpected(
        domain::Error{domain::ErrorKind::kInternal, "not_anchored", "the chain guard has no head", {}});
  }
  for (const auto& rec : records) {
    auto parsed = codec::recorded_from_text(rec.value);
    if (!parsed) {
      out.alarms.push_back({"junk_record", rec.offset, {}, false, "not an event envelope: " + parsed.error()});
      continue;
    }
    const events::RecordedEvent& r = *parsed;
    const events::GlobalPosition pos = r.meta.global_position;
    if (pos <= position_) {
      // A duplicate (the relay repeats after a restart): harmless when it is
      // the event admitted there.
      if (auto it = recent_.find(pos); it != recent_.end()) {
        if (it->second != r.hash) {
          out.alarms.push_back({"conflicting_duplicate", rec.offset, pos, false,
                                "hash " + short_hash(r.hash) + " differs from the applied " + short_hash(it->second)});
        }
      } else if (auto fault = codec::verify_link(r.prev_hash, r); fault) {
        out.alarms.push_back({codec::link_fault_name(*fault), rec.offset, pos, false, "an old position, not applied"});
      }
      continue;
    }
    if (pos > position_.next()) {
      if (pos.value - 1 - position_.value > max_fill_) {
        domain::Error e{domain::ErrorKind::kInternal, "position_gap", "an event is missing before this position", {}};
        e.with("checkpoint", position_.value).with("position", pos.value);
        return std::unexpected(std::move(e));
      }
      const events::GlobalPosition before{pos.value - 1};
      if (auto ok = fill_to(before, out); !ok) return std::unexpected(ok.error());
      if (position_ != before) {
        // The store ends before: no writer ever produced this position.
        out.alarms.push_back({"unknown_position", rec.offset, pos, false,
                              "beyond the event store's head " + std::to_string(position_.value)});
        continue;
      }
    }
    auto fault = codec::verify_link(hash_, r);
    if (!fault) {
      remember(r);
      out.events.push_back(std::move(*parsed));
      continue;
    }
    ChainAlarm alarm{codec::link_fault_name(*fault), rec.offset, pos, false,
                     "hash " + short_hash(r.hash) + ", prev_hash " + short_hash(r.prev_hash) + ", expected prev " +
                         short_hash(hash_)};
    if (auto ok = admit_from_store(pos, out, alarm); !ok) return std::unexpected(ok.error());
    if (!alarm.replaced) alarm.detail += "; the event store has no position " + std::to_string(pos.value) + " yet";
    out.alarms.push_back(std::move(alarm));
  }
  return out;
}

}  // namespace ledger::projections
