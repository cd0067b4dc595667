// Service binaries as child processes, for end-to-end tests.
//
//   ChildProcess p({LEDGER_BINARY_DIR "/services/ledger-query", "--http-port", "0"}, env);
//   std::uint16_t port = p.wait_for_port(std::chrono::seconds(20));
//   p.kill_hard();   // SIGKILL, as a crash would
//
// stdout and stderr go to a log file under $TMPDIR, removed by the
// destructor unless the test failed or LEDGER_KEEP_TEST_LOGS is set; the
// destructor stops the process (SIGTERM, then SIGKILL).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ledger::testing {

class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::vector<std::pair<std::string, std::string>> env);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits for the "listening on http(s)://host:PORT" log line; 0 on timeout or exit.
  std::uint16_t wait_for_port(std::chrono::milliseconds timeout);
  // Waits until the log contains `text`.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout);
  bool running();
  void kill_hard();
  // SIGSTOP / SIGCONT: the process stays alive but does nothing meanwhile.
  void pause();
  void resume();
  int terminate();  // SIGTERM and wait; returns the exit status
  std::string log() const;
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// A shell command run to completion: its exit status (-1 when it did not
// exit normally) and its standard output (add "2>&1" for stderr too).
struct CommandRun {
  int status = -1;
  std::string out;
};
CommandRun run_command(const std::string& shell_command);

}  // namespace ledger::testing
