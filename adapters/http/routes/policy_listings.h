// The policy catalog and every override of a key, for people and tools
// (issue 17 part 5: `ledger keys`, `ledger values KEY`), answered from the
// in-memory read model (projections/policy_values/policy_values_store.h) at
// one position:
//
//   GET /v1/policy-keys?prefix=&limit=&cursor=
//     {"keys": [<PolicyKeyDefined payload>...], "next_cursor", "snapshot_version"}
//   GET /v1/policy-values?key=K&org_id=&level=&limit=&cursor=&as_of=
//     {"key", "value_type", "default", "as_of", "snapshot_version", "next_cursor",
//      "overrides": [{"scope": {"level", "id"}, "organization_id", "value",
//                     "effective_at", "set_at_position", "scheduled": [...]}]}
//
// An override is one scope's values (a user or project id's values per
// organization they were written for): `value` is the one in force at
// `as_of` there (null when every value at that scope is still scheduled),
// `scheduled` the later ones in the order they take effect.
//
// What a caller sees (invariant 7): an organization's principal sees the
// platform's values (global, plan, and any the platform wrote) and its own
// organization's, never another's; a platform principal sees every value,
// or one organization's view of them with org_id. Both take the
// consistency parameters min_position, wait_ms and as_of; as_of_position is
// refused (history lives in GET /v1/audit/changes/{key}). Cursors are
// opaque; a page holds at most `limit` entries (default 100, at most
// kMaxPageSize).
//
// Thread-safe: reads only an immutable snapshot of the store.
#pragma once

#include <functional>
#include <string_view>

#include "adapters/http/http_types.h"
#include "commands/command.h"
#include "commands/ports.h"
#include "domain/error.h"
#include "projections/admission/admission_store.h"

namespace ledger::routes {

class PolicyListings {
 public:
  // `head` reads the event store's head (to refuse a min_position beyond
  // it). `store` must outlive this object.
  PolicyListings(const projections::AdmissionStore& store, commands::Clock& clock,
                 std::function<domain::Result<events::GlobalPosition>()> head)
      : store_(store), clock_(clock), head_(std::move(head)) {}

  static bool owns(std::string_view path) { return path == kKeys || path == kValues; }

  // Answers one GET of either route for an authenticated, authorized caller.
  adapters::http::HttpResponse handle(const adapters::http::HttpRequest& req, const commands::Principal& who) const;

  static constexpr std::string_view kKeys = "/v1/policy-keys";
  static constexpr std::string_view kValues = "/v1/policy-values";

 private:
  adapters::http::HttpResponse keys(const adapters::http::HttpRequest& req) const;
  adapters::http::HttpResponse values(const adapters::http::HttpRequest& req, const commands::Principal& who) const;

  const projections::AdmissionStore& store_;
  commands::Clock& clock_;
  std::function<domain::Result<events::GlobalPosition>()> head_;
};

}  // namespace ledger::routes
