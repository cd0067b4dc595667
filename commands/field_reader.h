// Reading the fields of one command body, keeping the first refusal (the
// decoders' shared part: decode_admission.cc, decode_app_policy.cc,
// decode_entitlements.cc add their own typed readers on top):
//
//   FieldReader f(body);                       // type, command_id, expected_version known
//   const Json* v = f.find("name");            // declared known; nullptr when absent or null
//   if (v && !v->is_string()) f.fail("invalid_field", "...", "name");
//   if (auto refused = f.finish(); !refused) return std::unexpected(refused.error());
//
// finish() refuses the first field of the body no reader asked for
// (unknown_field(), in key order) unless a refusal came first; every refusal
// is kInvalidArgument with the field as evidence.
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "domain/error.h"

namespace ledger::commands {

class FieldReader {
 public:
  explicit FieldReader(const nlohmann::json& body);

  // Declares `name` known.
  void known(const std::string& name) { known_.insert(name); }
  // The member `name`, declared known; nullptr when it is absent or null.
  const nlohmann::json* find(const std::string& name);
  // Keeps the first refusal only.
  void fail(std::string code, std::string message, std::string field);
  bool failed() const { return !code_.empty(); }
  // The first refusal, or unknown_field() for the first field not declared.
  domain::Result<void> finish();

 protected:
  const nlohmann::json& body_;

 private:
  std::set<std::string, std::less<>> known_;
  std::string code_, message_, field_;
};

}  // namespace ledger::commands
