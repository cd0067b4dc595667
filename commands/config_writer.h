// How the command service decides configuration commands (seed 004): each
// writes exactly one layer stream (domain/config/layers.h), decided against
// that stream's state read from the store. One ConfigWriter lives for one
// group commit: commands of the same batch on the same stream see each
// other's tentative state; nothing is cached beyond the batch, so a failed
// commit leaves nothing stale behind.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "commands/command.h"
#include "commands/ports.h"
#include "domain/config/config_model.h"
#include "domain/config/secrets.h"

namespace ledger::commands {

class ConfigWriter {
 public:
  // `sealer` seals every secret value of a layer document before its event
  // is built (domain/config/secrets.h), so no event holds one in clear;
  // nullptr (no LEDGER_CONFIG_KEK): a document with a plaintext secret is
  // refused, 422 `secrets_unavailable`.
  // `settings_check` (may be empty) tells a reload with reload_env whether
  // the process settings can be read: its failure is recorded under the
  // ConfigReloaded event's `errors` as "reload_env: <code>".
  explicit ConfigWriter(EventStore& store, domain::config::SecretSealer* sealer = nullptr,
                        std::function<std::optional<std::string>()> settings_check = {})
      : store_(store), sealer_(sealer), settings_check_(std::move(settings_check)) {}

  // The append for `req` (a SetConfigLayer), with its meta filled like every
  // other command's; an expected_version other than the stream's is 409
  // `stream_version_conflict`. Errors of the store come back as they are
  // (kUnavailable: the batch fails as a whole).
  domain::Result<StreamAppend> decide(const CommandRequest& req, const IdempotencyKey& key, events::Instant now);

 private:
  domain::Result<StreamAppend> decide_shred(const CommandRequest& req, const domain::config::ShredConfigSecrets& c,
                                            const IdempotencyKey& key, events::Instant now);
  // The next append to an append-only stream that needs no state (the
  // reloads, the shreds): its version (history plus `in_batch` appends of
  // this batch) checked against expected_version, the meta filled; events
  // left to the caller.
  domain::Result<StreamAppend> append_only(const CommandRequest& req, const std::string& stream,
                                           const std::string& tenant, std::int64_t in_batch, const IdempotencyKey& key,
                                           events::Instant now);

  EventStore& store_;
  domain::config::SecretSealer* sealer_ = nullptr;
  std::function<std::optional<std::string>()> settings_check_;
  std::map<std::string, domain::config::LayerState> tentative_;  // by stream id
  std::int64_t reloads_in_batch_ = 0;
  std::int64_t shreds_in_batch_ = 0;
};

}  // namespace ledger::commands
