#include "tests/support/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace ledger::testing {

ChildProcess::ChildProcess(std::vector<std::string> argv, std::vector<std::pair<std::string, std::string>> env) {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TMPDIR");
  log_path_ = std::string(tmp ? tmp : "/tmp") + "/ledger-e2e-" + std::to_string(::getpid()) + "-" +
              std::to_string(++counter) + ".log";
  // The overrides replace inherited variables of the same name (getenv
  // takes the first match, so appending would let the parent's win).
  std::vector<std::string> envs;
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [k, v] : env) overridden = overridden || k == name;
    if (!overridden) envs.push_back(entry);
  }

  // The log is emptied here, before the child exists: a path can be left
  // over from an earlier test process that had the same pid (pids wrap at
  // pid_max within one long run, or an earlier run left it), and emptying it
  // in the child would let wait_for_port read that process's "listening on"
  // line first.
  const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + log_path_);
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(fd);
    throw std::runtime_error("fork failed");
  }
  if (pid_ == 0) {
    ::dup2(fd, 1);  // dup2's copies do not inherit O_CLOEXEC
    ::dup2(fd, 2);
    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(fd);
}

ChildProcess::~ChildProcess() {
  if (running()) terminate();
  // The log stays for a test that failed (its failure message names it),
  // and with LEDGER_KEEP_TEST_LOGS=1; otherwise a run would leave thousands.
  if (!::testing::Test::HasFailure() && std::getenv("LEDGER_KEEP_TEST_LOGS") == nullptr) {
    ::unlink(log_path_.c_str());
  }
}

std::string ChildProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

bool ChildProcess::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (log().find(text) != std::string::npos) return true;
    if (!running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::uint16_t ChildProcess::wait_for_port(std::chrono::milliseconds timeout) {
  static const std::regex kListening(R"(listening on https?://[0-9.]+:([0-9]+))");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    const std::string text = log();
    if (std::regex_search(text, m, kListening)) return static_cast<std::uint16_t>(std::stoi(m[1].str()));
    if (!running()) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

void ChildProcess::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void ChildProcess::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

void ChildProcess::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

int ChildProcess::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill_hard();
  return -1;
}

CommandRun run_command(const std::string& shell_command) {
  CommandRun r;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(shell_command.c_str(), "r"), [](FILE*) { return 0; });
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0;) r.out.append(buf.data(), n);
  const int raw = ::pclose(pipe.release());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

}  // namespace ledger::testing
