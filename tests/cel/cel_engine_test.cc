// adapters/cel/cel_engine: the seed's expressions through the real cel-go,
// check errors with positions, runtime errors, the cost limit, threads.
#include "adapters/cel/cel_engine.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using ledger::adapters::cel::CelEngine;

// Not a service: SIGINT and SIGTERM behave as usual in this binary's own
// threads (adapters/cel/cel_engine.h, "Signals").
class RestoreShutdownSignals : public ::testing::Environment {
 public:
  void SetUp() override { ledger::adapters::cel::restore_shutdown_signals(); }
};
[[maybe_unused]] ::testing::Environment* const kRestoreShutdownSignals =
    ::testing::AddGlobalTestEnvironment(new RestoreShutdownSignals);
using ledger::domain::app_policy::EvaluationInput;

const CelEngine& engine() {
  static auto e = CelEngine::create();
  if (!e) {
    std::fprintf(stderr, "%s\n", e.error().message.c_str());
    std::abort();
  }
  return **e;
}

// Wednesday 2025-01-15 12:00:00 UTC and Saturday 2025-01-18 12:00:00 UTC.
constexpr std::int64_t kWednesdayMs = 1736942400000;
constexpr std::int64_t kSaturdayMs = 1737201600000;

EvaluationInput input() {
  EvaluationInput in;
  in.app_id = "app-123";
  in.org_id = "org-acme";
  in.actor_id = "u-1";
  in.actor_type = "user";
  in.model = "gpt-4o";
  in.time_unix_ms = kWednesdayMs;
  in.size_bytes = 2048;
  in.estimated_tokens = 1200;
  return in;
}

bool eval(std::string_view expr, const EvaluationInput& in) {
  auto p = engine().compile(expr);
  EXPECT_TRUE(p.has_value()) << expr << ": " << (p ? "" : p.error().message);
  if (!p) return false;
  auto v = (*p)->evaluate(in);
  EXPECT_TRUE(v.has_value()) << expr << ": " << (v ? "" : v.error().code + " " + v.error().message);
  return v.value_or(false);
}

TEST(CelEngine, SeedTokenLimitExpression) {
  auto in = input();
  EXPECT_TRUE(engine().check("estimated_tokens < 5000").valid());
  EXPECT_TRUE(eval("estimated_tokens < 5000", in));
  in.estimated_tokens = 5000;
  EXPECT_FALSE(eval("estimated_tokens < 5000", in));
  in.estimated_tokens = 4999;
  EXPECT_TRUE(eval("request.estimated_tokens < 5000", in));
}

TEST(CelEngine, SeedModelExpression) {
  auto in = input();
  EXPECT_TRUE(eval("model != 'gpt-4-32k'", in));
  in.model = "gpt-4-32k";
  EXPECT_FALSE(eval("model != 'gpt-4-32k'", in));
  EXPECT_FALSE(eval("request.model != 'gpt-4-32k'", in));
}

TEST(CelEngine, SeedDayOfWeekExpressionBothSpellings) {
  auto in = input();
  // The seed's spelling (the ledger's documented extension) and standard CEL
  // agree: UTC, 0 = Sunday ... 6 = Saturday.
  for (const char* expr : {"timestamp.getDayOfWeek(request.time) < 6", "request.time.getDayOfWeek() < 6"}) {
    in.time_unix_ms = kWednesdayMs;
    EXPECT_TRUE(eval(expr, in)) << expr;
    in.time_unix_ms = kSaturdayMs;
    EXPECT_FALSE(eval(expr, in)) << expr;
  }
  in.time_unix_ms = kSaturdayMs;
  EXPECT_TRUE(eval("timestamp.getDayOfWeek(request.time) == 6", in));
  EXPECT_TRUE(eval("request.time == timestamp('2025-01-18T12:00:00Z')", in));
}

TEST(CelEngine, EveryDeclaredVariable) {
  auto in = input();
  in.actual_tokens = 900;
  EXPECT_TRUE(
      eval("app_id == 'app-123' && org_id == 'org-acme' && actor.id == 'u-1' && actor.type == 'user' && "
           "request.size_bytes == 2048 && actual_tokens == 900 && request.actual_tokens == 900 && "
           "model.startsWith('gpt-')",
           in));
  in.actual_tokens.reset();
  EXPECT_TRUE(eval("actual_tokens == 0 && request.actual_tokens == 0", in));
}

TEST(CelEngine, SyntaxErrorHasItsPosition) {
  auto c = engine().check("estimated_tokens < ");
  ASSERT_FALSE(c.valid());
  EXPECT_EQ(c.errors.front().position, 19) << c.errors.front().message;
  auto p = engine().compile("estimated_tokens < ");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code, "invalid_expression");
}

TEST(CelEngine, TypeErrorsAreCaughtAtCheckWithPositions) {
  // Comparing an int to a string: no overload, at the operator.
  auto c = engine().check("estimated_tokens < 'many'");
  ASSERT_FALSE(c.valid());
  EXPECT_EQ(c.errors.front().position, 17) << c.errors.front().message;
  EXPECT_NE(c.errors.front().message.find("no matching overload"), std::string::npos) << c.errors.front().message;

  // An undeclared variable, at its first character.
  c = engine().check("true && tokens < 5");
  ASSERT_FALSE(c.valid());
  EXPECT_EQ(c.errors.front().position, 8) << c.errors.front().message;

  // A field request does not have: caught at check, not at run time.
  c = engine().check("request.modell == 'x'");
  ASSERT_FALSE(c.valid());
  EXPECT_EQ(c.errors.front().position, 7) << c.errors.front().message;

  // Positions count characters, not bytes.
  c = engine().check("model == 'é' && nope");
  ASSERT_FALSE(c.valid());
  EXPECT_EQ(c.errors.front().position, 16) << c.errors.front().message;

  auto p = engine().compile("request.size_bytes + 'x' > 0");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code, "invalid_expression");
  ASSERT_FALSE(p.error().evidence.empty());
  EXPECT_EQ(p.error().evidence.front(),
            (std::pair<std::string, ledger::domain::EvidenceValue>{"position", std::int64_t{19}}));
}

