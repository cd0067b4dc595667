// Bearer-token identity (the spine's minimum; signed tokens come later).
//
// A token file maps opaque bearer tokens to principals:
//   {"tokens": [{"token": "dev-admin", "tenant": "platform",
//                "actor": {"type": "user", "id": "ops", "roles": ["platform_admin"]}},
//               {"token_sha256": "<hex>", ...}]}
// Tokens are kept only as SHA-256 digests in memory, so a token never shows
// up in a dump or log. Immutable after construction: thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "commands/command.h"
#include "domain/error.h"

namespace ledger::commands {

class TokenAuthenticator {
 public:
  static domain::Result<TokenAuthenticator> from_json(const nlohmann::json& config);

  // `authorization` is the raw header value ("Bearer <token>"). No or unknown
  // token -> kUnauthenticated `unauthenticated`.
  domain::Result<Principal> authenticate(std::string_view authorization) const;

 private:
  std::map<std::string, Principal> by_digest_;
};

}  // namespace ledger::commands
