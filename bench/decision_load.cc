// decision-load: admission decisions under load, against a running ledger.
//
//   build/bench/decision-load load  --nodes 100000 --clients 32
//   build/bench/decision-load run   --rate 500 --duration 20 --connections 16
//   build/bench/decision-load max   --p99-bound-ms 50
//   build/bench/decision-load batch --batch-size 100 --connections 4
//   build/bench/decision-load inputs --count 1000 > inputs.jsonl
//
// `load` builds a deterministic hierarchy of at least --nodes scope nodes
// through the command API (POST /v1/commands/<type>) from --clients threads:
// registry entries (product `compute`, resource type `gpu_instance`, usage
// unit `gpu`, quota dimension `gpu.count`), organizations on plans `pro` and
// `free`, each with its default department, --departments-per-org more,
// --projects-per-org projects spread over them and --principals-per-project
// principals (user, service account, api key) per project; ceilings on
// gpu.count at global, both plans, every organization, half the departments
// and a quarter of the projects; a delegation from every tenth pro
// organization with a department above the organization's own ceiling; and
// an active reservation in every fifth organization. Ids are derived from
// --prefix and the shape, and every command carries a derived command_id, so
// running `load` again only replays duplicates. It then waits until the
// query service's admission read model has the last command's position.
//
// `run` sends POST /v1/decisions open-loop at --rate for --duration seconds
// over --connections keep-alive connections: request i is due at
// start + i / rate whatever happened to the others, and its latency is
// measured from that due time, so queueing behind a slow answer counts
// (no coordinated omission). Past the rate the server holds, a run stops
// sending at twice --duration and reports what was still due (`not_sent`).
// Each request asks for a random project of the
// hierarchy (as one of its principals) with a usage drawn around that
// project's ceiling, so answers are a mix of allow, warn and deny.
//
// `max` first drives the endpoint closed-loop (--connections clients, each
// sending its next request when the last is answered) to find its capacity
// X, then steps the open-loop rate from 50% of X upwards in 10% steps and
// reports the highest rate held with the achieved rate within 3% of the
// target, p99 under --p99-bound-ms and no errors (it stops after two steps
// in a row that miss).
//
// `batch` drives POST /v1/decisions:batch closed-loop with --batch-size
// inputs per call.
//
// `inputs` prints --count decision inputs drawn as `run` draws them, one
// JSON per line, for other load generators (bench/pipeline.lua drives wrk
// with them, pipelined).
//
// --decision-path and --input-envelope point `run` and `max` at another
// engine answering the same inputs: Open Policy Agent with
// bench/opa/admission.rego is `--query-port <its port> --decision-path
// /v1/data/ledger/admission/decision --input-envelope` (the body becomes
// {"input": <decision input>}; allow / warn / deny are read off the
// answer's "decision" field as for the ledger). Every JSON line carries
// `answered_total`, the 200s of the run warm-up included, to divide a
// process's CPU time by.
//
// The modes that draw from the hierarchy must be given the same shape
// (--prefix, --nodes, ...) as `load`; the program is single-use and keeps no
// state between runs. Every mode prints a human summary and, with
// --json, one JSON line for scripts (bench/run_decisions.sh).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http/client.h"
#include "bench/latency.h"

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using ledger::adapters::http::HttpClient;
using ledger::adapters::http::HttpResponse;
using ledger::bench::percentile;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kDimension = "gpu.count";
constexpr const char* kUnit = "gpu";
constexpr const char* kProduct = "compute";
constexpr const char* kResourceType = "gpu_instance";
constexpr const char* kPrincipalTypes[] = {"user", "service_account", "api_key"};

struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t command_port = 8081;
  std::uint16_t query_port = 8082;
  std::string token = "dev-platform-admin";
  // Where single decisions go, and whether the body is wrapped as
  // {"input": <decision input>}: Open Policy Agent's data API takes the
  // same inputs that way (bench/opa/, the comparison in run_decisions.sh).
  std::string decision_path = "/v1/decisions";
  bool input_envelope = false;
  Headers headers() const { return {{"authorization", "Bearer " + token}}; }
};

// The hierarchy `load` builds, and the ids and ceilings `run` draws from.
// Organization o has departments d<o*D> .. d<o*D+D-1> besides its default
// one, projects p<o*P> .. p<o*P+P-1> (project j of the organization sits in
// the default department when j % (D+1) == 0, else in department j % (D+1) - 1
// of its own), and principals u<k*U> .. u<k*U+U-1> under project k.
struct Shape {
  std::string prefix = "bench";
  long nodes = 100'000;
  long orgs = 0;  // 0: enough for `nodes`
  long departments_per_org = 4;
  long projects_per_org = 20;
  long principals_per_project = 4;

