#include "domain/config/secrets.h"

#include <cctype>

namespace ledger::domain::config {

namespace {

constexpr const char* kSecretFields[] = {"secret"};
constexpr const char* kSecretAuthFields[] = {"token", "password", "api_key"};

bool is_hex(const Json& j) {
  if (!j.is_string()) return false;
  for (char c : j.get_ref<const std::string&>()) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// One webhook endpoint object (the single form or one of `endpoints`).
template <typename J, typename F>
void endpoint_secrets(J& ep, const std::string& at, const F& f) {
  if (!ep.is_object()) return;
  for (const char* k : kSecretFields) {
    if (auto it = ep.find(k); it != ep.end() && (it->is_string() || parse_sealed(*it))) f(at + "/" + k, *it);
  }
  auto auth = ep.find("auth");
  if (auth == ep.end() || !auth->is_object()) return;
  for (const char* k : kSecretAuthFields) {
    if (auto it = auth->find(k); it != auth->end() && (it->is_string() || parse_sealed(*it))) {
      f(at + "/auth/" + k, *it);
    }
  }
}

template <typename J, typename F>
void notification_secrets(J& nc, const std::string& at, const F& f) {
  if (!nc.is_object()) return;
  auto wh = nc.find("webhook");
  if (wh == nc.end() || !wh->is_object()) return;
  endpoint_secrets(*wh, at + "/webhook", f);
  auto eps = wh->find("endpoints");
  if (eps == wh->end() || !eps->is_array()) return;
  for (std::size_t i = 0; i < eps->size(); ++i)
    endpoint_secrets((*eps)[i], at + "/webhook/endpoints/" + std::to_string(i), f);
}

template <typename J, typename F>
void walk(J& doc, const LayerRef& ref, const F& f) {
  if (ref.layer == Layer::kGlobal && ref.subject == "notification_config") {
    notification_secrets(doc, "", f);
    return;
  }
  if (!doc.is_object()) return;
  if (auto nc = doc.find("notification_config"); nc != doc.end()) notification_secrets(*nc, "/notification_config", f);
}

}  // namespace

Json sealed_json(const SealedSecret& s) {
  return Json{
      {"$sealed",
       {{"key_id", s.key_id}, {"alg", s.alg}, {"nonce", s.nonce}, {"ciphertext", s.ciphertext}, {"tag", s.tag}}}};
}

std::optional<SealedSecret> parse_sealed(const Json& j) {
  if (!j.is_object() || j.size() != 1) return std::nullopt;
  auto it = j.find("$sealed");
  if (it == j.end() || !it->is_object() || it->size() != 5) return std::nullopt;
  const Json& s = *it;
  for (const char* k : {"key_id", "alg", "nonce", "ciphertext", "tag"}) {
    if (!s.contains(k) || !s[k].is_string()) return std::nullopt;
  }
  if (!is_hex(s["nonce"]) || !is_hex(s["ciphertext"]) || !is_hex(s["tag"])) return std::nullopt;
  return SealedSecret{s["key_id"].get<std::string>(), s["alg"].get<std::string>(), s["nonce"].get<std::string>(),
                      s["ciphertext"].get<std::string>(), s["tag"].get<std::string>()};
}

void for_each_secret(Json& doc, const LayerRef& ref, const std::function<void(const std::string&, Json&)>& f) {
  walk(doc, ref, f);
}
void for_each_secret(const Json& doc, const LayerRef& ref,
                     const std::function<void(const std::string&, const Json&)>& f) {
  walk(doc, ref, f);
}

Result<Json> seal_document(Json doc, const Json& current, const LayerRef& ref, SecretSealer& sealer) {
  std::optional<Error> failed;
  for_each_secret(doc, ref, [&](const std::string& pointer, Json& v) {
    if (failed || !v.is_string()) return;  // sealed already (or not a string: the schema's business)
    if (v.get_ref<const std::string&>() == kMasked) {
      const Json::json_pointer p(pointer);
      if (current.is_object() || current.is_array()) {
        if (current.contains(p) && parse_sealed(current.at(p))) {
          v = current.at(p);
          return;
        }
      }
    }
    auto sealed = sealer.seal(ref.tenant, v.get<std::string>());
    if (!sealed) {
      failed = sealed.error();
      return;
    }
    v = sealed_json(*sealed);
  });
  if (failed) return std::unexpected(std::move(*failed));
  return doc;
}

Json present_secrets(Json doc, const LayerRef& ref, const std::function<Json(const SealedSecret&)>& show) {
  for_each_secret(doc, ref, [&](const std::string&, Json& v) {
    if (auto s = parse_sealed(v)) v = show(*s);
  });
  return doc;
}

bool has_plaintext_secret(const Json& doc, const LayerRef& ref) {
  bool found = false;
  for_each_secret(doc, ref, [&](const std::string&, const Json& v) { found = found || v.is_string(); });
  return found;
}

bool carries_secret_text(const Json& doc, const LayerRef& ref) {
  bool found = false;
  for_each_secret(doc, ref, [&](const std::string&, const Json& v) {
    found = found || (v.is_string() && v.get_ref<const std::string&>() != kMasked);
  });
  return found;
}

bool may_carry_secret(std::string_view bytes) {
  std::string lower(bytes);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const std::string_view word : {"secret", "token", "password", "api_key", "apikey", "\\u"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace ledger::domain::config
