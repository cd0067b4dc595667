// Events of per-application policy chains (seed 002): applications and the
// policies attached to them. A policy's config is a JSON object kept as its
// canonical text (sorted keys, no spaces); the codec writes it as an object.
//
// Streams: `application:<organization>/<application_id>` for an application
// and every policy attached to it, so one stream orders an app's chain.
// Policy ids are unique in the whole ledger (the command service derives them
// from the caller and its command id), application ids per organization.
#pragma once

#include <cstdint>
#include <string>

namespace ledger::events {

// A JSON object carried in an event, as canonical text.
struct JsonText {
  std::string text = "{}";
  friend bool operator==(const JsonText&, const JsonText&) = default;
};

struct ApplicationRegistered {
  static constexpr const char* kType = "ApplicationRegistered";
  static constexpr int kSchemaVersion = 1;

  std::string application_id;
  std::string organization_id;
  std::string name;
  friend bool operator==(const ApplicationRegistered&, const ApplicationRegistered&) = default;
};

struct ApplicationRenamed {
  static constexpr const char* kType = "ApplicationRenamed";
  static constexpr int kSchemaVersion = 1;

  std::string application_id;
  std::string organization_id;
  std::string before_name;
  std::string name;
  friend bool operator==(const ApplicationRenamed&, const ApplicationRenamed&) = default;
};

// A retired application keeps its history; its chain denies every request
// (`application_retired`) and no policy can be attached any more.
struct ApplicationRetired {
  static constexpr const char* kType = "ApplicationRetired";
  static constexpr int kSchemaVersion = 1;

  std::string application_id;
  std::string organization_id;
  std::string reason;
  friend bool operator==(const ApplicationRetired&, const ApplicationRetired&) = default;
};

// A policy attached to an application at `index` in its chain (0 = first;
// the policies at and after it move down one).
struct PolicyAttached {
  static constexpr const char* kType = "PolicyAttached";
  static constexpr int kSchemaVersion = 1;

  std::string policy_id;
  std::string application_id;
  std::string organization_id;
  std::string policy_type;
  JsonText config;
  bool enabled = true;
  std::int64_t index = 0;
  std::string reason;
  friend bool operator==(const PolicyAttached&, const PolicyAttached&) = default;
};

// A change of config, enabled flag and/or place in the chain, with what it
// was before. `version` is the policy's version after it (1 = attached).
struct PolicyUpdated {
  static constexpr const char* kType = "PolicyUpdated";
  static constexpr int kSchemaVersion = 1;

  std::string policy_id;
  std::string application_id;
  std::string organization_id;
  std::string policy_type;
  std::int64_t version = 2;
  JsonText before_config;
  JsonText config;
  bool before_enabled = true;
  bool enabled = true;
  std::int64_t before_index = 0;
  std::int64_t index = 0;
  std::string reason;
  friend bool operator==(const PolicyUpdated&, const PolicyUpdated&) = default;
};

// A policy taken off its application's chain; history keeps what it was.
struct PolicyDetached {
  static constexpr const char* kType = "PolicyDetached";
  static constexpr int kSchemaVersion = 1;

  std::string policy_id;
  std::string application_id;
  std::string organization_id;
  std::string policy_type;
  JsonText before_config;
  bool before_enabled = true;
  std::string reason;
  friend bool operator==(const PolicyDetached&, const PolicyDetached&) = default;
};

}  // namespace ledger::events