  long nodes_per_org() const {
    return 2 + departments_per_org + projects_per_org * (1 + principals_per_project);  // org + default dept + ...
  }
  long org_count() const { return orgs > 0 ? orgs : (nodes + nodes_per_org() - 1) / nodes_per_org(); }
  long total_nodes() const { return org_count() * nodes_per_org(); }
  long project_count() const { return org_count() * projects_per_org; }

  std::string org(long o) const { return prefix + "-o" + std::to_string(o); }
  std::string default_department(long o) const { return org(o) + ".default"; }
  std::string department(long o, long r) const { return prefix + "-d" + std::to_string(o * departments_per_org + r); }
  std::string project(long k) const { return prefix + "-p" + std::to_string(k); }
  std::string principal(long k, long i) const { return prefix + "-u" + std::to_string(k * principals_per_project + i); }
  std::string reservation(long o) const { return prefix + "-r" + std::to_string(o); }

  bool pro(long o) const { return o % 4 != 3; }
  const char* plan(long o) const { return pro(o) ? "pro" : "free"; }
  // -1: the default department.
  long department_of(long j) const {
    const long r = j % (departments_per_org + 1);
    return r == 0 ? -1 : r - 1;
  }
  std::string department_id_of(long o, long j) const {
    const long r = department_of(j);
    return r < 0 ? default_department(o) : department(o, r);
  }

