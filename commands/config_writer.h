// How the command service decides configuration commands (seed 004): each
// writes exactly one layer stream (domain/config/layers.h), decided against
// that stream's state read from the store. One ConfigWriter lives for one
// group commit: commands of the same batch on the same stream see each
// other's tentative state; nothing is cached beyond the batch, so a failed
// commit leaves nothing stale behind.
#pragma once

#include <map>
#include <string>

#include "commands/command.h"
#include "commands/ports.h"
#include "domain/config/config_model.h"

namespace ledger::commands {

class ConfigWriter {
 public:
  explicit ConfigWriter(EventStore& store) : store_(store) {}

  // The append for `req` (a SetConfigLayer), with its meta filled like every
  // other command's; an expected_version other than the stream's is 409
  // `stream_version_conflict`. Errors of the store come back as they are
  // (kUnavailable: the batch fails as a whole).
  domain::Result<StreamAppend> decide(const CommandRequest& req, const IdempotencyKey& key, events::Instant now);

 private:
  EventStore& store_;
  std::map<std::string, domain::config::LayerState> tentative_;  // by stream id
  std::int64_t reloads_in_batch_ = 0;
};

}  // namespace ledger::commands
