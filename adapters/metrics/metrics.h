// Prometheus metrics of a process (issue 17 part 4), with prometheus-cpp
// behind this header: nothing here includes it, so callers compile without it.
//
//   metrics::Registry registry;
//   auto decisions = registry.counter("ledger_decisions_total", "Admission decisions", {{"outcome", "allow"}});
//   decisions.inc();
//   registry.on_scrape([&] { size.set(model.size()); });  // values read when scraped
//   std::string text = registry.text();                      // GET /metrics
//
// Names follow Prometheus conventions (`ledger_` prefix, `_total` counters,
// `_seconds` histograms). Asking again for the same name and labels returns
// the same series. Label values must come from a bounded set (never a raw
// path, id or tenant): see route_label().
//
// Thread-safety: every member may be called from any thread; handles are
// cheap to copy and live as long as their registry.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace ledger::adapters::metrics {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  void inc(double by = 1) const;

 private:
  friend class Registry;
  prometheus::Counter* series_ = nullptr;
};

class Gauge {
 public:
  void set(double value) const;

 private:
  friend class Registry;
  prometheus::Gauge* series_ = nullptr;
};

class Histogram {
 public:
  void observe(double value) const;

 private:
  friend class Registry;
  prometheus::Histogram* series_ = nullptr;
};

// Latency buckets in seconds, 100 µs to 10 s.
std::vector<double> latency_buckets();

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram histogram(const std::string& name, const std::string& help, const Labels& labels,
                      const std::vector<double>& buckets);

  // `refresh` runs before each text(): for values read from elsewhere
  // (sizes, lags, a publisher's own counters). It must not throw.
  void on_scrape(std::function<void()> refresh);

  // Every series in the Prometheus text exposition format (version 0.0.4).
  std::string text() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex scrape_mu_;
  std::vector<std::function<void()>> refreshers_;
};

// The content type of text().
inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// A route label of bounded cardinality for a request path: each segment is
// kept when it is a word of the ledger's routes (v1, decisions, tenants,
// config, ...), else it becomes "{}" (an id, key or tenant); a word after a
// ':' (custom methods like `{id}:evaluate`) is kept the same way. A path of
// more than 8 segments is "other".
std::string route_label(std::string_view path);

// HTTP request metrics of one service: ledger_http_requests_total and
// ledger_http_request_duration_seconds, by method, route (route_label) and
// status. At most `max_routes` distinct routes are labelled; the rest count
// as route "other", so no caller can grow the series without bound.
class RequestMetrics {
 public:
  explicit RequestMetrics(Registry& registry, std::size_t max_routes = 256);
  void observe(std::string_view method, std::string_view path, int status, double seconds);

 private:
  struct Series {
    Counter count;
    Histogram latency;
  };
  Registry& registry_;
  const std::size_t max_routes_;
  std::mutex mu_;
  std::map<std::string, Series, std::less<>> series_;  // "<method> <route> <status>"
  std::map<std::string, bool, std::less<>> routes_;
};

}  // namespace ledger::adapters::metrics
