#include "adapters/http/routes/product_messages.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "domain/policy_key.h"
#include "events/codec/json_codec.h"

namespace ledger::routes {

using namespace std::string_view_literals;

namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxHeaderBytes = 256;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A language tag as a policy-key segment ("de-CH" -> "de_ch"), or nullopt.
std::optional<std::string> locale_segment(std::string_view tag) {
  std::string out;
  std::size_t i = 0;
  bool first = true;
  while (i <= tag.size()) {
    std::size_t j = tag.find('-', i);
    if (j == std::string_view::npos) j = tag.size();
    const std::string_view sub = tag.substr(i, j - i);
    if (sub.empty() || sub.size() > 8) return std::nullopt;
    for (char c : sub) {
      if (!(is_alpha(c) || (!first && is_digit(c)))) return std::nullopt;
    }
    if (!first) out += '_';
    for (char c : sub) out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    first = false;
    i = j + 1;
  }
  return out;
}

// "q=0.5" -> 500; nullopt when malformed (RFC 9110: 0 to 1, three decimals).
std::optional<int> weight(std::string_view param) {
  param = trim(param);
  if (param.size() < 3 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') return std::nullopt;
  const std::string_view v = param.substr(2);
  if (v == "1" || v == "1." || v == "1.0" || v == "1.00" || v == "1.000") return 1000;
  if (v.empty() || v[0] != '0') return std::nullopt;
  if (v.size() == 1) return 0;
  if (v[1] != '.' || v.size() > 5) return std::nullopt;
  int q = 0, scale = 100;
  for (char c : v.substr(2)) {
    if (!is_digit(c)) return std::nullopt;
    q += (c - '0') * scale;
    scale /= 10;
  }
  return q;
}

std::optional<std::string> text_field(const Json& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

std::vector<std::string> message_locales(std::string_view accept_language) {
  std::vector<std::string> out;
  if (accept_language.size() > kMaxHeaderBytes) return out;
  struct Asked {
    std::string locale;
    int q;
    std::size_t order;
  };
  std::vector<Asked> asked;
  std::size_t i = 0, order = 0;
  while (i <= accept_language.size()) {
    std::size_t j = accept_language.find(',', i);
    if (j == std::string_view::npos) j = accept_language.size();
    std::string_view entry = trim(accept_language.substr(i, j - i));
    i = j + 1;
    if (entry.empty()) continue;
    int q = 1000;
    if (const auto semi = entry.find(';'); semi != std::string_view::npos) {
      const auto w = weight(entry.substr(semi + 1));
      if (!w) continue;
      q = *w;
      entry = trim(entry.substr(0, semi));
    }
    if (q == 0 || entry == "*") continue;
    if (auto seg = locale_segment(entry)) asked.push_back({std::move(*seg), q, order++});
  }
  std::stable_sort(asked.begin(), asked.end(), [](const Asked& a, const Asked& b) { return a.q > b.q; });
  auto add = [&](const std::string& l) {
    if (out.size() < kMaxMessageLocales && std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  };
  for (const auto& a : asked) {
    add(a.locale);
    // The primary language after its regional form, unless asked for later
    // on its own (then it keeps its own place).
    if (const auto u = a.locale.find('_'); u != std::string::npos) {
      const std::string primary = a.locale.substr(0, u);
      const bool later = std::any_of(asked.begin(), asked.end(), [&](const Asked& b) { return b.locale == primary; });
      if (!later) add(primary);
    }
  }
  return out;
}

std::vector<std::string> message_keys(std::string_view reason_code, std::span<const std::string> locales) {
  std::vector<std::string> out;
  const std::string base = std::string(kMessageKeyPrefix) + std::string(reason_code);
  for (const auto& l : locales) {
    std::string k = base + "." + l;
    if (domain::valid_policy_key_name(k)) out.push_back(std::move(k));
  }
  if (domain::valid_policy_key_name(base)) out.push_back(base);
  return out;
}

Json ProductMessage::source() const {
  Json j = {{"kind", product ? "product" : "ledger"}, {"accept_language", Json(accept_language)}};
  if (product) {
    j["key"] = product->key;
    j["locale"] = product->locale ? Json(*product->locale) : Json();
    j["source"] = {{"level", product->level}, {"id", product->id}};
    j["is_default"] = product->is_default;
    j["set_at_position"] = product->set_at_position ? Json(*product->set_at_position) : Json();
  }
  return j;
}

void ProductMessage::append_source(std::string& out) const {
  // The members in the order a tree (std::map) keeps them.
  out += R"({"accept_language":[)"sv;
  for (std::size_t i = 0; i < accept_language.size(); ++i) {
    if (i > 0) out += ',';
    codec::append_json_string(out, accept_language[i]);
  }
  out += ']';
  if (product) {
    out += R"(,"is_default":)"sv;
    out += product->is_default ? "true"sv : "false"sv;
    out += R"(,"key":)"sv;
    codec::append_json_string(out, product->key);
    out += R"(,"kind":"product","locale":)"sv;
    if (product->locale) {
      codec::append_json_string(out, *product->locale);
    } else {
      out += "null"sv;
    }
    out += R"(,"set_at_position":)"sv;
    out += product->set_at_position ? std::to_string(*product->set_at_position) : std::string("null");
    out += R"(,"source":{"id":)"sv;
    codec::append_json_string(out, product->id);
    out += R"(,"level":)"sv;
    codec::append_json_string(out, product->level);
    out += "}}"sv;
  } else {
    out += R"(,"kind":"ledger"})"sv;
  }
}

domain::Result<ProductMessage> product_message(std::optional<std::string_view> reason_code,
                                               std::span<const std::string> locales, const domain::ScopeChain& chain,
                                               events::Instant as_of, const MessageLookup& lookup) {
  ProductMessage m;
  m.accept_language.assign(locales.begin(), locales.end());
  if (!reason_code) return m;
  const std::string base = std::string(kMessageKeyPrefix) + std::string(*reason_code);
  for (auto& key : message_keys(*reason_code, locales)) {
    auto found = lookup(key);
    if (!found) return std::unexpected(found.error());
    const auto& hit = *found;
    if (!hit || hit->key.value_type != events::ValueType::kString) continue;
    const auto res = domain::resolve(hit->key, chain, hit->candidates, as_of);
    const auto* text = std::get_if<std::string>(&res.value.v);
    if (!text || text->empty()) continue;
    m.text = *text;
    ProductMessage::Product p;
    if (key.size() > base.size()) p.locale = key.substr(base.size() + 1);
    p.key = std::move(key);
    p.level = codec::scope_level_name(res.source.level);
    p.id = res.source.id;
    p.is_default = res.is_default;
    p.set_at_position = res.position;
    m.product = std::move(p);
    break;
  }
  return m;
}

domain::Result<void> apply_product_message(Json& answer, std::span<const std::string> locales,
                                           const domain::ScopeChain& chain, events::Instant as_of,
                                           const MessageLookup& lookup) {
  const auto reason = answer.is_object() ? text_field(answer, "reason_code") : std::nullopt;
  auto m =
      product_message(reason ? std::optional<std::string_view>(*reason) : std::nullopt, locales, chain, as_of, lookup);
  if (!m) return std::unexpected(m.error());
  if (auto& text = m->text) answer["user_message"] = std::move(*text);
  answer["user_message_source"] = m->source();
  return {};
}

std::vector<std::string> logged_message_locales(const Json& logged_output) {
  std::vector<std::string> out;
  if (!logged_output.is_object()) return out;
  auto src = logged_output.find("user_message_source");
  if (src == logged_output.end() || !src->is_object()) return out;
  auto list = src->find("accept_language");
  if (list == src->end() || !list->is_array()) return out;
  for (const auto& l : *list) {
    if (out.size() == kMaxMessageLocales) break;
    if (!l.is_string()) continue;
    const auto s = l.get<std::string>();
    // Only what message_locales could have produced: a key segment.
    if (!s.empty() && s.size() <= 80 && s.find('.') == std::string::npos && domain::valid_policy_key_name("x." + s)) {
      out.push_back(s);
    }
  }
  return out;
}

}  // namespace ledger::routes
