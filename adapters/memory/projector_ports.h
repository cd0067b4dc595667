// In-memory ports of the projector (projections/projector.h) for unit
// tests: a topic with a consumer group's committed offset, and the committed
// history. The topic holds whatever a test puts there — duplicates, junk,
// forgeries — as `ledger.events` might. Not thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "events/codec/json_codec.h"
#include "projections/projector.h"

namespace ledger::adapters::memory {

class MemoryTopicFeed final : public projections::EventFeed {
 public:
  std::vector<std::string> topic;  // record values; the offset is the index
  std::size_t committed = 0;       // the group's offset: next record to deliver after a reset
  bool fail_next_poll = false;

  void publish(const events::RecordedEvent& e) { topic.push_back(codec::to_json_text(e)); }

  domain::Result<std::vector<projections::FeedRecord>> poll(std::size_t max, std::chrono::milliseconds) override {
    if (fail_next_poll) {
      fail_next_poll = false;
      cursor_.reset();
      return std::unexpected(domain::Error{
          .kind = domain::ErrorKind::kUnavailable, .code = "injected_failure", .message = "poll", .evidence = {}});
    }
    if (!cursor_) cursor_ = committed;
    std::vector<projections::FeedRecord> out;
    while (*cursor_ < topic.size() && out.size() < max) {
      out.push_back({static_cast<std::int64_t>(*cursor_), topic[*cursor_]});
      ++*cursor_;
    }
    return out;
  }
  domain::Result<void> commit() override {
    if (cursor_) committed = *cursor_;
    return {};
  }
  void reset() override { cursor_.reset(); }

 private:
  std::optional<std::size_t> cursor_;  // within a session
};

class MemoryHistory final : public projections::EventHistory {
 public:
  std::vector<events::RecordedEvent> committed;  // positions 1..n

  domain::Result<std::vector<events::RecordedEvent>> read_after(events::GlobalPosition after,
                                                                std::size_t limit) override {
    std::vector<events::RecordedEvent> out;
    for (const auto& e : committed) {
      if (e.meta.global_position > after && out.size() < limit) out.push_back(e);
    }
    return out;
  }
  domain::Result<events::GlobalPosition> head_position() override {
    return committed.empty() ? events::GlobalPosition{} : committed.back().meta.global_position;
  }
};

}  // namespace ledger::adapters::memory
