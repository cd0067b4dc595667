#include "domain/admission/registry.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "domain/admission/commands.h"
#include "domain/admission/internal.h"

namespace ledger::domain {

using admission_internal::check_id;
using admission_internal::invalid;
using admission_internal::nothing;
using admission_internal::one;
using admission_internal::unknown_registry;

namespace admission_internal {

Result<std::string> dimension_unit(const AdmissionModel& m, const std::string& dimension, const std::string& unit) {
  const RegistryEntry* d = m.registry("quota_dimension", dimension);
  if (!d) return unknown_registry("quota_dimension", dimension);
  std::string expected = d->attributes.contains("unit") ? d->attributes.at("unit") : "";
  if (!unit.empty() && unit != expected) {
    return fail(err(ErrorKind::kFailedPrecondition, "unit_mismatch", "the dimension is measured in " + expected)
                    .with("dimension", dimension)
                    .with("expected_unit", expected)
                    .with("given_unit", unit));
  }
  return expected;
}

}  // namespace admission_internal

Result<Decided> decide(const AdmissionModel& m, const RegisterEntry& c) {
  static const std::map<std::string, std::vector<std::string>> kAttributes = {
      {"product", {}},
      {"resource_type", {"product"}},
      {"usage_unit", {}},
      {"quota_dimension", {"product", "resource_type", "unit"}},
  };
  auto kind = kAttributes.find(c.kind);
  if (kind == kAttributes.end()) {
    return invalid("invalid_registry_entry", "kind must be product, resource_type, usage_unit or quota_dimension");
  }
  if (auto ok = check_id(c.entry_id, "entry_id"); !ok) return std::unexpected(ok.error());
  for (const auto& [k, v] : c.attributes) {
    const auto& allowed = kind->second;
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return invalid("invalid_registry_entry", "attribute '" + k + "' is not known for a " + c.kind);
    }
  }
  // References must name registered entries.
  auto ref = [&](const char* attr, const char* ref_kind, bool required) -> Result<void> {
    auto it = c.attributes.find(attr);
    if (it == c.attributes.end() || it->second.empty()) {
      if (required) return invalid("invalid_registry_entry", std::string("a ") + c.kind + " needs '" + attr + "'");
      return {};
    }
    if (!m.registry(ref_kind, it->second)) return unknown_registry(ref_kind, it->second);
    return {};
  };
  if (c.kind == "resource_type") {
    if (auto ok = ref("product", "product", true); !ok) return std::unexpected(ok.error());
  }
  if (c.kind == "quota_dimension") {
    if (auto ok = ref("product", "product", true); !ok) return std::unexpected(ok.error());
    if (auto ok = ref("resource_type", "resource_type", false); !ok) return std::unexpected(ok.error());
    if (auto ok = ref("unit", "usage_unit", true); !ok) return std::unexpected(ok.error());
  }
  const std::string stream = "registry:" + c.kind + ":" + c.entry_id;
  const RegistryEntry* prior = m.registry(c.kind, c.entry_id);
  if (prior && prior->attributes == c.attributes && prior->description == c.description) {
    return nothing(stream, "platform");
  }
  events::RegistryEntryRegistered e{c.kind,        c.entry_id,   prior ? prior->version + 1 : 1,
                                    c.description, c.attributes, std::nullopt};
  if (prior) e.before = prior->attributes;
  return one(stream, "platform", std::move(e));
}

}  // namespace ledger::domain
