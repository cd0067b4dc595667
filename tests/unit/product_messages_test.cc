// Product-owned messages (issue 13 part 7, adapters/http/routes/product_messages.h):
// which locales an Accept-Language header asks for, which keys are tried,
// and which text answers.
#include "adapters/http/routes/product_messages.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "domain/policy_key.h"

namespace {

using ledger::routes::apply_product_message;
using ledger::routes::logged_message_locales;
using ledger::routes::message_keys;
using ledger::routes::message_locales;
using ledger::routes::MessageKey;
using Json = nlohmann::json;
using Locales = std::vector<std::string>;

TEST(ProductMessages, LocalesFollowTheHeadersPreferences) {
  EXPECT_EQ(message_locales(""), Locales{});
  EXPECT_EQ(message_locales("de"), Locales{"de"});
  EXPECT_EQ(message_locales("de-CH, en;q=0.5"), (Locales{"de_ch", "de", "en"}));
  // Weights order them; ties keep the header's order.
  EXPECT_EQ(message_locales("en;q=0.3, fr;q=0.9, pt-BR"), (Locales{"pt_br", "pt", "fr", "en"}));
  EXPECT_EQ(message_locales("fr, de;q=0.9"), (Locales{"fr", "de"}));
  // A primary asked for on its own keeps its own place.
  EXPECT_EQ(message_locales("de-CH, fr;q=0.8, de;q=0.5"), (Locales{"de_ch", "fr", "de"}));
  EXPECT_EQ(message_locales("es-419"), (Locales{"es_419", "es"}));
  // Nothing asked for: *, q=0, malformed tags and weights.
  EXPECT_EQ(message_locales("*"), Locales{});
  EXPECT_EQ(message_locales("de;q=0, en"), Locales{"en"});
  EXPECT_EQ(message_locales("d3, en_US, toolongtagname, 1a, , en;q=2, fr;q=abc, it"), Locales{"it"});
  EXPECT_EQ(message_locales("en;q=0.123"), Locales{"en"});
  EXPECT_EQ(message_locales("en;q=0.1234"), Locales{});
  // At most six; a header past 256 bytes is ignored whole.
  EXPECT_EQ(message_locales("a,b,c,d,e,f,g,h").size(), ledger::routes::kMaxMessageLocales);
  EXPECT_EQ(message_locales(std::string(300, 'a')), Locales{});
}

RC_GTEST_PROP(ProductMessages, AnyHeaderGivesAtMostSixValidKeySegments, (const std::string& header)) {
  const auto locales = message_locales(header);
  RC_ASSERT(locales.size() <= ledger::routes::kMaxMessageLocales);
  for (const auto& l : locales) {
    RC_ASSERT(ledger::domain::valid_policy_key_name("messages." + l));
  }
  for (const auto& k : message_keys("capacity_unavailable", locales)) {
    RC_ASSERT(ledger::domain::valid_policy_key_name(k));
  }
}

TEST(ProductMessages, KeysGoFromTheMostSpecificToTheReasonCodesOwn) {
  EXPECT_EQ(message_keys("capacity_unavailable", Locales{"de_ch", "de"}),
            (Locales{"messages.admission.capacity_unavailable.de_ch", "messages.admission.capacity_unavailable.de",
                     "messages.admission.capacity_unavailable"}));
  EXPECT_EQ(message_keys("Bad Code", Locales{"de"}), Locales{});
}

ledger::events::PolicyKeyDefined string_key(const std::string& name, const std::string& def) {
  ledger::events::PolicyKeyDefined k;
  k.key = name;
  k.value_type = ledger::events::ValueType::kString;
  k.default_value = ledger::events::PolicyValue{def};
  return k;
}

struct FakeCatalog {
  std::map<std::string, MessageKey> keys;
  std::vector<std::string> asked;
  ledger::routes::MessageLookup lookup() {
    return [this](const std::string& key) -> ledger::domain::Result<std::optional<MessageKey>> {
      asked.push_back(key);
      auto it = keys.find(key);
      if (it == keys.end()) return std::nullopt;
      return it->second;
    };
  }
};

const ledger::events::Instant kNow{1'800'000'000'000'000};

TEST(ProductMessages, TheProductsTextAnswersWithItsSource) {
  FakeCatalog cat;
  cat.keys["messages.admission.capacity_unavailable"] = {string_key("messages.admission.capacity_unavailable", "Full."),
                                                         {}};
  cat.keys["messages.admission.capacity_unavailable.de"] = {
      string_key("messages.admission.capacity_unavailable.de", "Voll."), {}};
  ledger::domain::ScopeChain chain{"", "p1", "acme", "pro"};

  Json answer = {{"reason_code", "capacity_unavailable"}, {"user_message", "ledger text"}};
  ASSERT_TRUE(apply_product_message(answer, Locales{"de_ch", "de"}, chain, kNow, cat.lookup()).has_value());
  EXPECT_EQ(answer["user_message"], "Voll.");
  EXPECT_EQ(answer["user_message_source"]["kind"], "product");
  EXPECT_EQ(answer["user_message_source"]["key"], "messages.admission.capacity_unavailable.de");
  EXPECT_EQ(answer["user_message_source"]["locale"], "de");
  EXPECT_EQ(answer["user_message_source"]["is_default"], true);
  EXPECT_EQ(answer["user_message_source"]["accept_language"], (Json{"de_ch", "de"}));
  EXPECT_EQ(cat.asked,
            (Locales{"messages.admission.capacity_unavailable.de_ch", "messages.admission.capacity_unavailable.de"}));

  Json english = {{"reason_code", "capacity_unavailable"}, {"user_message", "ledger text"}};
  ASSERT_TRUE(apply_product_message(english, Locales{"en"}, chain, kNow, cat.lookup()).has_value());
  EXPECT_EQ(english["user_message"], "Full.");
  EXPECT_EQ(english["user_message_source"]["locale"], nullptr);
}

TEST(ProductMessages, TheLedgersTextAnswersWhenNoProductTextResolves) {
  FakeCatalog cat;
  auto as_int = string_key("messages.admission.within_quota", "");
  as_int.value_type = ledger::events::ValueType::kInt;
  as_int.default_value = ledger::events::PolicyValue{std::int64_t{3}};
  cat.keys["messages.admission.within_quota"] = {as_int, {}};  // not a string
  cat.keys["messages.admission.within_quota.fr"] = {string_key("messages.admission.within_quota.fr", ""), {}};  // empty
  Json answer = {{"reason_code", "within_quota"}, {"user_message", "ledger text"}};
  ASSERT_TRUE(apply_product_message(answer, Locales{"fr"}, {}, kNow, cat.lookup()).has_value());
  EXPECT_EQ(answer["user_message"], "ledger text");
  EXPECT_EQ(answer["user_message_source"], (Json{{"kind", "ledger"}, {"accept_language", {"fr"}}}));

  // A lookup that fails is the answer's failure, not a silent fallback.
  auto failing = [](const std::string&) -> ledger::domain::Result<std::optional<MessageKey>> {
    return ledger::domain::fail(ledger::domain::ErrorKind::kUnavailable, "database_unavailable", "down");
  };
  Json other = {{"reason_code", "within_quota"}};
  auto r = apply_product_message(other, Locales{}, {}, kNow, failing);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "database_unavailable");
}

TEST(ProductMessages, ALoggedAnswerGivesBackOnlyWellFormedLocales) {
  EXPECT_EQ(logged_message_locales(Json{{"user_message_source", {{"accept_language", {"de_ch", "de"}}}}}),
            (Locales{"de_ch", "de"}));
  EXPECT_EQ(logged_message_locales(Json{{"user_message_source", {{"accept_language", {"DE", 3, "x.y", "", "fr"}}}}}),
            Locales{"fr"});
  EXPECT_EQ(logged_message_locales(Json{{"user_message_source", "de"}}), Locales{});
  EXPECT_EQ(logged_message_locales(Json::array()), Locales{});
}

}  // namespace

// user_message_source written without a tree is, byte for byte, the tree
// dumped as every answer dumps it: for both kinds, any text in any field.
RC_GTEST_PROP(ProductMessages, TheSourceWrittenDirectlyIsTheTreeDumped,
              (std::vector<std::string> accept_language, bool product, std::string key, bool has_locale,
               std::string locale, std::string id, bool is_default, bool has_position, std::int64_t position)) {
  ledger::routes::ProductMessage m;
  m.accept_language = accept_language;
  if (product) {
    m.product =
        ledger::routes::ProductMessage::Product{key,
                                                has_locale ? std::optional(locale) : std::nullopt,
                                                *rc::gen::element<std::string>("plan", "organization", "project"),
                                                id,
                                                is_default,
                                                has_position ? std::optional(position) : std::nullopt};
  }
  std::string direct;
  m.append_source(direct);
  RC_ASSERT(direct == m.source().dump(-1, ' ', false, Json::error_handler_t::replace));
  RC_ASSERT(m.source()["kind"] == (product ? "product" : "ledger"));
}
