// The seed 004 write routes on ledger-command, each the HTTP form of one
// configuration command (commands/decode_config.cc), so a PUT and a record
// on `ledger.commands` are the same command with the same roles, tenant
// isolation, idempotency and refusal audit:
//   PUT /config/global/{key}                       config.global.set        (platform_admin)
//   PUT /config/service-types/{service_type}       config.service_type.set  (platform_admin)
//   PUT /tenants/{tenant_id}/config/risk           config.tenant_risk.set   (tenant_admin)
//   PUT /tenants/{tenant_id}/config/agents/{type}  config.agent.set         (tenant_admin)
//   PUT /tenants/{tenant_id}/services/{id}         config.service.set       (tenant_admin)
//   PUT /tenants/{tenant_id}/projects/{id}/config  config.project.set       (tenant_admin)
//   POST /config/reload                            config.reload            (platform_admin)
//   POST /tenants/{tenant_id}/config/secrets/shred config.secrets.shred     (platform_admin)
//     body {reason}: deletes the tenant's configuration data keys (crypto-shredding,
//     commands/config_writer.h) and records ConfigSecretsShredded; the command answer.
//     the seed's body {reload_env, invalidate: {all, tenant_ids}, reinit, dry_run}; answer the
//     seed's summary {status: ok|dry_run|partial, reloaded_env, invalidated, reinitialized,
//     timestamp, errors} plus the command answer; 207 when a part failed (errors name it:
//     reload_env when LEDGER_CONFIG_PROCESS_SETTINGS_FILE cannot be read as a JSON object).
//     dry_run writes nothing. The ConfigReloaded event is applied by every ledger-query.
// Body: {value, reason, expected_version?, command_id?} (+ is_public?,
// requires_restart? for a global key); the ids come from the path only.
// Answer: the command answer (command_api.h) plus `layer`, `stream_id`,
// `cache_key` (the one resolved-view key it invalidates) and, for a global
// key, `requires_restart`. Reads are ledger-query's (config_api.h).
#pragma once

#include <functional>
#include <optional>

#include "adapters/http/http_types.h"

namespace ledger::routes {

// True for the paths above (any method).
bool is_config_write_path(std::string_view path);

// Answers a request on one of those paths: 405 unless PUT, 400 for a body
// that is no JSON object, else `submit` called with the equivalent
// POST /v1/commands/<type> request, its answer extended as above.
adapters::http::HttpResponse config_put(
    const adapters::http::HttpRequest& req,
    const std::function<adapters::http::HttpResponse(const adapters::http::HttpRequest&)>& submit);

}  // namespace ledger::routes