TEST(CelEngine, NonBoolExpressionsAreRefusedAtCheck) {
  auto c = engine().check("estimated_tokens + 1");
  ASSERT_FALSE(c.valid());
  EXPECT_NE(c.errors.front().message.find("bool"), std::string::npos);
  EXPECT_FALSE(engine().check("").valid());
  EXPECT_FALSE(engine().check("   ").valid());
}

TEST(CelEngine, NonBoolResultAtRunTimeIsAnEvaluationError) {
  auto p = engine().compile("dyn(estimated_tokens)");
  ASSERT_TRUE(p.has_value()) << p.error().message;
  auto v = (*p)->evaluate(input());
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code, "cel_evaluation_failed");
}

TEST(CelEngine, RuntimeErrorsAreEvaluationErrors) {
  auto in = input();
  in.estimated_tokens = 0;
  for (const char* expr : {"100 / estimated_tokens > 1", "[1, 2][estimated_tokens + 5] == 1", "{'a': 1}[model] == 1",
                           "int('x' + model) > 0"}) {
    auto p = engine().compile(expr);
    ASSERT_TRUE(p.has_value()) << expr << ": " << p.error().message;
    auto v = (*p)->evaluate(in);
    ASSERT_FALSE(v.has_value()) << expr;
    EXPECT_EQ(v.error().code, "cel_evaluation_failed") << expr;
    EXPECT_EQ(v.error().kind, ledger::domain::ErrorKind::kFailedPrecondition);
  }
}

TEST(CelEngine, HostileExpressionStopsAtTheCostLimit) {
  // 30^4 = 810,000 inner iterations: far over the default limit of 100,000.
  const std::string list = "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29]";
  const std::string expr =
      list + ".all(a, " + list + ".all(b, " + list + ".all(c, " + list + ".all(d, a + b + c + d >= 0))))";
  auto p = engine().compile(expr);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  auto v = (*p)->evaluate(input());
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code, "cel_cost_exceeded");

  // The same expression under a larger limit completes: the limit, not the
  // expression, stopped it.
  auto big = CelEngine::create({.cost_limit = 100'000'000});
  ASSERT_TRUE(big.has_value());
  auto q = (*big)->compile(expr);
  ASSERT_TRUE(q.has_value());
  auto w = (*q)->evaluate(input());
  ASSERT_TRUE(w.has_value()) << w.error().message;
  EXPECT_TRUE(*w);
}

TEST(CelEngine, OverlongExpressionIsRefusedWithoutParsing) {
  std::string expr = "estimated_tokens < 5";
  expr.append(ledger::adapters::cel::kMaxExpressionLength, ' ');
  auto c = engine().check(expr);
  ASSERT_FALSE(c.valid());
  EXPECT_NE(c.errors.front().message.find("limit"), std::string::npos);
  EXPECT_FALSE(engine().compile(expr).has_value());
  // Deep nesting is refused by the parser's recursion limit.
  std::string deep(200, '(');
  deep += "true";
  deep.append(200, ')');
  EXPECT_FALSE(engine().check(deep).valid());
}

TEST(CelEngine, GoRuntimeThreadsNeverTakeShutdownSignals) {
  // The Go runtime's threads started with SIGINT/SIGTERM blocked (the
  // priority-101 constructor): read every thread's blocked set from /proc.
  engine();  // the runtime is up
  int go_threads_checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream status(entry.path() / "status");
    std::string line, name;
    unsigned long long blocked = 0;
    bool have = false;
    while (std::getline(status, line)) {
      if (line.rfind("Name:", 0) == 0) name = line;
      if (line.rfind("SigBlk:", 0) == 0) {
        blocked = std::stoull(line.substr(7), nullptr, 16);
        have = true;
      }
    }
    if (!have || entry.path().filename() == std::to_string(::getpid())) continue;  // the main thread restored its own
    const unsigned long long term = 1ull << (SIGTERM - 1), intr = 1ull << (SIGINT - 1);
    EXPECT_EQ(blocked & term, term) << name << " (tid " << entry.path().filename() << ") may take SIGTERM";
    EXPECT_EQ(blocked & intr, intr) << name << " (tid " << entry.path().filename() << ") may take SIGINT";
    ++go_threads_checked;
  }
  EXPECT_GT(go_threads_checked, 0);
}

TEST(CelEngine, ManyThreadsEvaluateOneProgram) {
  auto p = engine().compile("estimated_tokens < 5000 && model != 'gpt-4-32k'");
  ASSERT_TRUE(p.has_value());
  const auto program = *p;
  constexpr int kThreads = 8;
  constexpr int kEach = 2000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto in = input();
        in.estimated_tokens = (t * kEach + i) % 10000;
        auto v = program->evaluate(in);
        if (!v || *v != (in.estimated_tokens < 5000)) wrong.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(CelEngine, ProgramsOutliveNothingAndCompileConcurrently) {
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto p = engine().compile("estimated_tokens < " + std::to_string(t * 100 + i));
        if (!p) {
          failed.fetch_add(1);
          continue;
        }
        auto in = input();
        in.estimated_tokens = t * 100 + i - 1;
        if (auto v = (*p)->evaluate(in); !v || !*v) failed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
}

}  // namespace
