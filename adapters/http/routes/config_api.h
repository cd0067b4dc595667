// The seed 004 read routes on ledger-query, answered from the in-memory
// read model (QuerySnapshot::config, fed from ledger.events like every
// memory read: projections/admission/admission_store.h). GETs live here and
// not on ledger-command because the query service is where the read model
// is; the PUTs are ledger-command's (config_commands.h).
//   GET /config/global/{key}[/history]              tenants see public keys only (else 404)
//   GET /config/service-types/{type}[/history]
//   GET /tenants/{t}/config/risk[/history]
//   GET /tenants/{t}/config/agents/{agent_type}[/history]
//   GET /tenants/{t}/services                       every service-instance layer of the tenant
//   GET /tenants/{t}/services/{service_id}[/history]
//   GET /tenants/{t}/projects/{project_id}/config[/history]
//   GET /tenants/{t}/config/resolved?agent_type=&service_type=&service_id=&project_id=
// Every answer has `snapshot_version`; `min_position`/`wait_ms` as on the
// other memory reads. A layer: {layer, tenant_id, subject, stream_id,
// cache_key, version (0: never set; the expected_version of a first PUT),
// position, value, is_public, requires_restart, keys: {k: {updated_by,
// updated_at, position}}}. History: {items: [{position, version, at, actor,
// reason, before, after}]} oldest first. Resolved: {config, sources: {k:
// {layer, precedence, stream_id, position, updated_by?, updated_at?,
// requires_restart}}, project, precedence: [...], cache: hit|miss} (also
// header x-config-cache).
// Secrets (domain/config/secrets.h) are stored sealed; every answer above
// shows them as "***", or in plaintext to a caller whose roles grant
// secrets:read (platform_admin), and as "<shredded>" to everyone once the
// tenant's data key was shredded (ConfigSecretsShredded).
// Roles: config.read; a tenant principal reading another tenant's path is
// 403 `forbidden`, recorded as an AccessRefused (tenant_mismatch).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "adapters/http/http_types.h"
#include "adapters/kafka/access_refusals.h"
#include "commands/command.h"
#include "commands/ports.h"
#include "domain/config/secrets.h"
#include "projections/admission/admission_store.h"
#include "projections/config/resolved_cache.h"

namespace ledger::routes {

class ConfigApi {
 public:
  // `process_settings`: the process-settings layer (an object), the lowest
  // of the precedence. `head` reads the event store's head.
  ConfigApi(const projections::AdmissionStore& store, commands::Clock& clock, domain::config::Json process_settings,
            std::function<domain::Result<events::GlobalPosition>()> head)
      : store_(store), clock_(clock), process_(std::move(process_settings)), head_(std::move(head)) {}
  // How a reload re-reads the process-settings layer (default: keeps it).
  // The event store's head when this process read its settings at start:
  // requires_restart values set after it are `pending_restart`.
  void started_at(std::int64_t position) {
    std::lock_guard lock(process_mu_);
    applied_position_ = position;
  }
  void reload_process_settings_with(std::function<domain::Result<domain::config::Json>()> f) { reload_ = std::move(f); }

  static bool owns(std::string_view path);
  adapters::http::HttpResponse handle(const adapters::http::HttpRequest& req, const commands::Principal& who);

  void record_refusals_to(adapters::kafka::RefusalRecorder& r) { refusals_ = &r; }
  // Unseals secrets for callers with secrets:read (issue 16 part 4); not
  // owned. Without one every secret reads "***".
  void unseal_with(domain::config::SecretSealer* sealer) { sealer_ = sealer; }
  projections::config::ResolvedCache& cache() { return cache_; }
  // GET /config/metrics (also served on the query service's metrics).
  std::string metrics_text() const { return cache_.metrics_text(); }

 private:
  // Applies the snapshot's latest ConfigReloaded once (seed 004 part 6).
  void apply_reload(const domain::config::ConfigModel& model, std::int64_t snapshot_position);
  adapters::http::HttpResponse refuse_tenant(const adapters::http::HttpRequest& req, const commands::Principal& who,
                                             const std::string& tenant);

  const projections::AdmissionStore& store_;
  commands::Clock& clock_;
  mutable std::mutex process_mu_;
  domain::config::Json process_;
  std::int64_t process_generation_ = 1;
  std::int64_t applied_reload_ = 0;    // position of the last ConfigReloaded applied
  std::int64_t applied_position_ = 0;  // what requires_restart values the process has applied (start or reload)
  std::function<domain::Result<domain::config::Json>()> reload_;
  std::function<domain::Result<events::GlobalPosition>()> head_;
  adapters::kafka::RefusalRecorder* refusals_ = nullptr;
  domain::config::SecretSealer* sealer_ = nullptr;
  // `doc` with its sealed secrets as the caller may read them.
  domain::config::Json present_secrets(const domain::config::Json& doc, const domain::config::LayerRef& ref,
                                       bool reveal, const domain::config::ConfigModel& model);
  projections::config::ResolvedCache cache_;
};

// The process-settings layer as ledger-query and ledger-command read it at
// start and on every reload: process_settings_layer() over the JSON of
// LEDGER_CONFIG_PROCESS_SETTINGS, then the JSON object in the file named by
// LEDGER_CONFIG_PROCESS_SETTINGS_FILE (re-read on reload), if any.
domain::Result<domain::config::Json> read_process_settings();

// The process-settings layer: the seed's Settings defaults (approval
// webhook timeout/retries/backoff, cache TTL, DEFAULT_RISK_CONFIG), each
// top-level key replaced by the same key of `overrides_json` (an object,
// e.g. from LEDGER_CONFIG_PROCESS_SETTINGS) when given. Errors name why.
domain::Result<domain::config::Json> process_settings_layer(const std::string& overrides_json);

}  // namespace ledger::routes
