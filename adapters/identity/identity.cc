#include "adapters/identity/identity.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>

#include "adapters/identity/jwt.h"
#include "commands/access/authorization.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::identity {

namespace {

// SHA-256 of the repository's development HS256 secret (config/tokens.json,
// kid dev-hs256-1): public, so never a production key.
constexpr std::string_view kDevSigningSecretSha256 = "1ef3d1f4c1e5ae20b77c1cece0748fc19e01d156a8c63c593ea2e9ff903db491";

// The repository's development static tokens (README "Tokens"): public too.
constexpr std::string_view kDevStaticTokens[] = {
    "dev-platform-admin",    "dev-acme-admin",     "dev-acme-service",  "dev-auditor",
    "dev-acme-tenant-admin", "dev-acme-auditor",   "dev-acme-reader",   "dev-globex-tenant-admin",
    "dev-globex-service",    "dev-globex-auditor", "dev-globex-reader", "dev-query-service",
};

bool is_hex_digest(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

// Equal digests (both 64 characters), without an early exit.
bool same_digest(std::string_view a, std::string_view b) {
  unsigned diff = a.size() ^ b.size();
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

}  // namespace

bool is_development_profile(std::string_view profile) { return profile == "dev" || profile == "test"; }

nlohmann::json static_token_entry(std::string_view token, events::Instant expires_at) {
  return {{"token_sha256", codec::sha256_hex(token)}, {"expires_at", codec::format_instant(expires_at)}};
}

domain::Result<TokenAuthenticator> TokenAuthenticator::from_json(const nlohmann::json& config,
                                                                 TokenFileOptions options) {
  auto invalid = [](std::string msg) {
    return domain::fail(domain::ErrorKind::kInvalidArgument, "invalid_token_config", std::move(msg));
  };
  auto insecure = [](std::string msg) {
    return domain::fail(domain::ErrorKind::kInvalidArgument, "insecure_token_config",
                        std::move(msg) + " (allowed only in the dev and test profiles)");
  };
  if (!config.is_object()) return invalid("token config must be an object");
  const bool has_jwt = config.contains("jwt");
  if (!(config.contains("tokens") && config["tokens"].is_array()) && !(has_jwt && !config.contains("tokens"))) {
    return invalid("token config needs a 'tokens' array or a 'jwt' object");
  }
  TokenAuthenticator auth;
  if (has_jwt) {
    auto verifier = JwtVerifier::from_json(config["jwt"]);
    if (!verifier) return std::unexpected(verifier.error());
    auth.jwt_ = std::make_shared<const JwtVerifier>(std::move(*verifier));
    // from_json checked the shape: keys is an array of objects.
    for (const auto& k : config["jwt"]["keys"]) {
      auto secret = k.find("secret_base64url");
      if (secret == k.end() || !secret->is_string() ||
          codec::sha256_hex(secret->get_ref<const std::string&>()) != kDevSigningSecretSha256) {
        continue;
      }
      const std::string kid = k.value("kid", std::string());
      if (!options.development) {
        return insecure("jwt key '" + kid + "' is the repository's development signing key, which is public");
      }
      auth.warnings_.push_back("jwt key '" + kid +
                               "' is the repository's public development key: anyone can mint tokens for it");
    }
  }
  std::vector<std::string> dev_digests;
  for (auto t : kDevStaticTokens) dev_digests.push_back(codec::sha256_hex(t));
  std::size_t clear_text = 0;
  const nlohmann::json no_tokens = nlohmann::json::array();
  for (const auto& t : config.contains("tokens") ? config["tokens"] : no_tokens) {
    if (!t.is_object() || !t.contains("actor") || !t["actor"].is_object()) return invalid("each token needs an actor");
    StaticToken entry;
    if (t.contains("token") && t["token"].is_string()) {
      const auto& plain = t["token"].get_ref<const std::string&>();
      if (std::count(plain.begin(), plain.end(), '.') == 2) {
        return invalid("a static token must not have three dot-separated parts (it would be read as a JWT)");
      }
      if (!options.development) return insecure("a static token is in clear text; store its token_sha256 instead");
      ++clear_text;
      entry.digest = codec::sha256_hex(plain);
    } else if (t.contains("token_sha256") && t["token_sha256"].is_string()) {
      entry.digest = t["token_sha256"].get<std::string>();
      if (!is_hex_digest(entry.digest)) return invalid("token_sha256 must be 64 hex digits");
      std::transform(entry.digest.begin(), entry.digest.end(), entry.digest.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    } else {
      return invalid("each token needs 'token' or 'token_sha256'");
    }
    if (auto e = t.find("expires_at"); e != t.end()) {
      auto at = e->is_string() ? codec::parse_instant(e->get_ref<const std::string&>()) : std::nullopt;
      if (!at) return invalid("expires_at must be an RFC 3339 time");
      entry.expires_at = *at;
    } else if (!options.development) {
      return insecure("a static token has no expires_at");
    }
    if (!options.development &&
        std::any_of(dev_digests.begin(), dev_digests.end(), [&](const auto& d) { return d == entry.digest; })) {
      return insecure("a static token is one of the repository's public development tokens");
    }
    const auto& a = t["actor"];
    auto string_field = [](const nlohmann::json& obj, const char* name) -> std::optional<std::string> {
      auto it = obj.find(name);
      if (it == obj.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    Principal& p = entry.principal;
    p.actor.type = string_field(a, "type").value_or("");
    p.actor.id = string_field(a, "id").value_or("");
    if (p.actor.type.empty() || p.actor.id.empty()) return invalid("each actor needs a type and an id (strings)");
    if (!commands::is_principal_actor_type(p.actor.type)) {
      return invalid("an actor's type must be user, service_account, api_key or worker");
    }
    if (a.contains("roles")) {
      if (!a["roles"].is_array()) return invalid("actor roles must be an array");
      for (const auto& r : a["roles"]) {
        if (!r.is_string()) return invalid("actor roles must be strings");
        p.actor.roles.push_back(r.get<std::string>());
      }
    }
    std::sort(p.actor.roles.begin(), p.actor.roles.end());
    if (t.contains("tenant") && !t["tenant"].is_string()) return invalid("tenant must be a string");
    p.tenant = string_field(t, "tenant").value_or("platform");
    // A digest listed twice: the later entry wins, as it always has.
    auto same = std::find_if(auth.static_tokens_.begin(), auth.static_tokens_.end(),
                             [&](const StaticToken& s) { return s.digest == entry.digest; });
    if (same != auth.static_tokens_.end())
      *same = std::move(entry);
    else
      auth.static_tokens_.push_back(std::move(entry));
  }
  if (clear_text > 0) {
    auth.warnings_.push_back(std::to_string(clear_text) +
                             " static token(s) in clear text: store token_sha256 (ledger-admin hash-token) instead");
  }
  return auth;
}

domain::Result<Principal> TokenAuthenticator::authenticate(std::string_view authorization) const {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return authenticate(authorization,
                      events::Instant{std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count()});
}

domain::Result<Principal> TokenAuthenticator::authenticate(std::string_view authorization, events::Instant now) const {
  constexpr std::string_view kBearer = "Bearer ";
  auto refuse = [] {
    return domain::fail(domain::ErrorKind::kUnauthenticated, "unauthenticated", "a valid bearer token is required");
  };
  if (authorization.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), authorization.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      })) {
    return refuse();
  }
  const std::string_view token = authorization.substr(kBearer.size());
  if (std::count(token.begin(), token.end(), '.') == 2) {
    if (!jwt_) return refuse();
    return jwt_->authenticate(token, now);
  }
  // Every entry is compared, without an early exit: the time taken does not
  // depend on which entry (if any) matches, nor on how much of a digest does.
  const std::string digest = codec::sha256_hex(token);
  const StaticToken* found = nullptr;
  for (const auto& s : static_tokens_) {
    if (same_digest(s.digest, digest)) found = &s;
  }
  if (found == nullptr) return refuse();
  if (found->expires_at && now.micros >= found->expires_at->micros) {
    auto e = refuse();
    e.error().with("reason", "expired");
    return e;
  }
  return found->principal;
}

}  // namespace ledger::identity
