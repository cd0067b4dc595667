#include "commands/config_writer.h"

#include "commands/idempotency.h"

namespace ledger::commands {

domain::Result<StreamAppend> ConfigWriter::decide(const CommandRequest& req, const IdempotencyKey& key,
                                                  events::Instant now) {
  namespace cfg = domain::config;
  if (const auto* reload = std::get_if<cfg::ReloadConfig>(&req.command)) {
    // The reload stream is append-only and needs no state: its version for
    // expected_version and the outcome's position only.
    auto appended = append_only(req, cfg::kReloadStream, "platform", reloads_in_batch_, key, now);
    if (!appended) return appended;
    StreamAppend& a = *appended;
    cfg::ReloadConfig recorded = *reload;  // what failed is the writer's to know, never the caller's to say
    recorded.errors.clear();
    if (recorded.reload_env && settings_check_) {
      if (auto failed = settings_check_()) recorded.errors.push_back("reload_env: " + *failed);
    }
    a.events = cfg::decide(recorded);
    reloads_in_batch_ += static_cast<std::int64_t>(a.events.size());
    return appended;
  }
  if (const auto* shred = std::get_if<cfg::ShredConfigSecrets>(&req.command))
    return decide_shred(req, *shred, key, now);
  const auto& c = std::get<cfg::SetConfigLayer>(req.command);
  const std::string stream = cfg::stream_id(c.ref);
  auto t = tentative_.find(stream);
  if (t == tentative_.end()) {
    auto history = store_.read_stream(stream);
    if (!history) return std::unexpected(history.error());
    cfg::ConfigModel one;
    for (const auto& env : *history) one.apply(env.meta, env.event);
    cfg::LayerState state;
    state.ref = c.ref;
    if (const auto* s = one.find(c.ref)) state = *s;
    t = tentative_.emplace(stream, std::move(state)).first;
  }
  cfg::LayerState& state = t->second;
  if (req.expected_version && *req.expected_version != events::StreamVersion{state.version}) {
    domain::Error e{domain::ErrorKind::kAborted,
                    "stream_version_conflict",
                    "the stream has moved on since the expected version",
                    {}};
    e.with("stream_id", stream)
        .with("expected_version", req.expected_version->value)
        .with("actual_version", state.version);
    return std::unexpected(std::move(e));
  }
  // Secrets are sealed here, before any event exists (issue 16 part 4).
  cfg::SetConfigLayer sealed = c;
  if (cfg::Json doc = cfg::Json::parse(c.value, nullptr, false);
      !doc.is_discarded() && cfg::has_plaintext_secret(doc, c.ref)) {
    if (!sealer_) {
      return domain::fail(domain::ErrorKind::kFailedPrecondition, "secrets_unavailable",
                          "this document holds secrets and no key-encryption key is configured (LEDGER_CONFIG_KEK)");
    }
    auto s = cfg::seal_document(std::move(doc), state.doc, c.ref, *sealer_);
    if (!s) return std::unexpected(s.error());
    sealed.value = s->dump();
  }
  auto decided = cfg::decide(state.version > 0 ? &state : nullptr, sealed);
  if (!decided) return std::unexpected(decided.error());
  StreamAppend a = command_append(req, stream, events::StreamVersion{state.version}, key, now);
  a.meta.tenant = c.ref.tenant;
  a.position_if_empty = events::GlobalPosition{state.position};
  // Tentatively evolved, so a later command of the batch sees this one.
  for (const auto& ev : *decided) {
    events::EventMeta m = a.meta;
    m.stream_id = stream;
    m.stream_version = events::StreamVersion{state.version + 1};
    cfg::ConfigModel one;
    one.apply(m, ev);
    auto next = *one.find(c.ref);
    next.history.clear();
    next.updated.clear();
    state.version = next.version;
    state.doc = next.doc;
    state.is_public = next.is_public;
    state.requires_restart = next.requires_restart;
  }
  a.events = std::move(*decided);
  return a;
}

// Crypto-shredding: the data keys are deleted here, before the event is
// committed (deleting is what makes the secrets unrecoverable, and it is
// idempotent: should the append fail, the same command again records the
// event, with no key ids left to name).
domain::Result<StreamAppend> ConfigWriter::decide_shred(const CommandRequest& req,
                                                        const domain::config::ShredConfigSecrets& c,
                                                        const IdempotencyKey& key, events::Instant now) {
  namespace cfg = domain::config;
  if (!sealer_) {
    return domain::fail(domain::ErrorKind::kFailedPrecondition, "secrets_unavailable",
                        "no key-encryption key is configured (LEDGER_CONFIG_KEK)");
  }
  auto appended = append_only(req, cfg::kShredStream, c.tenant_id, shreds_in_batch_, key, now);
  if (!appended) return appended;
  StreamAppend& a = *appended;
  auto deleted = sealer_->shred(c.tenant_id);
  if (!deleted) return std::unexpected(deleted.error());
  a.events = {events::ConfigSecretsShredded{c.tenant_id, std::move(*deleted), c.reason}};
  ++shreds_in_batch_;
  return appended;
}

domain::Result<StreamAppend> ConfigWriter::append_only(const CommandRequest& req, const std::string& stream,
                                                       const std::string& tenant, std::int64_t in_batch,
                                                       const IdempotencyKey& key, events::Instant now) {
  auto history = store_.read_stream(stream);
  if (!history) return std::unexpected(history.error());
  StreamAppend a = command_append(
      req, stream, events::StreamVersion{static_cast<std::int64_t>(history->size()) + in_batch}, key, now);
  if (req.expected_version && *req.expected_version != a.expected_version) {
    domain::Error e{domain::ErrorKind::kAborted,
                    "stream_version_conflict",
                    "the stream has moved on since the expected version",
                    {}};
    e.with("stream_id", a.stream_id);
    return std::unexpected(std::move(e));
  }
  a.meta.tenant = tenant;
  a.position_if_empty = history->empty() ? events::GlobalPosition{} : history->back().meta.global_position;
  return a;
}

}  // namespace ledger::commands