  // The ceilings `load` sets (nullopt: none at that scope).
  static constexpr std::int64_t kGlobal = 1'000'000;
  static std::int64_t plan_ceiling(bool pro) { return pro ? 20'000 : 200; }
  std::int64_t org_ceiling(long o) const { return pro(o) ? 2'000 : 50; }
  bool delegates(long o) const { return pro(o) && o % 10 == 0; }
  static constexpr std::int64_t kDelegationCap = 4'000;
  std::optional<std::int64_t> department_ceiling(long o, long r) const {
    if (r < 0) return std::nullopt;
    if (r == 2 && delegates(o)) return 3'000;  // above the organization's own: allowed by its delegation
    if (r % 2 == 1) return pro(o) ? 500 : 20;
    return std::nullopt;
  }
  std::optional<std::int64_t> project_ceiling(long o, long j) const {
    if (j % 4 == 1) return pro(o) ? 100 : 10;
    return std::nullopt;
  }
  bool has_reservation(long o) const { return o % 5 == 0 && projects_per_org > 1; }
  std::int64_t reservation_quantity(long o) const { return pro(o) ? 20 : 5; }
  // Roughly what a requester of project j sees (reservations aside): usage
  // is drawn around it.
  std::int64_t nominal_ceiling(long o, long j) const {
    if (auto p = project_ceiling(o, j)) return *p;
    if (auto d = department_ceiling(o, department_of(j))) return *d;
    return org_ceiling(o);
  }
};

std::string utc(std::chrono::system_clock::time_point t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// --------------------------------------------------------------------- load

struct Command {
  std::string type;
  Json body;
};

// Every command of organization o, in an order that respects dependencies
// (parents before children, parents' ceilings before children's).
std::vector<Command> org_commands(const Shape& s, long o, const std::string& window_start,
                                  const std::string& window_end) {
  std::vector<Command> out;
  const std::string org = s.org(o);
  auto scope = [](const char* level, const std::string& id) { return Json{{"level", level}, {"id", id}}; };
  out.push_back({"organization.create", {{"organization_id", org}, {"plan_id", s.plan(o)}, {"name", org}}});
  for (long r = 0; r < s.departments_per_org; ++r) {
    out.push_back({"department.create", {{"department_id", s.department(o, r)}, {"organization_id", org}}});
  }
  for (long j = 0; j < s.projects_per_org; ++j) {
    const long k = o * s.projects_per_org + j;
    out.push_back(
        {"project.create",
         {{"project_id", s.project(k)}, {"organization_id", org}, {"department_id", s.department_id_of(o, j)}}});
    for (long i = 0; i < s.principals_per_project; ++i) {
      out.push_back({"principal.create",
                     {{"principal_id", s.principal(k, i)},
                      {"principal_type", kPrincipalTypes[(k * s.principals_per_project + i) % 3]},
                      {"project_id", s.project(k)}}});
    }
  }
  auto ceiling = [&](Json sc, std::int64_t q) {
    out.push_back({"ceiling.set",
                   {{"scope", std::move(sc)},
                    {"dimension", kDimension},
                    {"quantity", q},
                    {"unit", kUnit},
                    {"reason", "decision benchmark"}}});
  };
  ceiling(scope("organization", org), s.org_ceiling(o));
  if (s.delegates(o)) {
    out.push_back({"ceiling.delegate",
                   {{"scope", scope("organization", org)},
                    {"dimension", kDimension},
                    {"max_quantity", Shape::kDelegationCap},
                    {"reason", "decision benchmark"}}});
  }
  for (long r = 0; r < s.departments_per_org; ++r) {
    if (auto q = s.department_ceiling(o, r)) ceiling(scope("department", s.department(o, r)), *q);
  }
  for (long j = 0; j < s.projects_per_org; ++j) {
    if (auto q = s.project_ceiling(o, j)) ceiling(scope("project", s.project(o * s.projects_per_org + j)), *q);
  }
  if (s.has_reservation(o)) {
    const std::string id = s.reservation(o);
    out.push_back({"reservation.draft",
                   {{"reservation_id", id},
                    {"owner", scope("project", s.project(o * s.projects_per_org + 1))},
                    {"kind", "gpu_nodes"},
                    {"dimension", kDimension},
                    {"quantity", s.reservation_quantity(o)},
                    {"unit", kUnit},
                    {"window_start", window_start},
                    {"window_end", window_end},
                    {"reason", "decision benchmark"}}});
    out.push_back({"reservation.activate", {{"reservation_id", id}, {"organization_id", org}}});
  }
  return out;
}

struct Sender {
  Sender(const Endpoint& e, const Shape& s) : ep(e), shape(s), headers(e.headers()) {}

  const Endpoint& ep;
  const Shape& shape;
  Headers headers;
  std::atomic<long> sent{0}, failed{0};
  std::atomic<std::int64_t> last_position{0};
  std::mutex mu;
  std::map<std::string, long> failures;  // "status code" -> count

  // Sends one command, retrying transport failures and 503s a few times.
  bool send(HttpClient& client, const Command& c) {
    Json body = c.body;
    // A derived command id: a second `load` only replays duplicates.
    std::string id = c.type + ":";
    // Most specific first: a department.create also names its organization.
    for (const char* f : {"reservation_id", "principal_id", "project_id", "department_id", "organization_id"}) {
      if (body.contains(f)) {
        id += body[f].get<std::string>();
        break;
      }
    }
    if (body.contains("scope")) id += body["scope"]["level"].get<std::string>() + ":" + body["scope"].value("id", "");
    if (c.type == "registry.register") {
      id += body["kind"].get<std::string>() + ":" + body["entry_id"].get<std::string>();
    }
    body["command_id"] = shape.prefix + ":" + id;
    const std::string text = body.dump();
    for (int attempt = 0;; ++attempt) {
      auto r = client.request("POST", "/v1/commands/" + c.type, text, headers);
      if (r && r->status == 200) {
        ++sent;
        const auto pos = Json::parse(r->body).value("position", std::int64_t{0});
        std::int64_t cur = last_position.load();
        while (pos > cur && !last_position.compare_exchange_weak(cur, pos)) {
        }
        return true;
      }
      const bool retry = !r || r->status == 503;
      if (retry && attempt < 20) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200 * (attempt + 1)));
        continue;
      }
      ++failed;
      std::string code = r ? std::to_string(r->status) : "transport";
      if (r) {
        auto j = Json::parse(r->body, nullptr, false);
        if (j.is_object()) code += " " + j.value("code", std::string());
      }
      std::lock_guard lock(mu);
      if (failures[c.type + " " + code]++ < 3) {
        std::fprintf(stderr, "  %s refused: %s -> %s\n", c.type.c_str(), text.c_str(),
                     r ? r->body.c_str() : r.error().message.c_str());
      }
      return false;
    }
  }
};

// Waits until the query service's admission read model (and the policy
// values it also reads for decisions) has `position`; prints progress.
bool wait_for_read_model(const Endpoint& ep, std::int64_t position, int timeout_s) {
  HttpClient q(ep.host, ep.query_port, std::chrono::seconds(30));
  const auto headers = ep.headers();
  const auto t0 = Clock::now();
  for (;;) {
    auto r = q.request("GET",
                       "/v1/ceilings/effective?scope_level=global&dimension=gpu.count&wait_ms=5000&min_position=" +
                           std::to_string(position),
                       {}, headers);
    const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r && r->status == 200) {
      std::printf("read model at position %lld after %.1f s of waiting\n", static_cast<long long>(position), waited);
      return true;
    }
    if (r && r->status != 503) {
      std::fprintf(stderr, "read model query failed: %d %s\n", r->status, r->body.c_str());
      return false;
    }
    auto now = q.request("GET", "/v1/ceilings/effective?scope_level=global&dimension=gpu.count", {}, headers);
    long long at = -1;
    if (now && now->status == 200) at = Json::parse(now->body).value("snapshot_version", -1LL);
    std::printf("  waiting for the read model: at %lld of %lld (%.0f s)\n", at, static_cast<long long>(position),
                waited);
    std::fflush(stdout);
    if (waited > timeout_s) return false;
  }
}

