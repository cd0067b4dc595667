#include "adapters/metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <set>

namespace ledger::adapters::metrics {

void Counter::inc(double by) const {
  if (series_ != nullptr) series_->Increment(by);
}
void Gauge::set(double value) const {
  if (series_ != nullptr) series_->Set(value);
}
void Histogram::observe(double value) const {
  if (series_ != nullptr) series_->Observe(value);
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Registry::Registry() : registry_(std::make_shared<prometheus::Registry>()) {}
Registry::~Registry() = default;

Counter Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  Counter c;
  c.series_ = &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_).Add(labels);
  return c;
}

Gauge Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  Gauge g;
  g.series_ = &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_).Add(labels);
  return g;
}

Histogram Registry::histogram(const std::string& name, const std::string& help, const Labels& labels,
                              const std::vector<double>& buckets) {
  Histogram h;
  h.series_ = &prometheus::BuildHistogram()
                   .Name(name)
                   .Help(help)
                   .Register(*registry_)
                   .Add(labels, prometheus::Histogram::BucketBoundaries(buckets));
  return h;
}

void Registry::on_scrape(std::function<void()> refresh) {
  std::lock_guard lock(scrape_mu_);
  refreshers_.push_back(std::move(refresh));
}

std::string Registry::text() const {
  {
    std::lock_guard lock(scrape_mu_);
    for (const auto& refresh : refreshers_) refresh();
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

namespace {

// Every literal segment of the ledger's HTTP routes (README, both services).
const std::set<std::string, std::less<>>& route_words() {
  static const std::set<std::string, std::less<>> words = {
      "v1", "api", "admin", "healthz", "readyz", "metrics", "openapi.json",
      // policy values and keys, the command edge
      "policy-values", "policy-keys", "commands",
      // admission
      "decisions", "log", "status", "ceilings", "effective", "reservations", "views", "organizations", "projects",
      "scopes", "audit", "changes",
      // application policies (seed 002)
      "applications", "policies", "types", "validate-cel",
      // entitlements (seed 003)
      "capabilities", "plans", "versions", "activations", "activate", "entitlements", "active",
      // layered configuration (seed 004)
      "config", "global", "service-types", "tenants", "risk", "agents", "services", "resolved", "history", "secrets",
      "shred", "reload"};
  return words;
}

std::string segment_label(std::string_view segment) {
  const auto colon = segment.find(':');
  if (colon != std::string_view::npos) {
    const std::string head = segment_label(segment.substr(0, colon));
    const std::string_view method = segment.substr(colon + 1);
    static const std::set<std::string, std::less<>> methods = {"batch",     "batchCheck", "check",   "evaluate",
                                                               "deprecate", "update",     "archive", "shadow"};
    return head + ":" + (methods.contains(method) ? std::string(method) : std::string("{}"));
  }
  return route_words().contains(segment) ? std::string(segment) : std::string("{}");
}

std::string method_label(std::string_view method) {
  static constexpr std::array<std::string_view, 7> known = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (auto m : known) {
    if (m == method) return std::string(m);
  }
  return "other";
}

}  // namespace

std::string route_label(std::string_view path) {
  std::string out;
  int segments = 0;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const std::size_t end = std::min(path.find('/', i), path.size());
    if (++segments > 8) return "other";
    out += '/';
    out += segment_label(path.substr(i, end - i));
    i = end;
  }
  return out.empty() ? "/" : out;
}

RequestMetrics::RequestMetrics(Registry& registry, std::size_t max_routes)
    : registry_(registry), max_routes_(max_routes) {}

void RequestMetrics::observe(std::string_view method, std::string_view path, int status, double seconds) {
  std::string route = route_label(path);
  const std::string verb = method_label(method);
  std::lock_guard lock(mu_);
  if (!routes_.contains(route)) {
    if (routes_.size() >= max_routes_)
      route = "other";
    else
      routes_.emplace(route, true);
  }
  const std::string key = verb + " " + route + " " + std::to_string(status);
  auto it = series_.find(key);
  if (it == series_.end()) {
    const Labels labels = {{"method", verb}, {"route", route}, {"status", std::to_string(status)}};
    Series s{
        registry_.counter("ledger_http_requests_total", "HTTP requests answered, by method, route and status", labels),
        registry_.histogram("ledger_http_request_duration_seconds",
                            "Time from a request's header to its answer, by method, route and status", labels,
                            latency_buckets())};
    it = series_.emplace(key, s).first;
  }
  it->second.count.inc();
  it->second.latency.observe(seconds);
}

}  // namespace ledger::adapters::metrics
