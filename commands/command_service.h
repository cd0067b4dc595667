// The command service: decides commands and appends their events with group
// commit.
//
//   CommandService svc(store, clock);
//   svc.start();
//   auto outcome = svc.submit_async(request).get();   // Result<Accepted>
//
// Any number of threads submit; one writer thread takes whatever is queued
// (up to `max_batch`), and for each command: returns the stored outcome if its
// command_id was seen before, else loads its stream state (cached while this
// instance holds the writer lock), calls the aggregate's pure `decide`, and
// evolves the state tentatively so later commands of the same batch see it.
// The accepted ones are appended in ONE transaction; only after it commits do
// callers learn they were accepted. If the transaction fails, every command
// of the batch gets the error (nothing of it was written) and the cache of the
// touched streams is dropped.
//
// Lifecycle: construct, start(), submit from any thread, stop() (also in the
// destructor) answers queued commands with `shutting_down`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "commands/command.h"
#include "commands/ports.h"

namespace ledger::commands {

struct Accepted {
  std::string command_id;
  std::vector<std::string> event_ids;
  std::int64_t position = 0;  // read-your-writes token: query with min_position=position
  std::int64_t stream_version = 0;
  bool duplicate = false;  // this command_id was accepted before; first outcome returned
};

class CommandService {
 public:
  struct Options {
    std::size_t max_batch = 256;
    std::chrono::milliseconds heartbeat{500};  // how often an idle instance checks the writer lock
  };

  CommandService(EventStore& store, Clock& clock, Options options);
  CommandService(EventStore& store, Clock& clock) : CommandService(store, clock, Options{}) {}
  ~CommandService();
  CommandService(const CommandService&) = delete;
  CommandService& operator=(const CommandService&) = delete;

  void start();
  void stop();

  std::future<domain::Result<Accepted>> submit_async(CommandRequest request);

  // True while the last attempt to act as writer succeeded.
  bool is_writer() const;

 private:
  struct Pending {
    CommandRequest request;
    std::promise<domain::Result<Accepted>> reply;
  };
  struct CachedStream {
    domain::PolicyKeyState state;
    std::int64_t last_position = 0;
  };

  void run();
  void process(std::vector<Pending>& batch);
  domain::Result<CachedStream> load(const std::string& stream_id);

  EventStore& store_;
  Clock& clock_;
  Options options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::atomic<bool> writer_{false};
  std::thread thread_;

  // Writer-thread only.
  std::uint64_t epoch_ = 0;
  std::map<std::string, CachedStream> cache_;
};

}  // namespace ledger::commands
