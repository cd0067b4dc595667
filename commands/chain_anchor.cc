#include "commands/chain_anchor.h"

namespace ledger::commands {

ChainAnchor::ChainAnchor(EventStore& store, const ChainHeadSource& head, Clock& clock, codec::ChainSigningKey key,
                         Options options)
    : store_(store), head_(head), clock_(clock), key_(std::move(key)), options_(std::move(options)) {}

domain::Result<void> ChainAnchor::reload(std::chrono::steady_clock::time_point now) {
  auto anchors = store_.read_stream(kChainAnchorStream);
  if (!anchors) return std::unexpected(anchors.error());
  stream_version_ = events::StreamVersion{static_cast<std::int64_t>(anchors->size())};
  last_anchor_position_ = anchors->empty() ? events::GlobalPosition{} : anchors->back().meta.global_position;
  // The time trigger counts from when this instance became the writer.
  last_anchor_time_ = now;
  return {};
}

void ChainAnchor::maybe_anchor(std::uint64_t epoch, std::chrono::steady_clock::time_point now) {
  if (epoch_ != epoch) {
    if (auto ok = reload(now); !ok) {
      if (options_.on_anchor) options_.on_anchor({{}, {}, ok.error()});
      return;  // tried again on the next call
    }
    epoch_ = epoch;
  }
  const ChainHead head = head_.chain_head();
  // The anchor event itself needs no signature of its own: it is covered by
  // the next one, like every event after it.
  const std::int64_t unsigned_events = head.position.value - last_anchor_position_.value;
  if (unsigned_events <= 0) return;
  const bool by_count = options_.every_events > 0 && unsigned_events >= options_.every_events;
  const bool by_time = options_.every.count() > 0 && now - last_anchor_time_ >= options_.every;
  if (!by_count && !by_time) return;

  events::ChainHeadSigned signed_head{head.position.value, head.hash, key_.key_id(), codec::kChainSignatureAlgorithm,
                                      key_.sign(codec::chain_head_statement(head.position.value, head.hash))};
  StreamAppend a;
  a.stream_id = kChainAnchorStream;
  a.expected_version = stream_version_;
  // Nobody can predict (or squat) this id without the private key, and a
  // repeat of the same head by the same key yields the same id.
  a.meta.command_id = "chain-anchor:" + std::to_string(head.position.value) + ":" + signed_head.signature.substr(0, 32);
  a.meta.correlation_id = a.meta.command_id;
  a.meta.actor = events::Actor{"worker", "chain-anchor", {"system"}};
  a.meta.tenant = "platform";
  a.meta.occurred_at = clock_.now();
  a.events.emplace_back(std::move(signed_head));
  auto appended = store_.append(std::span<const StreamAppend>(&a, 1));
  if (!appended) {
    epoch_.reset();  // reload: the append may have failed because another writer took over
    if (options_.on_anchor) options_.on_anchor({head.position, {}, appended.error()});
    return;
  }
  stream_version_ = appended->front().stream_version;
  last_anchor_position_ = appended->front().position;
  last_anchor_time_ = now;
  if (options_.on_anchor) options_.on_anchor({head.position, last_anchor_position_, std::nullopt});
}

}  // namespace ledger::commands
