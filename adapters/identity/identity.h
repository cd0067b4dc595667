// Bearer-token identity: signed JWTs (adapters/identity/jwt.h) and static tokens.
//
// A token file configures both:
//   {"jwt": {"issuer": "policy-ledger", "audience": "policy-ledger", "keys": [...], ...},
//    "tokens": [{"token_sha256": "<64 hex digits>", "expires_at": "2027-06-01T00:00:00Z",
//                "tenant": "platform",
//                "actor": {"type": "user", "id": "ops", "roles": ["platform_admin"]}},
//               {"token": "clear-text", ...}]}                 // dev/test only
// Either part may be left out, not both. A bearer token of three
// dot-separated segments is a JWT and is verified against "jwt" (see jwt.h
// for every check); any other token is looked up in "tokens" by its SHA-256
// digest (`ledger-admin hash-token` prints an entry), compared in constant
// time against every entry. Static tokens are kept only as digests in
// memory, so a token never shows up in a dump or log. A static token past
// its `expires_at` (RFC 3339) is refused (reason `expired`). An actor's
// type is user, service_account, api_key or worker; any other refuses the
// file.
//
// Outside the development profiles (TokenFileOptions::development false)
// the file is refused at load (kInvalidArgument `insecure_token_config`)
// when it holds a clear-text `token`, a static token without `expires_at`,
// a token of the repository's own development set (config/tokens.json), or
// the repository's development JWT signing key (kid `dev-hs256-1`, whatever
// kid it is listed under). Immutable after construction: thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "commands/command.h"
#include "domain/error.h"

namespace ledger::identity {

using commands::Principal;

class JwtVerifier;

struct TokenFileOptions {
  // The dev and test profiles: clear-text tokens, tokens without expiry and
  // the repository's development keys and tokens are accepted.
  bool development = true;
};

// LEDGER_PROFILE values that are development profiles: "dev" and "test".
// Anything else (e.g. "prod", "staging") is treated as production.
bool is_development_profile(std::string_view profile);

// The `tokens` entry for a static token: {"token_sha256", "expires_at"}
// (RFC 3339), to which an operator adds "tenant" and "actor".
nlohmann::json static_token_entry(std::string_view token, events::Instant expires_at);

class TokenAuthenticator {
 public:
  static domain::Result<TokenAuthenticator> from_json(const nlohmann::json& config, TokenFileOptions options = {});

  // Warnings for an operator about a file accepted in a development profile
  // (clear-text tokens, the development key): the services log them loudly.
  const std::vector<std::string>& warnings() const { return warnings_; }

  // `authorization` is the raw header value ("Bearer <token>"). No, unknown
  // or refused token -> kUnauthenticated `unauthenticated`. `now` decides
  // whether a JWT is within its validity; the one-argument form reads the
  // system clock.
  domain::Result<Principal> authenticate(std::string_view authorization, events::Instant now) const;
  domain::Result<Principal> authenticate(std::string_view authorization) const;

 private:
  struct StaticToken {
    std::string digest;  // SHA-256 of the token, 64 lowercase hex digits
    Principal principal;
    std::optional<events::Instant> expires_at;
  };
  std::vector<StaticToken> static_tokens_;
  std::shared_ptr<const JwtVerifier> jwt_;  // null: JWTs are refused
  std::vector<std::string> warnings_;
};

}  // namespace ledger::identity
