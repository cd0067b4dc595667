// Google Benchmark micro-benchmarks of the hot pure code: sealing an event
// into the hash chain, deciding a command, resolving a policy value, and the
// admission model the writer keeps (deciding a ceiling change and an
// admission decision in a hierarchy of up to 1,000,000 scope nodes), and a
// bearer JWT's check as every request makes it (verified afresh, or found in
// the verifier's cache of verified tokens).
//   build/bench/ledger-micro-bench
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include "adapters/identity/identity.h"
#include "adapters/identity/jwt.h"
#include "domain/admission.h"
#include "domain/policy_key.h"
#include "domain/policy_resolution.h"
#include "events/codec/json_codec.h"

namespace {

using namespace ledger;

events::PolicyKeyDefined key_def() {
  return {"billing.window_seconds", events::ValueType::kInt, events::PolicyValue{std::int64_t{60}}, 1, 86400, {}, ""};
}

void BM_RecordAndHash(benchmark::State& state) {
  events::EventMeta m;
  m.stream_id = "policy-key:billing.window_seconds";
  m.actor = {"user", "alice", {"platform_admin"}};
  m.tenant = "org-1";
  events::PolicyValueSet e{"billing.window_seconds",
                           {events::ScopeLevel::kUser, "u-1"},
                           events::PolicyValue{std::int64_t{60}},
                           events::BeforeSource::kDefault,
                           events::PolicyValue{std::int64_t{90}},
                           events::Instant{1},
                           "load"};
  std::string prev = events::kGenesisHash;
  for (auto _ : state) {
    m.global_position = m.global_position.next();
    auto r = codec::record(m, e, prev);
    prev = r.hash;
    benchmark::DoNotOptimize(prev);
  }
}
BENCHMARK(BM_RecordAndHash);

// What a static bearer token costs to check: its SHA-256 (the token file
// keeps digests only), once per request.
void BM_Sha256OfAToken(benchmark::State& state) {
  const std::string token = "dev-platform-admin-0123456789";
  for (auto _ : state) benchmark::DoNotOptimize(ledger::codec::sha256_hex(token));
}
BENCHMARK(BM_Sha256OfAToken)->Threads(1)->Threads(2);

void BM_DecideSetValue(benchmark::State& state) {
  domain::PolicyKeyState s;
  s = domain::evolve(std::move(s), key_def());
  for (int i = 0; i < state.range(0); ++i) {
    s = domain::evolve(std::move(s), events::PolicyValueSet{"billing.window_seconds",
                                                            {events::ScopeLevel::kUser, "u-" + std::to_string(i)},
                                                            events::PolicyValue{std::int64_t{60}},
                                                            events::BeforeSource::kDefault,
                                                            events::PolicyValue{std::int64_t{61}},
                                                            {},
                                                            "r"});
  }
  domain::SetPolicyValue c{"billing.window_seconds",
                           {events::ScopeLevel::kUser, "u-7"},
                           events::PolicyValue{std::int64_t{99}},
                           {},
                           "r",
                           events::PolicyValue{std::int64_t{61}}};
  for (auto _ : state) benchmark::DoNotOptimize(domain::decide(s, c, events::Instant{0}));
}
BENCHMARK(BM_DecideSetValue)->Arg(10)->Arg(100000);

void BM_Resolve(benchmark::State& state) {
  std::vector<domain::ValueCandidate> cands;
  for (int i = 0; i < state.range(0); ++i) {
    cands.push_back({{static_cast<events::ScopeLevel>(i % 5), i % 5 == 4 ? "" : "id"},
                     events::PolicyValue{std::int64_t{i}},
                     events::Instant{i},
                     i + 1});
  }
  domain::ScopeChain chain{"id", "id", "id", "id"};
  for (auto _ : state) benchmark::DoNotOptimize(domain::resolve(key_def(), chain, cands, events::Instant{1'000'000}));
}
BENCHMARK(BM_Resolve)->Arg(5)->Arg(100);

// A hierarchy of `nodes` scope nodes: 1 organization per 1,000 nodes, each
// with 10 departments of 99 projects, ceilings at org and department level.
domain::AdmissionModel admission_model(std::int64_t nodes) {
  domain::AdmissionModel m;
  m.apply("registry:product:gpuaas", events::RegistryEntryRegistered{"product", "gpuaas", 1, "", {}, {}});
  m.apply("registry:usage_unit:gpu", events::RegistryEntryRegistered{"usage_unit", "gpu", 1, "", {}, {}});
  m.apply("registry:quota_dimension:gpu.count",
          events::RegistryEntryRegistered{
              "quota_dimension", "gpu.count", 1, "", {{"product", "gpuaas"}, {"unit", "gpu"}}, {}});
  const events::CeilingTarget gpu{"gpu.count", "", "", ""};
  for (std::int64_t o = 0; o * 1000 < nodes; ++o) {
    const std::string org = "org-" + std::to_string(o);
    m.apply("organization:" + org, events::OrganizationCreated{org, org, "pro", org + ".default"});
    m.apply("ceilings:organization:" + org,
            events::CeilingSet{{events::QuotaLevel::kOrganization, org}, org, "r", 1, gpu, 1000, "gpu", {}, ""});
    for (int d = 0; d < 10; ++d) {
      const std::string dept = org + "-d" + std::to_string(d);
      m.apply("department:" + dept, events::DepartmentCreated{dept, org, "", dept});
      m.apply("ceilings:department:" + dept,
              events::CeilingSet{{events::QuotaLevel::kDepartment, dept}, org, "r", 1, gpu, 100, "gpu", {}, ""});
      for (int p = 0; p < 98; ++p) {
        const std::string proj = dept + "-p" + std::to_string(p);
        m.apply("project:" + proj, events::ProjectCreated{proj, org, dept, proj});
      }
    }
  }
  return m;
}

void BM_AdmissionDecideCeiling(benchmark::State& state) {
  const auto m = admission_model(state.range(0));
  domain::SetCeiling c{{events::QuotaLevel::kProject, "org-0-d3-p7"}, {"gpu.count", "", "", ""}, 50, "gpu", "bench"};
  for (auto _ : state) benchmark::DoNotOptimize(domain::decide(m, c, events::Instant{0}));
  state.counters["nodes"] = static_cast<double>(m.node_count());
}
BENCHMARK(BM_AdmissionDecideCeiling)->Arg(1000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

void BM_AdmissionDecision(benchmark::State& state) {
  const auto m = admission_model(state.range(0));
  domain::DecisionInput in;
  in.hierarchy = {"org-0", "", "org-0-d3-p7"};
  in.request.dimension = "gpu.count";
  in.request.requested_delta = 4;
  in.current_usage.quantity = 10;
  for (auto _ : state) {
    auto snapshot = m.snapshot_for(in);
    benchmark::DoNotOptimize(domain::decide_admission(in, snapshot, events::Instant{0}));
  }
  state.counters["nodes"] = static_cast<double>(m.node_count());
}
BENCHMARK(BM_AdmissionDecision)->Arg(1000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

// Bearer JWTs. Arg 0 signs with HS256, arg 1 with EdDSA (Ed25519); "now" is
// fixed, the keys are throw-away keys made for this benchmark.
constexpr std::int64_t kJwtNow = 1767225600;  // 2026-01-01T00:00:00Z
const events::Instant kJwtNowInstant{kJwtNow * 1'000'000};
constexpr const char* kBenchHsSecret = "micro-bench-hs256-secret-0123456789abcdefghijklm";
constexpr const char* kBenchEdPrivate =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIA9TgGJz7JMET/wrc4hQOUkEgwxk2MWxGXRddfQyitZo\n"
    "-----END PRIVATE KEY-----\n";
// Twice the cache's capacity: cycling through this many tokens misses on every call.
constexpr std::size_t kDistinctTokens = 2 * identity::kVerifiedTokenCacheCapacity;

nlohmann::json bench_key_json(std::int64_t alg) {
  if (alg == 0)
    return {{"kid", "bench-hs"}, {"alg", "HS256"}, {"secret_base64url", identity::base64url_encode(kBenchHsSecret)}};
  return {{"kid", "bench-ed"}, {"alg", "EdDSA"}, {"private_key_pem", kBenchEdPrivate}};
}

// The query service's authenticator, as a token file configures it.
const identity::TokenAuthenticator& bench_authenticator() {
  static const identity::TokenAuthenticator auth = [] {
    const nlohmann::json config = {{"jwt",
                                    {{"issuer", "policy-ledger"},
                                     {"audience", "policy-ledger"},
                                     {"keys", {bench_key_json(0), bench_key_json(1)}}}}};
    return std::move(*identity::TokenAuthenticator::from_json(config));
  }();
  return auth;
}

// "Bearer <token>" for `count` distinct users of a tenant, signed with `alg`.
std::vector<std::string> bench_bearers(std::int64_t alg, std::size_t count) {
  const auto key = identity::JwtKey::from_json(bench_key_json(alg));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) {
    identity::JwtClaims c;
    c.issuer = "policy-ledger";
    c.audience = {"policy-ledger"};
    c.subject = "user-" + std::to_string(i);
    c.actor_type = "user";
    c.roles = {"tenant_admin", "auditor"};
    c.organization = "org-acme";
    c.token_id = "bench-token-" + std::to_string(i);
    c.issued_at = kJwtNow - 60;
    c.expires_at = kJwtNow + 3600;
    out.push_back("Bearer " + *identity::mint_jwt(*key, c));
  }
  return out;
}

const std::vector<std::string>& distinct_bearers(std::int64_t alg) {
  static const std::vector<std::string> pools[2] = {bench_bearers(0, kDistinctTokens),
                                                    bench_bearers(1, kDistinctTokens)};
  return pools[alg];
}

// A fresh verification (signature, JSON, claims) on every call: the tokens
// cycle through more than the cache holds, so each call misses.
void BM_JwtAuthenticateFresh(benchmark::State& state) {
  const auto& auth = bench_authenticator();
  const auto& bearers = distinct_bearers(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(auth.authenticate(bearers[i], kJwtNowInstant));
    i = (i + 1) % bearers.size();
  }
}
BENCHMARK(BM_JwtAuthenticateFresh)->Arg(0)->Arg(1);

// The same token again and again (one per thread), as a client repeats its
// token: a cache hit (digest, lookup, the time window, a copy of the claims).
void BM_JwtAuthenticateCached(benchmark::State& state) {
  const auto& auth = bench_authenticator();
  const std::string bearer = distinct_bearers(state.range(0))[static_cast<std::size_t>(state.thread_index())];
  for (auto _ : state) benchmark::DoNotOptimize(auth.authenticate(bearer, kJwtNowInstant));
}
BENCHMARK(BM_JwtAuthenticateCached)->Arg(0)->Arg(1)->Threads(1)->Threads(4);

}  // namespace

BENCHMARK_MAIN();
