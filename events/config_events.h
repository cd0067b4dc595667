// Events of layered configuration (seed 004): every persisted configuration
// layer is an event stream, and its history is that stream.
//
// Streams (one per layer document; a command always appends to exactly one):
//   config:global:<key>                       platform_admin; one key of GlobalConfiguration
//   config:service_type:<service_type>        platform_admin; ServiceTypeConfiguration "default"
//   config:tenant_risk:<tenant>               tenant_admin;   TenantRiskConfiguration (+ notification_config)
//   config:agent:<tenant>/<agent_type>        tenant_admin;   AgentConfiguration
//   config:project:<tenant>/<project_id>      tenant_admin;   project-level config
//   config:service:<tenant>/<service_id>      tenant_admin;   service-instance overrides
//
// A layer's document is a JSON object (a global key's value may be any JSON
// value). Every event carries the whole document before and after, as
// canonical JSON text, so an auditor needs no other event to see what
// changed, and the read model derives per-key "last updated by/at" from it.
#pragma once

#include <string>
#include <vector>

namespace ledger::events {

struct ConfigLayerSet {
  static constexpr const char* kType = "ConfigLayerSet";
  static constexpr int kSchemaVersion = 1;

  std::string layer;              // global | service_type | tenant_risk | agent | project | service
  std::string tenant_id;          // "platform" for global and service_type
  std::string subject;            // the key, service type, agent type, project id or service id; "" for tenant_risk
  std::string before;             // canonical JSON text; "null" when the layer had no document
  std::string after;              // canonical JSON text
  bool is_public = false;         // global only: tenants' resolved views see it
  bool requires_restart = false;  // global only: running processes apply it after a restart/reload
  std::string reason;
  friend bool operator==(const ConfigLayerSet&, const ConfigLayerSet&) = default;
};

// The operator reload (POST /config/reload, platform_admin): stream
// config:reloads. No tenant history, no secrets: what was asked and what the
// writer could not do. The query services apply it when they see it:
// re-read their process settings (reload_env), drop the resolved views
// named (every one, or those of tenant_ids) and rebuild them on demand.
struct ConfigReloaded {
  static constexpr const char* kType = "ConfigReloaded";
  static constexpr int kSchemaVersion = 1;

  bool reload_env = false;
  bool invalidate_all = false;
  std::vector<std::string> tenant_ids;
  std::vector<std::string> reinit;  // configuration_service, dynamic_config_service
  // Reserved for failures the writer itself finds; empty today (the edge
  // reports a bad settings file in its answer, and each query service keeps
  // its previous settings when it cannot re-read them).
  std::vector<std::string> errors;
  friend bool operator==(const ConfigReloaded&, const ConfigReloaded&) = default;
};

// Crypto-shredding (issue 16 part 4; platform_admin, command
// config.secrets.shred): the tenant's configuration data keys were deleted,
// so every secret sealed under them (domain/config/secrets.h) is
// unrecoverable wherever its ciphertext was copied. Stream
// config:shreds. Holds the ids of the keys deleted, never key material.
struct ConfigSecretsShredded {
  static constexpr const char* kType = "ConfigSecretsShredded";
  static constexpr int kSchemaVersion = 1;

  std::string tenant_id;
  std::vector<std::string> key_ids;  // empty: the tenant had no data key
  std::string reason;
  friend bool operator==(const ConfigSecretsShredded&, const ConfigSecretsShredded&) = default;
};

}  // namespace ledger::events
