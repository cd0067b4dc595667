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

namespace ledger::events {

struct ConfigLayerSet {
  static constexpr const char* kType = "ConfigLayerSet";
  static constexpr int kSchemaVersion = 1;

  std::string layer;      // global | service_type | tenant_risk | agent | project | service
  std::string tenant_id;  // "platform" for global and service_type
  std::string subject;    // the key, service type, agent type, project id or service id; "" for tenant_risk
  std::string before;     // canonical JSON text; "null" when the layer had no document
  std::string after;      // canonical JSON text
  bool is_public = false;         // global only: tenants' resolved views see it
  bool requires_restart = false;  // global only: running processes apply it after a restart/reload
  std::string reason;
  friend bool operator==(const ConfigLayerSet&, const ConfigLayerSet&) = default;
};

}  // namespace ledger::events
