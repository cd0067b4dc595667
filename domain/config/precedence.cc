#include "domain/config/precedence.h"

#include <vector>

namespace ledger::domain::config {

Json layered_merge(std::span<const Json> layers) {
  Json result = Json::object();
  for (const Json& layer : layers) {
    if (!layer.is_object() || layer.empty()) continue;
    for (auto it = layer.begin(); it != layer.end(); ++it) result[it.key()] = it.value();  // shallow
  }
  return result;
}

Json layered_merge(std::initializer_list<Json> layers) {
  return layered_merge(std::span<const Json>(layers.begin(), layers.size()));
}

Json resolve_value(std::initializer_list<Json> values, const Json& fallback) {
  for (const Json& v : values) {
    if (!v.is_null()) return v;
  }
  return fallback;
}

}  // namespace ledger::domain::config