int load_mode(const Endpoint& ep, const Shape& s, int clients, int wait_timeout_s, bool json) {
  const long orgs = s.org_count();
  std::printf("hierarchy: %ld organizations x %ld nodes = %ld scope nodes (+ global and 2 plans), %ld projects\n", orgs,
              s.nodes_per_org(), s.total_nodes(), s.project_count());
  Sender sender(ep, s);
  const auto t0 = Clock::now();
  {
    HttpClient client(ep.host, ep.command_port, std::chrono::seconds(30));
    auto reg = [&](const char* kind, const char* id, Json attributes) {
      Json body{{"kind", kind}, {"entry_id", id}, {"description", "decision benchmark"}};
      if (!attributes.empty()) body["attributes"] = std::move(attributes);
      return sender.send(client, {"registry.register", std::move(body)});
    };
    bool ok =
        reg("product", kProduct, Json::object()) && reg("usage_unit", kUnit, Json::object()) &&
        reg("resource_type", kResourceType, {{"product", kProduct}}) &&
        reg("quota_dimension", kDimension, {{"product", kProduct}, {"resource_type", kResourceType}, {"unit", kUnit}});
    auto ceiling = [&](Json scope, std::int64_t q) {
      return sender.send(client, {"ceiling.set",
                                  {{"scope", std::move(scope)},
                                   {"dimension", kDimension},
                                   {"quantity", q},
                                   {"unit", kUnit},
                                   {"reason", "decision benchmark"}}});
    };
    ok = ok && ceiling({{"level", "global"}}, Shape::kGlobal) &&
         ceiling({{"level", "plan"}, {"id", "pro"}}, Shape::plan_ceiling(true)) &&
         ceiling({{"level", "plan"}, {"id", "free"}}, Shape::plan_ceiling(false));
    if (!ok) {
      std::fprintf(stderr, "registry entries or top-level ceilings refused; is the command service up?\n");
      return 1;
    }
  }

  // Reservation windows: from yesterday (UTC midnight) for ten years.
  const auto now = std::chrono::system_clock::now();
  const auto day = std::chrono::floor<std::chrono::days>(now) - std::chrono::days(1);
  const std::string window_start = utc(day), window_end = utc(day + std::chrono::days(3650));

  std::atomic<long> next_org{0}, orgs_done{0};
  std::atomic<bool> done{false};
  std::thread progress([&] {
    long last = 0;
    auto last_t = Clock::now();
    while (!done) {
      for (int i = 0; i < 50 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const long n = sender.sent.load();
      const auto t = Clock::now();
      std::printf("  %6.0f s  organizations %ld/%ld  commands %ld (%.0f/s now)  refused %ld\n",
                  std::chrono::duration<double>(t - t0).count(), orgs_done.load(), orgs, n,
                  static_cast<double>(n - last) / std::chrono::duration<double>(t - last_t).count(),
                  sender.failed.load());
      std::fflush(stdout);
      last = n;
      last_t = t;
    }
  });
  std::vector<std::thread> workers;
  for (int c = 0; c < clients; ++c) {
    workers.emplace_back([&] {
      HttpClient client(ep.host, ep.command_port, std::chrono::seconds(30));
      for (long o = next_org++; o < orgs; o = next_org++) {
        for (const auto& cmd : org_commands(s, o, window_start, window_end)) {
          // A refused parent makes its children fail too: skip the rest of the organization.
          if (!sender.send(client, cmd) && cmd.type == "organization.create") break;
        }
        ++orgs_done;
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  progress.join();
  const double write_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::int64_t position = sender.last_position.load();
  std::printf("commands accepted %ld, refused %ld, in %.1f s = %.0f/s; last position %lld\n", sender.sent.load(),
              sender.failed.load(), write_s, static_cast<double>(sender.sent.load()) / write_s,
              static_cast<long long>(position));
  const auto w0 = Clock::now();
  const bool caught_up = wait_for_read_model(ep, position, wait_timeout_s);
  const double catch_up_s = std::chrono::duration<double>(Clock::now() - w0).count();
  if (json) {
    std::printf("%s\n", Json{{"mode", "load"},
                             {"scope_nodes", s.total_nodes()},
                             {"organizations", orgs},
                             {"projects", s.project_count()},
                             {"commands", sender.sent.load()},
                             {"refused", sender.failed.load()},
                             {"write_s", write_s},
                             {"commands_per_s", static_cast<double>(sender.sent.load()) / write_s},
                             {"position", position},
                             {"catch_up_s", catch_up_s},
                             {"read_model_ready", caught_up}}
                            .dump()
                            .c_str());
  }
  return caught_up && sender.failed == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- decisions

// Random decision inputs over the hierarchy.
class Inputs {
 public:
  Inputs(const Shape& s, std::uint64_t seed) : s_(s), rng_(seed) {}

  std::string next(long serial) {
    const long k = std::uniform_int_distribution<long>(0, s_.project_count() - 1)(rng_);
    const long o = k / s_.projects_per_org, j = k % s_.projects_per_org;
    const std::int64_t ceiling = s_.nominal_ceiling(o, j);
    // Usage uniform in [0, 1.15 x ceiling]; deltas up to 2% of it.
    const std::int64_t usage = std::uniform_int_distribution<std::int64_t>(0, ceiling * 115 / 100)(rng_);
    const std::int64_t max_delta = std::max<std::int64_t>(1, ceiling / 50);
    const std::int64_t delta = std::uniform_int_distribution<std::int64_t>(1, max_delta)(rng_);
    std::string actor_id = s_.project(k), actor_type = "user";
    if (s_.principals_per_project > 0) {
      const long i = std::uniform_int_distribution<long>(0, s_.principals_per_project - 1)(rng_);
      actor_id = s_.principal(k, i);
      actor_type = kPrincipalTypes[(k * s_.principals_per_project + i) % 3];
    }
    std::string b;
    b.reserve(640);
    b += R"({"actor":{"actor_type":")" + actor_type + R"(","actor_id":")" + actor_id +
         R"(","roles":["developer"],"scopes":["quota:check"]},)";
    b += R"("hierarchy":{"organization_id":")" + s_.org(o) + R"(","department_id":")" + s_.department_id_of(o, j) +
         R"(","project_id":")" + s_.project(k) + R"("},)";
    b += R"("product":{"product_id":"compute","resource_type":"gpu_instance","resource_id":"vm-)" +
         std::to_string(serial) + R"(","action":"provision"},)";
    b += R"("request":{"dimension":"gpu.count","requested_delta":)" + std::to_string(delta) + R"(,"unit":"gpu"},)";
    b += R"("current_usage":{"scope_window":"","quantity":)" + std::to_string(usage) + R"(,"unit":"gpu"},)";
    b += R"("registry_versions":{},"correlation_id":"bench-)" + std::to_string(serial) + R"("})";
    return b;
  }

 private:
  const Shape& s_;
  std::mt19937_64 rng_;
};

