#include "adapters/memory/event_store.h"
#include <algorithm>

#include <cstdio>

#include "commands/idempotency.h"
#include "events/codec/json_codec.h"

namespace ledger::adapters::memory {

std::optional<domain::Error> InMemoryEventStore::take_failure() {
  auto f = std::move(failure_);
  failure_.reset();
  return f;
}

void InMemoryEventStore::fail_next(domain::Error e) {
  std::lock_guard lock(mu_);
  failure_ = std::move(e);
}

domain::Result<std::uint64_t> InMemoryEventStore::acquire_writer() {
  std::lock_guard lock(mu_);
  if (auto f = take_failure()) return std::unexpected(*f);
  return 1;
}

domain::Result<std::vector<events::Envelope>> InMemoryEventStore::read_stream(const std::string& stream_id) {
  std::lock_guard lock(mu_);
  if (auto f = take_failure()) return std::unexpected(*f);
  std::vector<events::Envelope> out;
  for (const auto& r : events_) {
    if (r.meta.stream_id != stream_id) continue;
    auto env = codec::decode(r);
    if (!env) return domain::fail(domain::ErrorKind::kInternal, "undecodable_event", env.error());
    out.push_back(std::move(*env));
  }
  return out;
}

domain::Result<std::vector<events::Envelope>> InMemoryEventStore::read_by_types(std::span<const std::string> types,
                                                                                events::GlobalPosition after_position,
                                                                                std::size_t limit) {
  std::lock_guard lock(mu_);
  if (auto f = take_failure()) return std::unexpected(*f);
  std::vector<events::Envelope> out;
  for (const auto& r : events_) {
    if (out.size() >= limit) break;
    if (r.meta.global_position <= after_position ||
        std::find(types.begin(), types.end(), r.event_type) == types.end()) {
      continue;
    }
    auto env = codec::decode(r);
    if (!env) return domain::fail(domain::ErrorKind::kInternal, "undecodable_event", env.error());
    out.push_back(std::move(*env));
  }
  return out;
}

domain::Result<std::vector<std::optional<commands::CommandOutcome>>> InMemoryEventStore::find_outcomes(
    std::span<const commands::IdempotencyKey> keys) {
  std::lock_guard lock(mu_);
  if (auto f = take_failure()) return std::unexpected(*f);
  std::vector<std::optional<commands::CommandOutcome>> out;
  for (const auto& key : keys) {
    auto it = outcomes_.find(key);
    out.push_back(it == outcomes_.end() ? std::nullopt : std::optional(it->second));
  }
  return out;
}

domain::Result<std::vector<commands::CommandOutcome>> InMemoryEventStore::append(
    std::span<const commands::StreamAppend> batch) {
  std::lock_guard lock(mu_);
  if (auto f = take_failure()) return std::unexpected(*f);
  std::vector<events::RecordedEvent> staged;
  std::vector<commands::CommandOutcome> outcomes;
  std::vector<commands::IdempotencyKey> keys;
  std::map<std::string, events::StreamVersion> versions;
  for (const auto& r : events_) versions[r.meta.stream_id] = r.meta.stream_version;
  events::GlobalPosition position{static_cast<std::int64_t>(events_.size())};
  std::string prev = events_.empty() ? events::kGenesisHash : events_.back().hash;
  const auto now = clock_.now();
  std::uint64_t ids = id_counter_;
  for (const auto& a : batch) {
    if (versions[a.stream_id] != a.expected_version) {
      return domain::fail(domain::ErrorKind::kAborted, "stream_version_conflict", "stream moved on");
    }
    const auto key = commands::outcome_key(a);
    if (outcomes_.contains(key) || std::find(keys.begin(), keys.end(), key) != keys.end()) {
      // The primary key of ledger.command_outcomes refuses it the same way.
      return domain::fail(domain::ErrorKind::kAborted, "duplicate_outcome", "command outcome already recorded");
    }
    keys.push_back(key);
    commands::CommandOutcome o{a.meta.command_id,  a.stream_id,    {},       a.position_if_empty,
                               a.expected_version, a.request_hash, position, now};
    for (const auto& ev : a.events) {
      events::EventMeta m = a.meta;
      position = position.next();
      m.global_position = position;
      m.stream_id = a.stream_id;
      auto& version = versions[a.stream_id];
      version = version.next();
      m.stream_version = version;
      char id[40];
      std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012llx", static_cast<unsigned long long>(++ids));
      m.event_id = id;
      m.recorded_at = now;
      auto r = codec::record(std::move(m), ev, prev);
      prev = r.hash;
      o.event_ids.push_back(r.meta.event_id);
      o.position = r.meta.global_position;
      o.stream_version = r.meta.stream_version;
      staged.push_back(std::move(r));
    }
    outcomes.push_back(std::move(o));
  }
  events_.insert(events_.end(), staged.begin(), staged.end());
  for (std::size_t i = 0; i < outcomes.size(); ++i) outcomes_[keys[i]] = outcomes[i];
  id_counter_ = ids;
  return outcomes;
}

commands::ChainHead InMemoryEventStore::chain_head() const {
  std::lock_guard lock(mu_);
  if (events_.empty()) return {};
  return {events_.back().meta.global_position, events_.back().hash};
}

std::vector<events::RecordedEvent> InMemoryEventStore::all() const {
  std::lock_guard lock(mu_);
  return events_;
}

domain::Result<events::GlobalPosition> InMemoryReadModelStore::checkpoint(std::string_view projection) {
  std::lock_guard lock(mu_);
  auto it = checkpoints_.find(projection);
  return it == checkpoints_.end() ? events::GlobalPosition{} : it->second;
}

domain::Result<void> InMemoryReadModelStore::commit(std::string_view projection,
                                                    std::span<const projections::RowOp> ops,
                                                    events::GlobalPosition from, events::GlobalPosition to) {
  std::lock_guard lock(mu_);
  auto it = checkpoints_.find(projection);
  if ((it == checkpoints_.end() ? events::GlobalPosition{} : it->second) != from) {
    return domain::fail(domain::ErrorKind::kAborted, "checkpoint_moved", "checkpoint moved");
  }
  for (const auto& op : ops) {
    auto& table = tables_[op.table];
    if (op.remove)
      table.erase(op.key);
    else
      table[op.key] = op.values;
  }
  checkpoints_[std::string(projection)] = to;
  return {};
}

std::map<std::string, InMemoryReadModelStore::Table> InMemoryReadModelStore::tables() const {
  std::lock_guard lock(mu_);
  return tables_;
}

}  // namespace ledger::adapters::memory
