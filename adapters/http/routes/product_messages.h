// Product-owned messages (seed 001: "User-facing paths should return
// product-owned messages"). A product registers its own text for a
// decision's reason code as policy data, so the words its customers read
// come from the product and change with its own history, while the rule
// ids, snapshot versions and correlation id stay the ledger's:
//
//   policy_key.define   messages.admission.capacity_unavailable       string, default "…"
//   policy_key.define   messages.admission.capacity_unavailable.de    string, default "…"
//   policy_value.set    either of them at a plan, organization or project
//
// A decision answers the first of these that resolves to a non-empty
// string for the requester's chain (project, organization, plan — exactly
// how quota.warn_threshold_percent resolves), in the decision's own
// snapshot: messages.admission.<reason_code>.<locale> for each locale the
// request's Accept-Language asks for, most preferred first, then
// messages.admission.<reason_code>; else the ledger's own text. The answer
// says which in `user_message_source`, and the decision log keeps it, so
// `ledger-audit decisions` derives the same words again.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/error.h"
#include "domain/policy_resolution.h"
#include "events/policy_events.h"

namespace ledger::routes {

inline constexpr std::string_view kMessageKeyPrefix = "messages.admission.";

// The locales an Accept-Language header asks for, most preferred first
// (q-weights, ties in header order), as policy-key segments: a tag is
// lowercased with '-' as '_', and its primary language follows it when not
// asked for on its own: "de-CH, en;q=0.5" -> {"de_ch", "de", "en"}.
// The header is hostile input: past 256 bytes it is ignored whole; an entry
// that is not a language tag (1-8 letters, then subtags of 1-8 letters or
// digits), a malformed weight, `*` and q=0 ask for nothing. At most
// kMaxMessageLocales locales. Never an error: the product's default text
// or the ledger's answers.
inline constexpr std::size_t kMaxMessageLocales = 6;
std::vector<std::string> message_locales(std::string_view accept_language);

// The keys tried for a reason code, most specific first.
std::vector<std::string> message_keys(std::string_view reason_code, std::span<const std::string> locales);

// A message key's definition and its values at the requester's chain, read
// in the decision's snapshot (memory, or PostgreSQL at the decision's
// position); nullopt when the key is not defined there.
struct MessageKey {
  events::PolicyKeyDefined key;
  std::vector<domain::ValueCandidate> candidates;
};
using MessageLookup = std::function<domain::Result<std::optional<MessageKey>>(const std::string& key)>;

// Sets answer["user_message"] to the product's text for answer["reason_code"]
// when one resolves, and answer["user_message_source"] to
//   {kind: "product", key, locale (null for the reason code's own key),
//    source {level, id}, is_default, set_at_position, accept_language}
// or {kind: "ledger", accept_language}: `accept_language` is the locale list
// asked for, kept so a logged decision derives the same text. A key defined
// with another value type than string answers nothing. Errors: the lookup's.
domain::Result<void> apply_product_message(nlohmann::json& answer, std::span<const std::string> locales,
                                           const domain::ScopeChain& chain, events::Instant as_of,
                                           const MessageLookup& lookup);

// What apply_product_message sets, for an answer whose reason code is
// `reason_code` (nullopt: it has none): the product's text when one
// resolves, and user_message_source. For writers without the answer's tree.
struct ProductMessage {
  std::optional<std::string> text;
  // user_message_source, as its fields.
  std::vector<std::string> accept_language;
  struct Product {
    std::string key;
    std::optional<std::string> locale;  // nullopt for the reason code's own key
    std::string level;                  // the scope that supplied the text
    std::string id;
    bool is_default = false;
    std::optional<std::int64_t> set_at_position;
  };
  std::optional<Product> product;  // nullopt: the ledger's own text

  // user_message_source as a tree, and appended as the text dumping that
  // tree gives (compact, keys sorted), for writers without a tree.
  nlohmann::json source() const;
  void append_source(std::string& out) const;
};
domain::Result<ProductMessage> product_message(std::optional<std::string_view> reason_code,
                                               std::span<const std::string> locales, const domain::ScopeChain& chain,
                                               events::Instant as_of, const MessageLookup& lookup);

// The locale list a logged answer's user_message_source recorded (anything
// not shaped as written is ignored, never thrown on; at most
// kMaxMessageLocales valid segments).
std::vector<std::string> logged_message_locales(const nlohmann::json& logged_output);

}  // namespace ledger::routes
