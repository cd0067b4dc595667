// The capability registry (seed 001): products, resource types, usage units
// and quota dimensions, each a versioned entry with attributes. Decisions
// and commands refuse names that are not registered (422
// `unknown_registry_entry`); a decision reports the versions it read and
// may pin them. Entries are registered by RegisterEntry (commands.h,
// decided in registry.cc).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace ledger::domain {

struct RegistryEntry {
  std::string kind;
  std::string entry_id;
  std::int64_t version = 0;
  std::string description;
  std::map<std::string, std::string> attributes;
  friend bool operator==(const RegistryEntry&, const RegistryEntry&) = default;
};

}  // namespace ledger::domain
