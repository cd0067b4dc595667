// An error's evidence as a JSON object, each value with its own JSON type.
#pragma once

#include <nlohmann/json.hpp>

#include "domain/error.h"

namespace ledger::domain {

inline nlohmann::json evidence_json(const Error& e) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : e.evidence) {
    std::visit([&](const auto& x) { out[k] = x; }, v);
  }
  return out;
}

}  // namespace ledger::domain
