// The harness the end-to-end tests stand on (tests/support/process.h,
// test_env.h): what it reads of a child's log is that child's, and the
// names it makes do not repeat across test processes that share a pid.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>

#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace ledger::testing {
namespace {

using namespace std::chrono_literals;

// TMPDIR pointed at a directory of the test's own while it lives.
class OwnTmpdir {
 public:
  OwnTmpdir() : dir_(std::filesystem::temp_directory_path() / unique_name("ledger-harness")) {
    std::filesystem::create_directories(dir_);
    if (const char* old = std::getenv("TMPDIR")) old_ = old;
    ::setenv("TMPDIR", dir_.c_str(), 1);
  }
  ~OwnTmpdir() {
    if (old_) {
      ::setenv("TMPDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  OwnTmpdir(const OwnTmpdir&) = delete;
  OwnTmpdir& operator=(const OwnTmpdir&) = delete;
  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::optional<std::string> old_;
};

// A CI run spawns more processes than pid_max, so a test process can get
// the pid of an earlier one whose child logs are still on disk under the
// same names. The new child's port must come from the new child's log.
TEST(TestHarness, AStaleLogAtAChildsPathIsNeverReadAsItsPort) {
  OwnTmpdir tmp;
  // Whatever this process's next log numbers are: every one of them holds
  // an earlier run's line.
  for (int n = 1; n <= 2000; ++n) {
    std::ofstream(tmp.path() / ("ledger-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(n) + ".log"))
        << "listening on http://127.0.0.1:9\n";
  }
  for (int i = 0; i < 5; ++i) {
    ChildProcess child({"/bin/sh", "-c", "sleep 0.2; echo 'listening on http://127.0.0.1:4321'; sleep 5"}, {});
    EXPECT_EQ(child.wait_for_port(10s), 4321) << "attempt " << i << ", log: " << child.log();
  }
}

TEST(TestHarness, UniqueNamesDoNotRepeatAndCarryMoreThanThePid) {
  std::set<std::string> names;
  for (int i = 0; i < 100; ++i) names.insert(unique_name("ledger.events"));
  EXPECT_EQ(names.size(), 100U);
  // Not "ledger.events.t<pid>.<n>": another process with this pid, later in
  // the run, would make the same names.
  const std::string pid_only = "ledger.events.t" + std::to_string(::getpid()) + ".";
  for (const auto& name : names) {
    EXPECT_EQ(name.rfind("ledger.events.t", 0), 0U) << name;
    EXPECT_NE(name.rfind(pid_only, 0), 0U) << name;
  }
}

}  // namespace
}  // namespace ledger::testing
