// The configuration layers of seed 004 and the one precedence they resolve
// in. Pure: no I/O.
//
// Resolution order, highest first (the seed's, exactly):
//   service (instance override) -> agent (tenant + agent type) -> tenant_risk
//   -> service_type -> global (public keys only) -> process (the running
//   process's own settings, operator-only)
// The project layer (per tenant + project) is persisted and audited like the
// others but the seed's order does not name it: it is answered beside the
// resolved view (`project`), never merged into it.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace ledger::domain::config {

enum class Layer { kService, kAgent, kTenantRisk, kServiceType, kGlobal, kProcess, kProject };

// Highest precedence first.
inline constexpr std::array<Layer, 6> kResolutionOrder = {Layer::kService,     Layer::kAgent,  Layer::kTenantRisk,
                                                          Layer::kServiceType, Layer::kGlobal, Layer::kProcess};

std::string_view layer_name(Layer l);
std::optional<Layer> parse_layer(std::string_view name);
// 0 for the highest layer of kResolutionOrder; nullopt for project.
std::optional<int> precedence_of(Layer l);
// Owned by platform_admin (global, service_type) rather than a tenant's admin.
bool platform_owned(Layer l);

// One persisted layer document: its layer, tenant ("platform" for the
// platform-owned ones) and subject (global key, service type, agent type,
// project id or service id; empty for tenant_risk).
struct LayerRef {
  Layer layer = Layer::kGlobal;
  std::string tenant;
  std::string subject;
  friend auto operator<=>(const LayerRef&, const LayerRef&) = default;
};

// config:<layer>:<subject> for platform layers, config:tenant_risk:<tenant>,
// config:<layer>:<tenant>/<subject> for the other tenant layers.
std::string stream_id(const LayerRef& r);
std::optional<LayerRef> parse_stream_id(std::string_view stream);

// The seed's cache key of the resolved views a write to `r` can change:
// global_{key}, service_type_{type}_default, risk_config_{tenant},
// agent_config_{tenant}_{agent_type}, service_config_{tenant}_{service_id},
// project_config_{tenant}_{project_id}.
std::string cache_key(const LayerRef& r);

// The command type writing a layer: config.<layer>.set.
std::string command_type_of(Layer l);

// Ids in routes and streams: 1..128 of [A-Za-z0-9._-].
bool valid_id(std::string_view s);

}  // namespace ledger::domain::config