// allow / warn / deny counts, read off answers without a full parse (the
// load generator shares the two cores with the services).
struct Split {
  long allow = 0, warn = 0, deny = 0;
  void count(const std::string& body) {
    for (std::size_t at = body.find(R"("decision":")"); at != std::string::npos;
         at = body.find(R"("decision":")", at + 12)) {
      const char c = body[at + 12];
      if (c == 'a')
        ++allow;
      else if (c == 'w')
        ++warn;
      else if (c == 'd')
        ++deny;
    }
  }
  void add(const Split& o) {
    allow += o.allow;
    warn += o.warn;
    deny += o.deny;
  }
  long total() const { return allow + warn + deny; }
};

struct Outcome {
  std::string label;
  double target_rate = 0;  // 0: closed loop
  double achieved = 0;     // answered (200) per second over the measured window
  double decisions_per_s = 0;
  double seconds = 0;
  long requests = 0, ok = 0, errors = 0, transport_failures = 0;
  long answered_total = 0;         // every 200, warm-up included (CPU per decision over the whole run)
  long not_sent = 0;               // open loop: still due when the run gave up (overloaded)
  std::map<int, long> statuses;    // non-200
  std::vector<double> latency_ms;  // from the due time (open loop) or the send (closed loop)
  std::vector<double> service_ms;  // from the actual send
  Split split;

  double p(double q) const { return percentile(latency_ms, q); }
  void print() const {
    std::printf("%-28s %8.0f/s", label.c_str(), decisions_per_s);
    if (target_rate > 0) std::printf(" (target %.0f)", target_rate);
    std::printf("  latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f", p(0.5), p(0.9), p(0.99), p(1.0));
    if (target_rate > 0) {
      std::printf("  (service p50 %.2f p99 %.2f)", percentile(service_ms, 0.5), percentile(service_ms, 0.99));
    }
    const double n = std::max<double>(1, static_cast<double>(split.total()));
    std::printf("\n%-28s allow %.1f%%  warn %.1f%%  deny %.1f%%  (%ld answers; errors %ld, transport failures %ld", "",
                100.0 * split.allow / n, 100.0 * split.warn / n, 100.0 * split.deny / n, ok, errors,
                transport_failures);
    for (const auto& [st, c] : statuses) std::printf("; %d x%ld", st, c);
    if (not_sent > 0) std::printf("; %ld due but not sent: overloaded, gave up", not_sent);
    std::printf(")\n");
    std::fflush(stdout);
  }
  Json json() const {
    return {{"label", label},
            {"target_rate", target_rate},
            {"decisions_per_s", decisions_per_s},
            {"requests_per_s", achieved},
            {"seconds", seconds},
            {"ok", ok},
            {"errors", errors},
            {"transport_failures", transport_failures},
            {"answered_total", answered_total},
            {"not_sent", not_sent},
            {"p50_ms", p(0.5)},
            {"p90_ms", p(0.9)},
            {"p99_ms", p(0.99)},
            {"max_ms", p(1.0)},
            {"service_p50_ms", percentile(service_ms, 0.5)},
            {"service_p99_ms", percentile(service_ms, 0.99)},
            {"allow", split.allow},
            {"warn", split.warn},
            {"deny", split.deny}};
  }
};

