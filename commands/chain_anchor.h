// ChainAnchor: the single writer signs the head of the hash chain now and
// then, so that history cannot be rewritten without the private key (issue
// 10, item 11).
//
// A superuser can switch the append-only triggers off, edit an event and
// recompute every later hash: the chain then verifies again. What he cannot
// recompute is an Ed25519 signature. Every `every_events` unsigned events
// (default 1000), and at least every `every` (default 60 s) while some are
// unsigned, the writer signs codec::chain_head_statement(position, hash) of
// its head and appends the signature as a ChainHeadSigned event in the
// stream `chain-anchors` (events/chain_events.h says why an event and not a
// table). `ledger-audit verify --public-key` then finds that the signed head
// no longer matches the rewritten chain.
//
//   ChainAnchor anchor(store, store /* ChainHeadSource */, clock, key, {.every_events = 1000});
//   CommandService svc(store, clock, {.anchor = &anchor});   // the writer calls it
//
// Lifecycle and threads: owned by the process, called only from the command
// service's writer thread (after each group commit and on idle heartbeats)
// while the instance holds the writer lock. Its appends go through the same
// EventStore, i.e. the writer's own connection and lock. A failed append
// writes nothing and is retried on the next call; after a failover the new
// writer reloads the last anchor from the stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "commands/ports.h"
#include "domain/error.h"
#include "events/codec/chain.h"

namespace ledger::commands {

// The key id of config/dev-only-chain-anchor-key.pem, whose private half is
// public: outside the development profiles the writer refuses to sign with it.
inline constexpr std::string_view kDevelopmentAnchorKeyId = "100474624da8fd07";

inline constexpr const char* kChainAnchorStream = "chain-anchors";

// The head of the chain as the writer last committed it.
struct ChainHead {
  events::GlobalPosition position;
  std::string hash = events::kGenesisHash;
};

// Implemented by the writer's EventStore adapters (PostgreSQL, memory).
// Only meaningful while that store holds the writer lock.
class ChainHeadSource {
 public:
  virtual ~ChainHeadSource() = default;
  virtual ChainHead chain_head() const = 0;
};

// One attempt, for the caller's log.
struct AnchorReport {
  events::GlobalPosition signed_position;
  events::GlobalPosition anchor_position;  // where the ChainHeadSigned landed (0: failed)
  std::optional<domain::Error> error;
};

class ChainAnchor {
 public:
  struct Options {
    std::int64_t every_events = 1000;                      // sign once this many events are unsigned; 0: not by count
    std::chrono::milliseconds every{60'000};               // sign unsigned events at least this often; 0: not by time
    std::function<void(const AnchorReport&)> on_anchor{};  // after each attempt (logging)
  };

  ChainAnchor(EventStore& store, const ChainHeadSource& head, Clock& clock, codec::ChainSigningKey key,
              Options options);

  // Appends a ChainHeadSigned when one is due. `epoch` is the writer epoch
  // of EventStore::acquire_writer(): a new one reloads the last anchor.
  // `now` is a monotonic instant (the time trigger), passed in for tests.
  void maybe_anchor(std::uint64_t epoch, std::chrono::steady_clock::time_point now);

  const std::string& key_id() const { return key_.key_id(); }

 private:
  domain::Result<void> reload(std::chrono::steady_clock::time_point now);

  EventStore& store_;
  const ChainHeadSource& head_;
  Clock& clock_;
  codec::ChainSigningKey key_;
  Options options_;

  std::optional<std::uint64_t> epoch_;
  events::StreamVersion stream_version_;
  events::GlobalPosition last_anchor_position_;  // the last ChainHeadSigned's own position
  std::chrono::steady_clock::time_point last_anchor_time_{};
};

}  // namespace ledger::commands
