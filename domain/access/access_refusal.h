// Recording a refused access attempt (events/access_events.h).
//
//   auto d = decide(RecordAccessRefusal{refusal});   // -> Decided or a rejection
//
// Decided with no state: a refusal is a fact the edge observed, so the only
// rules are about its shape (every field present, bounded, the reason one of
// kAccessRefusalReasons). The event goes to the stream
// access_refusals_stream_id(target_tenant), under the target tenant.
#pragma once

#include <string>
#include <string_view>

#include "domain/admission.h"
#include "events/access_events.h"

namespace ledger::domain {

// `role_not_allowed`: the principal's roles do not include the route family.
// `tenant_mismatch`: the principal reached into another organization.
// platform_only_key: an organization's principal set a value of a key whose
// write audience is the platform (events/policy_events.h, WriteAudience).
inline constexpr std::string_view kAccessRefusalReasons[] = {"role_not_allowed", "tenant_mismatch",
                                                             "platform_only_key"};

struct RecordAccessRefusal {
  events::AccessRefused refusal;
};

std::string access_refusals_stream_id(const std::string& target_tenant);

Result<Decided> decide(const RecordAccessRefusal& c);

// `r` cut to what decide() takes: each string to its first 256 characters
// and the first 32 roles. An edge records what it observed even when a
// principal's or request's field is longer than a refusal holds (a token
// may carry 64 roles; a request may name any tenant): the fact, cut, beats
// none. Empty fields stay empty, and decide() refuses them.
events::AccessRefused bounded(events::AccessRefused r);

// Revoking a credential (events::TokenRevoked): every token of
// `principal_id`, or the one JWT `token_id`, of tenant `tenant` (exactly one
// of the two; each id 1 to 256 characters, reason 1 to 1024). Stateless like
// a refusal: revoking twice records the fact twice and changes nothing more.
struct RevokeToken {
  std::string tenant;
  std::string principal_id;
  std::string token_id;
  std::string reason;
};

std::string token_revocations_stream_id(const std::string& tenant);

Result<Decided> decide(const RevokeToken& c);

}  // namespace ledger::domain