struct Load {
  const Endpoint& ep;
  const Shape& shape;
  int connections = 16;
  double warmup_s = 2;
  std::string path = "/v1/decisions";
  int batch_size = 1;  // > 1: POST /v1/decisions:batch
};

// One measured run. rate > 0: open loop at `rate` requests/s (request i due
// at start + i / rate); rate == 0: closed loop. The first `warmup_s` seconds
// are not measured.
Outcome drive(const Load& l, double rate, double duration_s, const std::string& label) {
  Outcome out;
  out.label = label;
  out.target_rate = rate;
  const auto headers = l.ep.headers();
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  auto span = [](double seconds) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  };
  const auto measure_from = start + span(l.warmup_s);
  const auto end = measure_from + span(duration_s);
  const auto period = rate > 0 ? std::chrono::duration<double>(1.0 / rate) : std::chrono::duration<double>(0);
  // Past the rate the server holds, the backlog grows without bound: stop
  // sending at twice the measured duration and count what was still due.
  const auto give_up = end + (end - measure_from);
  std::atomic<long> not_sent{0};
  std::atomic<long> next{0};
  std::atomic<long> serial_base{0};
  std::mutex mu;
  Clock::time_point last_done = end;
  std::vector<std::thread> workers;
  for (int c = 0; c < l.connections; ++c) {
    workers.emplace_back([&, c] {
      HttpClient client(l.ep.host, l.ep.query_port, std::chrono::seconds(30));
      Inputs inputs(l.shape, 0x5eed0000ULL + static_cast<std::uint64_t>(c) * 7919 + static_cast<std::uint64_t>(rate));
      Outcome mine;
      Clock::time_point my_last = start;
      for (;;) {
        Clock::time_point due;
        if (rate > 0) {
          const long i = next++;
          due = start + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(i));
          if (due >= end) break;
          if (Clock::now() >= give_up) {
            const long total = static_cast<long>(std::ceil(rate * std::chrono::duration<double>(end - start).count()));
            long left = std::max(0L, total - i);
            // Only the first worker to see it counts the rest.
            if (next.exchange(total + 1) <= total) not_sent += left;
            break;
          }
          std::this_thread::sleep_until(due);
        } else {
          due = Clock::now();
          if (due >= end) break;
        }
        std::string body;
        if (l.batch_size > 1) {
          body = R"({"decisions":[)";
          for (int b = 0; b < l.batch_size; ++b) {
            if (b) body += ',';
            body += inputs.next(serial_base++);
          }
          body += "]}";
        } else if (l.ep.input_envelope) {
          body = R"({"input":)" + inputs.next(serial_base++) + "}";
        } else {
          body = inputs.next(serial_base++);
        }
        const auto sent = Clock::now();
        auto r = client.request("POST", l.path, body, headers);
        const auto done = Clock::now();
        if (r && r->status == 200) ++mine.answered_total;
        if (due < measure_from) continue;
        ++mine.requests;
        my_last = done;
        if (!r) {
          ++mine.transport_failures;
          continue;
        }
        if (r->status != 200) {
          ++mine.errors;
          ++mine.statuses[r->status];
          if (mine.statuses[r->status] == 1 && c == 0) {
            std::fprintf(stderr, "  %s answered %d: %.300s\n", l.path.c_str(), r->status, r->body.c_str());
          }
          continue;
        }
        ++mine.ok;
        mine.split.count(r->body);
        mine.latency_ms.push_back(std::chrono::duration<double, std::milli>(done - due).count());
        mine.service_ms.push_back(std::chrono::duration<double, std::milli>(done - sent).count());
      }
      std::lock_guard lock(mu);
      out.requests += mine.requests;
      out.ok += mine.ok;
      out.errors += mine.errors;
      out.transport_failures += mine.transport_failures;
      out.answered_total += mine.answered_total;
      for (const auto& [s, n] : mine.statuses) out.statuses[s] += n;
      out.split.add(mine.split);
      out.latency_ms.insert(out.latency_ms.end(), mine.latency_ms.begin(), mine.latency_ms.end());
      out.service_ms.insert(out.service_ms.end(), mine.service_ms.begin(), mine.service_ms.end());
      last_done = std::max(last_done, my_last);
    });
  }
  for (auto& w : workers) w.join();
  out.not_sent = not_sent.load();
  // If the server fell behind, the last answers came after `end`: the rate
  // is over the whole time it took.
  out.seconds = std::chrono::duration<double>(last_done - measure_from).count();
  out.achieved = static_cast<double>(out.ok) / out.seconds;
  out.decisions_per_s = static_cast<double>(out.split.total()) / out.seconds;
  return out;
}

