// The seed's shared precedence helper, exactly:
//   layered_merge: overlays objects left -> right, skipping absent (null)
//     layers; later layers win; SHALLOW: a nested object of a later layer
//     replaces the earlier one whole, it is never deep-merged.
//   resolve_value: the first non-null value in order, else the default.
// Pure.
#pragma once

#include <initializer_list>
#include <span>

#include <nlohmann/json.hpp>

namespace ledger::domain::config {

using Json = nlohmann::json;

// `layers` lowest precedence first (the seed's left -> right); a layer that
// is null or not an object is skipped.
Json layered_merge(std::span<const Json> layers);
Json layered_merge(std::initializer_list<Json> layers);

Json resolve_value(std::initializer_list<Json> values, const Json& fallback = nullptr);

}  // namespace ledger::domain::config
