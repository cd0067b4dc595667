// Bearer-token identity: signed JWTs (commands/jwt.h) and static tokens.
//
// A token file configures both:
//   {"jwt": {"issuer": "policy-ledger", "audience": "policy-ledger", "keys": [...], ...},
//    "tokens": [{"token": "dev-admin", "tenant": "platform",
//                "actor": {"type": "user", "id": "ops", "roles": ["platform_admin"]}},
//               {"token_sha256": "<hex>", ...}]}
// Either part may be left out, not both. A bearer token of three
// dot-separated segments is a JWT and is verified against "jwt" (see jwt.h
// for every check); any other token is looked up in "tokens". Static tokens
// are kept only as SHA-256 digests in memory, so a token never shows up in a
// dump or log. Immutable after construction: thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "commands/command.h"
#include "domain/error.h"

namespace ledger::commands {

class JwtVerifier;

class TokenAuthenticator {
 public:
  static domain::Result<TokenAuthenticator> from_json(const nlohmann::json& config);

  // `authorization` is the raw header value ("Bearer <token>"). No, unknown
  // or refused token -> kUnauthenticated `unauthenticated`. `now` decides
  // whether a JWT is within its validity; the one-argument form reads the
  // system clock.
  domain::Result<Principal> authenticate(std::string_view authorization, events::Instant now) const;
  domain::Result<Principal> authenticate(std::string_view authorization) const;

 private:
  std::map<std::string, Principal> by_digest_;
  std::shared_ptr<const JwtVerifier> jwt_;  // null: JWTs are refused
};

}  // namespace ledger::commands