// One decision first, printed: fails fast when the endpoint is missing or
// the hierarchy is not there.
bool probe(const Endpoint& ep, const Shape& s) {
  HttpClient client(ep.host, ep.query_port, std::chrono::seconds(30));
  Inputs inputs(s, 42);
  const std::string input = inputs.next(0);
  const std::string body = ep.input_envelope ? R"({"input":)" + input + "}" : input;
  auto r = client.request("POST", ep.decision_path, body, ep.headers());
  if (!r) {
    std::fprintf(stderr, "query service unreachable: %s\n", r.error().message.c_str());
    return false;
  }
  std::printf("probe: POST %s %s\n  -> %d %s\n", ep.decision_path.c_str(), body.c_str(), r->status, r->body.c_str());
  return r->status == 200;
}

void print_json(const Json& j, bool json) {
  if (json) std::printf("%s\n", j.dump().c_str());
}

int run_mode(const Load& l, const std::vector<double>& rates, double duration, bool json) {
  if (!probe(l.ep, l.shape)) return 1;
  for (double rate : rates) {
    auto o = drive(l, rate, duration,
                   "open loop " + std::to_string(static_cast<long>(rate)) + "/s x" + std::to_string(l.connections));
    o.print();
    Json j = o.json();
    j["mode"] = "run";
    j["connections"] = l.connections;
    print_json(j, json);
  }
  return 0;
}

int max_mode(const Load& l, double probe_s, double step_s, double bound_ms, bool json) {
  if (!probe(l.ep, l.shape)) return 1;
  auto closed = drive(l, 0, probe_s, "closed loop x" + std::to_string(l.connections));
  closed.print();
  Json cj = closed.json();
  cj["mode"] = "max_closed";
  print_json(cj, json);
  const double x = closed.achieved;
  std::optional<Outcome> best;
  int misses = 0;
  for (int pct = 50; pct <= 130 && misses < 2; pct += 10) {
    const double rate = std::round(x * pct / 100.0);
    auto o =
        drive(l, rate, step_s,
              "open loop " + std::to_string(static_cast<long>(rate)) + "/s (" + std::to_string(pct) + "% of closed)");
    const bool held = o.achieved >= 0.97 * rate && o.p(0.99) <= bound_ms && o.errors == 0 &&
                      o.transport_failures == 0 && o.not_sent == 0;
    o.print();
    std::printf("%-28s %s\n", "", held ? "held" : "NOT held");
    Json j = o.json();
    j["mode"] = "max_step";
    j["held"] = held;
    print_json(j, json);
    if (held) {
      if (!best || rate > best->target_rate) best = std::move(o);
      misses = 0;
    } else {
      ++misses;
    }
  }
  if (best) {
    std::printf("highest rate held with p99 <= %.0f ms: %.0f decisions/s (p50 %.2f, p99 %.2f ms)\n", bound_ms,
                best->target_rate, best->p(0.5), best->p(0.99));
  } else {
    std::printf("no rate held with p99 <= %.0f ms\n", bound_ms);
  }
  print_json({{"mode", "max"},
              {"connections", l.connections},
              {"p99_bound_ms", bound_ms},
              {"closed_per_s", closed.decisions_per_s},
              {"closed_p50_ms", closed.p(0.5)},
              {"closed_p99_ms", closed.p(0.99)},
              {"max_held_rate", best ? best->target_rate : 0.0},
              {"max_held_achieved", best ? best->decisions_per_s : 0.0},
              {"max_held_p50_ms", best ? best->p(0.5) : 0.0},
              {"max_held_p99_ms", best ? best->p(0.99) : 0.0}},
             json);
  return best ? 0 : 1;
}

