// An answer's access-log line is written without a JSON tree
// (services::access_log_members); whatever the request carried, the line
// must stay one JSON object whose fields are what the tree held before.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "adapters/metrics/metrics.h"
#include "services/common/process.h"

namespace ledger::services {
namespace {

using Json = nlohmann::json;

std::string any_text() {
  return *rc::gen::oneOf(rc::gen::arbitrary<std::string>(),
                         rc::gen::container<std::string>(rc::gen::inRange<char>(0x20, 0x7f)),
                         rc::gen::element<std::string>("", "\"", "\\", "a\nb", "/v1/decisions", "/v1/scopes/org-acme",
                                                       "\x7f", "\xc3\xa9", "\xff", "\xed\xa0\x80"));
}

// The line as it was built before: a tree, dumped with invalid UTF-8 replaced.
Json tree_of(const adapters::http::Exchange& e) {
  const double seconds = std::chrono::duration<double>(e.elapsed).count();
  Json fields = {{"method", e.method},
                 {"route", adapters::metrics::route_label(e.path)},
                 {"path", e.path},
                 {"status", e.status},
                 {"latency_ms", std::round(seconds * 1e6) / 1e3}};
  if (!e.correlation_id.empty()) fields["correlation_id"] = e.correlation_id;
  if (!e.actor.empty()) fields["actor"] = e.actor;
  return Json::parse(fields.dump(-1, ' ', false, Json::error_handler_t::replace));
}

RC_GTEST_PROP(AccessLog, TheWrittenMembersAreTheTreesFieldsWhateverTheRequestHeld, ()) {
  const std::string method = any_text();
  const std::string path = any_text();
  const std::string correlation_id = any_text();
  const std::string actor = any_text();
  // Half-microsecond instants too: where rounding could tell two formulas apart.
  const std::int64_t elapsed_ns = *rc::gen::oneOf(
      rc::gen::inRange<std::int64_t>(0, 600'000'000'000),
      rc::gen::map(rc::gen::inRange<std::int64_t>(0, 600'000'000), [](std::int64_t us) { return us * 1000 + 500; }));
  adapters::http::Exchange e{.method = method,
                             .path = path,
                             .correlation_id = correlation_id,
                             .actor = actor,
                             .status = *rc::gen::inRange(100, 1000),
                             .elapsed = std::chrono::nanoseconds(elapsed_ns)};
  const std::string members = access_log_members(e);
  const Json line = Json::parse("{" + members + "}", nullptr, false);
  RC_ASSERT(!line.is_discarded());
  RC_ASSERT(line == tree_of(e));
}

TEST(AccessLog, AnAnswerWithoutActorOrCorrelationIdHasNeitherField) {
  const adapters::http::Exchange e{.method = "GET",
                                   .path = "/v1/policy-values/allocation.refund_window_days",
                                   .correlation_id = "",
                                   .actor = "",
                                   .status = 404,
                                   .elapsed = std::chrono::microseconds(1234)};
  EXPECT_EQ(access_log_members(e),
            R"("latency_ms":1.234,"method":"GET","path":"/v1/policy-values/allocation.refund_window_days",)"
            R"("route":"/v1/policy-values/{}","status":404)");
}

TEST(AccessLog, KeysComeSortedAndWhatTheClientSentIsEscaped) {
  const adapters::http::Exchange e{.method = "POST",
                                   .path = "/v1/decisions",
                                   .correlation_id = "c\"1",
                                   .actor = "org-acme/user:alice",
                                   .status = 200,
                                   .elapsed = std::chrono::nanoseconds(1'234'567)};
  EXPECT_EQ(access_log_members(e), R"("actor":"org-acme/user:alice","correlation_id":"c\"1","latency_ms":1.235,)"
                                   R"("method":"POST","path":"/v1/decisions","route":"/v1/decisions","status":200)");
}

}  // namespace
}  // namespace ledger::services
