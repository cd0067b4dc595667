// Metrics (issue 17 part 4): route labels of bounded cardinality, whatever
// paths a caller sends, and the Prometheus text the registry writes.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>

#include "adapters/metrics/metrics.h"

namespace {

namespace metrics = ledger::adapters::metrics;

TEST(Metrics, RouteLabelsKeepRouteWordsAndHideIds) {
  EXPECT_EQ(metrics::route_label("/v1/decisions"), "/v1/decisions");
  EXPECT_EQ(metrics::route_label("/v1/decisions:batch"), "/v1/decisions:batch");
  EXPECT_EQ(metrics::route_label("/v1/policy-values/quota.warn_threshold_percent"), "/v1/policy-values/{}");
  EXPECT_EQ(metrics::route_label("/tenants/org-acme/config/agents/triage"), "/tenants/{}/config/agents/{}");
  EXPECT_EQ(metrics::route_label("/v1/policies/p-1/versions/3:shadow"), "/v1/policies/{}/versions/{}:shadow");
  EXPECT_EQ(metrics::route_label("/v1/applications/app-9:evaluate"), "/v1/applications/{}:evaluate");
  EXPECT_EQ(metrics::route_label("/v1/applications/app-9:steal"), "/v1/applications/{}:{}");
  EXPECT_EQ(metrics::route_label("/v1/commands/ceiling.set"), "/v1/commands/{}");
  EXPECT_EQ(metrics::route_label("//v1//decisions/"), "/v1/decisions");
  EXPECT_EQ(metrics::route_label(""), "/");
  EXPECT_EQ(metrics::route_label("/a/b/c/d/e/f/g/h/i"), "other");
}

// Any path maps to a label made only of route words, "{}" and ':': labelling
// it again changes nothing, and no caller's digits (ids, counters) survive.
// So the set of labels is bounded by the routes' shape, never by callers.
RC_GTEST_PROP(Metrics, NoLabelCarriesAnythingButRouteWords, (const std::vector<std::string>& segments)) {
  std::string path;
  for (const auto& s : segments) path += "/" + s;
  const std::string label = metrics::route_label(path);
  if (label == "other") return;
  RC_ASSERT(metrics::route_label(label) == label);
  RC_ASSERT(label.find_first_of("0123456789") == std::string::npos);
}

TEST(Metrics, RequestSeriesAreCappedAndWrittenAsPrometheusText) {
  metrics::Registry registry;
  metrics::RequestMetrics requests(registry, /*max_routes=*/3);
  requests.observe("GET", "/v1/decisions", 200, 0.002);
  requests.observe("GET", "/v1/decisions", 200, 0.004);
  requests.observe("BREW", "/v1/reservations/r-1", 404, 0.001);
  requests.observe("GET", "/v1/plans", 200, 0.001);
  requests.observe("GET", "/v1/capabilities", 200, 0.001);  // a fourth route: "other"
  requests.observe("", "", 400, 0.0);                       // nothing parsed
  const std::string text = registry.text();
  EXPECT_NE(text.find("# TYPE ledger_http_requests_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(ledger_http_requests_total{method="GET",route="/v1/decisions",status="200"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(ledger_http_requests_total{method="other",route="/v1/reservations/{}",status="404"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(ledger_http_requests_total{method="GET",route="other",status="200"} 1)"), std::string::npos)
      << text;
  EXPECT_NE(
      text.find(R"(ledger_http_request_duration_seconds_sum{method="GET",route="/v1/decisions",status="200"} 0.006)"),
      std::string::npos)
      << text;

  // Values read at scrape time.
  auto gauge = registry.gauge("ledger_test_size", "a size");
  int size = 7;
  registry.on_scrape([&] { gauge.set(size); });
  size = 11;
  EXPECT_NE(registry.text().find("ledger_test_size 11"), std::string::npos);
}

}  // namespace