int batch_mode(const Load& l, double duration, bool json) {
  if (!probe(l.ep, l.shape)) return 1;
  auto o = drive(l, 0, duration, "batch of " + std::to_string(l.batch_size) + " x" + std::to_string(l.connections));
  o.print();
  std::printf("%-28s %.1f calls/s; latency is per call\n", "", o.achieved);
  Json j = o.json();
  j["mode"] = "batch";
  j["batch_size"] = l.batch_size;
  j["connections"] = l.connections;
  j["calls_per_s"] = o.achieved;
  print_json(j, json);
  return o.ok > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Policy Ledger admission decisions under load"};
  app.require_subcommand(1);
  app.fallthrough();  // the shape and endpoint flags may also follow the subcommand
  Endpoint ep;
  Shape shape;
  bool json = false;
  app.add_option("--host", ep.host)->capture_default_str();
  app.add_option("--command-port", ep.command_port)->envname("LEDGER_COMMAND_PORT")->capture_default_str();
  app.add_option("--query-port", ep.query_port)->envname("LEDGER_QUERY_PORT")->capture_default_str();
  app.add_option("--token", ep.token, "a platform token (config/tokens.json)")->capture_default_str();
  app.add_option("--prefix", shape.prefix, "prefix of every id the hierarchy uses")->capture_default_str();
  app.add_option("--nodes", shape.nodes, "scope nodes at least (decides the number of organizations)")
      ->capture_default_str();
  app.add_option("--orgs", shape.orgs, "organizations (0: enough for --nodes)")->capture_default_str();
  app.add_option("--departments-per-org", shape.departments_per_org, "besides the default one")->capture_default_str();
  app.add_option("--projects-per-org", shape.projects_per_org)->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--principals-per-project", shape.principals_per_project)->capture_default_str();
  app.add_flag("--json", json, "also print one JSON line per mode");
  app.add_option("--decision-path", ep.decision_path,
                 "where run and max send single decisions (another engine: --query-port, e.g. OPA's "
                 "/v1/data/ledger/admission/decision)")
      ->capture_default_str();
  app.add_flag("--input-envelope", ep.input_envelope, "send each decision input as {\"input\": ...} (OPA)");

  int clients = 32, wait_timeout = 900;
  auto* load = app.add_subcommand("load", "build the hierarchy through the command API, wait for the read model");
  load->add_option("--clients", clients, "concurrent command clients")->capture_default_str();
  load->add_option("--wait-timeout", wait_timeout, "seconds to wait for the read model")->capture_default_str();

  int connections = 16;
  double duration = 20, warmup = 2;
  std::vector<double> rates = {200, 500, 1000};
  auto* run = app.add_subcommand("run", "open-loop decisions at fixed rates");
  run->add_option("--rate", rates, "target decisions/s (several: one run each)")->capture_default_str();
  run->add_option("--duration", duration, "measured seconds per rate")->capture_default_str();
  run->add_option("--connections", connections)->capture_default_str();
  run->add_option("--warmup", warmup, "unmeasured seconds first")->capture_default_str();

  double probe_s = 10, step_s = 10, bound_ms = 50;
  int max_connections = 16;
  auto* max = app.add_subcommand("max", "find the highest rate held with p99 under a bound");
  max->add_option("--connections", max_connections)->capture_default_str();
  max->add_option("--probe-seconds", probe_s, "closed-loop seconds")->capture_default_str();
  max->add_option("--step-seconds", step_s, "seconds per open-loop step")->capture_default_str();
  max->add_option("--p99-bound-ms", bound_ms)->capture_default_str();
  max->add_option("--warmup", warmup, "unmeasured seconds before each step")->capture_default_str();

  int batch_size = 100, batch_connections = 4;
  double batch_duration = 20;
  auto* batch = app.add_subcommand("batch", "closed-loop POST /v1/decisions:batch");
  batch->add_option("--batch-size", batch_size)->check(CLI::Range(1, 1000))->capture_default_str();
  batch->add_option("--connections", batch_connections)->capture_default_str();
  batch->add_option("--duration", batch_duration)->capture_default_str();
  batch->add_option("--warmup", warmup, "unmeasured seconds first")->capture_default_str();
  long input_count = 1000;
  std::uint64_t input_seed = 1;
  auto* inputs = app.add_subcommand("inputs", "print decision inputs, one JSON per line (for wrk: bench/pipeline.lua)");
  inputs->add_option("--count", input_count)->check(CLI::Range(1L, 10000000L))->capture_default_str();
  inputs->add_option("--seed", input_seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (*inputs) {
    Inputs draw(shape, input_seed);
    for (long i = 0; i < input_count; ++i) std::printf("%s\n", draw.next(i).c_str());
    return 0;
  }

  if (*load) return load_mode(ep, shape, clients, wait_timeout, json);
  if (*run) return run_mode(Load{ep, shape, connections, warmup, ep.decision_path}, rates, duration, json);
  if (*max) {
    return max_mode(Load{ep, shape, max_connections, warmup, ep.decision_path}, probe_s, step_s, bound_ms, json);
  }
  Load l{ep, shape, batch_connections, warmup, "/v1/decisions:batch", batch_size};
  return batch_mode(l, batch_duration, json);
}
