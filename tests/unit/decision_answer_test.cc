// The decision route writes a single decision's answer without a JSON tree
// (routes::decision_text); it must be, byte for byte, the tree's dump after
// the product message is applied, whatever the output holds.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "adapters/http/routes/admission_json.h"

namespace ledger::routes {
namespace {

using Json = nlohmann::json;

std::string any_text() {
  return *rc::gen::oneOf(rc::gen::arbitrary<std::string>(),
                         rc::gen::container<std::string>(rc::gen::inRange<char>(0x20, 0x7f)),
                         rc::gen::element<std::string>("", "\"", "\\", "a\nb", "\x7f", "\xc3\xa9", "\xff"));
}

std::optional<std::int64_t> any_quantity() {
  if (*rc::gen::arbitrary<bool>()) return std::nullopt;
  return *rc::gen::arbitrary<std::int64_t>();
}

events::QuotaScope any_scope() {
  const auto level =
      *rc::gen::element(domain::QuotaLevel::kGlobal, domain::QuotaLevel::kPlan, domain::QuotaLevel::kOrganization,
                        domain::QuotaLevel::kDepartment, domain::QuotaLevel::kProject, domain::QuotaLevel::kPrincipal);
  return {level, level == domain::QuotaLevel::kGlobal ? std::string() : any_text()};
}

RC_GTEST_PROP(DecisionAnswer, TheWrittenTextIsTheTreesDump, ()) {
  domain::DecisionOutput o;
  o.decision = *rc::gen::element<std::string>("allow", "warn", "deny");
  o.reason_code = any_text();
  o.user_message = any_text();
  o.effective.quantity = any_quantity();
  o.effective.unit = any_text();
  if (*rc::gen::arbitrary<bool>()) o.effective.inherited_from = any_scope();
  const auto rules = *rc::gen::inRange(0, 4);
  for (int i = 0; i < rules; ++i) {
    o.effective.matched_rules.push_back({any_text(), any_scope(), *rc::gen::arbitrary<std::int64_t>(),
                                         *rc::gen::element<std::string>("ceiling", "delegation")});
  }
  o.available = any_quantity();
  o.limit_remaining = any_quantity();
  o.reserved_for_others = *rc::gen::arbitrary<std::int64_t>();
  const auto versions = *rc::gen::inRange(0, 4);
  for (int i = 0; i < versions; ++i) o.registry_versions[any_text()] = any_text();
  o.per_request = *rc::gen::arbitrary<bool>();
  const std::string kind = any_text();
  o.snapshot_kind = kind;
  o.snapshot_version = *rc::gen::arbitrary<std::int64_t>();
  o.correlation_id = any_text();
  const auto as_of = events::Instant{*rc::gen::inRange<std::int64_t>(0, 4'102'444'800'000'000)};

  ProductMessage m;
  m.accept_language = {any_text()};
  if (*rc::gen::arbitrary<bool>()) {
    m.text = any_text();
    m.product = ProductMessage::Product{any_text(), std::nullopt, "project",
                                        any_text(), false,        *rc::gen::arbitrary<std::int64_t>()};
  }
  Json tree = decision_json(o, as_of);
  if (m.text) tree["user_message"] = *m.text;
  tree["user_message_source"] = m.source();
  RC_ASSERT(decision_text(o, as_of, m) == dump_lenient(tree));
  // With an application's evidence, which sorts first.
  const Json application = {{"application_id", any_text()},
                            {"decision", *rc::gen::element<std::string>("allow", "deny", "not_evaluated")},
                            {"reason", any_text()},
                            {"denied_by", nullptr},
                            {"chain", Json::array({Json{{"policy_id", any_text()}, {"version", 1}}})}};
  tree["application"] = application;
  RC_ASSERT(decision_text(o, as_of, m, dump_lenient(application)) == dump_lenient(tree));
}

}  // namespace
}  // namespace ledger::routes
