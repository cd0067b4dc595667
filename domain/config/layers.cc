#include "domain/config/layers.h"

namespace ledger::domain::config {

namespace {
constexpr std::string_view kNames[] = {"service", "agent",   "tenant_risk", "service_type",
                                       "global",  "process", "project"};
}

std::string_view layer_name(Layer l) { return kNames[static_cast<int>(l)]; }

std::optional<Layer> parse_layer(std::string_view name) {
  for (int i = 0; i < 7; ++i) {
    if (kNames[i] == name) return static_cast<Layer>(i);
  }
  return std::nullopt;
}

std::optional<int> precedence_of(Layer l) {
  for (std::size_t i = 0; i < kResolutionOrder.size(); ++i) {
    if (kResolutionOrder[i] == l) return static_cast<int>(i);
  }
  return std::nullopt;
}

bool platform_owned(Layer l) { return l == Layer::kGlobal || l == Layer::kServiceType || l == Layer::kProcess; }

std::string stream_id(const LayerRef& r) {
  const std::string base = "config:" + std::string(layer_name(r.layer)) + ":";
  if (platform_owned(r.layer)) return base + r.subject;
  if (r.layer == Layer::kTenantRisk) return base + r.tenant;
  return base + r.tenant + "/" + r.subject;
}

std::optional<LayerRef> parse_stream_id(std::string_view s) {
  if (!s.starts_with("config:")) return std::nullopt;
  s.remove_prefix(7);
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto layer = parse_layer(s.substr(0, colon));
  if (!layer || *layer == Layer::kProcess) return std::nullopt;
  std::string_view rest = s.substr(colon + 1);
  if (platform_owned(*layer)) return LayerRef{*layer, "platform", std::string(rest)};
  if (*layer == Layer::kTenantRisk) return LayerRef{*layer, std::string(rest), ""};
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return LayerRef{*layer, std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
}

std::string cache_key(const LayerRef& r) {
  switch (r.layer) {
    case Layer::kGlobal:
      return "global_" + r.subject;
    case Layer::kServiceType:
      return "service_type_" + r.subject + "_default";
    case Layer::kTenantRisk:
      return "risk_config_" + r.tenant;
    case Layer::kAgent:
      return "agent_config_" + r.tenant + "_" + r.subject;
    case Layer::kService:
      return "service_config_" + r.tenant + "_" + r.subject;
    case Layer::kProject:
      return "project_config_" + r.tenant + "_" + r.subject;
    case Layer::kProcess:
      return "process_settings";
  }
  return {};
}

std::string command_type_of(Layer l) { return "config." + std::string(layer_name(l)) + ".set"; }

bool valid_id(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace ledger::domain::config
