#include "commands/identity.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <nlohmann/json.hpp>

#include "commands/jwt.h"
#include "events/codec/json_codec.h"

namespace ledger::commands {

domain::Result<TokenAuthenticator> TokenAuthenticator::from_json(const nlohmann::json& config) {
  auto invalid = [](std::string msg) {
    return domain::fail(domain::ErrorKind::kInvalidArgument, "invalid_token_config", std::move(msg));
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
  }
  const nlohmann::json no_tokens = nlohmann::json::array();
  for (const auto& t : config.contains("tokens") ? config["tokens"] : no_tokens) {
    if (!t.is_object() || !t.contains("actor") || !t["actor"].is_object()) return invalid("each token needs an actor");
    std::string digest;
    if (t.contains("token") && t["token"].is_string()) {
      const auto& plain = t["token"].get_ref<const std::string&>();
      if (std::count(plain.begin(), plain.end(), '.') == 2) {
        return invalid("a static token must not have three dot-separated parts (it would be read as a JWT)");
      }
      digest = codec::sha256_hex(plain);
    } else if (t.contains("token_sha256") && t["token_sha256"].is_string()) digest = t["token_sha256"].get<std::string>();
    else return invalid("each token needs 'token' or 'token_sha256'");
    const auto& a = t["actor"];
    auto string_field = [](const nlohmann::json& obj, const char* name) -> std::optional<std::string> {
      auto it = obj.find(name);
      if (it == obj.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    Principal p;
    p.actor.type = string_field(a, "type").value_or("");
    p.actor.id = string_field(a, "id").value_or("");
    if (p.actor.type.empty() || p.actor.id.empty()) return invalid("each actor needs a type and an id (strings)");
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
    auth.by_digest_[digest] = std::move(p);
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
      !std::equal(kBearer.begin(), kBearer.end(), authorization.begin(),
                  [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); })) {
    return refuse();
  }
  const std::string_view token = authorization.substr(kBearer.size());
  if (std::count(token.begin(), token.end(), '.') == 2) {
    if (!jwt_) return refuse();
    return jwt_->authenticate(token, now);
  }
  auto it = by_digest_.find(codec::sha256_hex(token));
  if (it == by_digest_.end()) return refuse();
  return it->second;
}

}  // namespace ledger::commands
