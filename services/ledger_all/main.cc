// ledger-all: the command service, the relay, the projector and the query
// service in one process, for a laptop. Each runs in a thread of its own
// exactly as its own binary would (services/common/service_mains.h), as
// that service: its PostgreSQL role and URL variable, its Kafka principal.
// Settings come from the same LEDGER_* environment variables the separate
// binaries read (ports, topics, tokens, anchor key, ...); the Kafka
// passwords from --kafka-secrets-dir/<service>.password. SIGTERM or SIGINT
// stops all four; if one of them cannot start, the others are stopped and
// the process exits with its code.
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "services/common/process.h"
#include "services/common/service_mains.h"
#include "services/common/settings.h"

// NOLINTNEXTLINE(bugprone-exception-escape): what escapes is a bug; std::terminate reports it (as in every main)
int main(int argc, char** argv) {
  using namespace ledger;
  services::block_shutdown_signals();
  CLI::App app{"Policy Ledger in one process: command service, relay, projector and query service"};
  services::add_version_flag(app);
  std::string secrets_dir;
  app.add_option("--kafka-secrets-dir", secrets_dir,
                 "folder holding <service>.password, each service's Kafka password (scripts/infra.sh makes it)")
      ->envname("LEDGER_KAFKA_SECRETS_DIR");
  CLI11_PARSE(app, argc, argv);

  struct Service {
    const char* name;
    int (*run)(int, char**);
  };
  const std::vector<Service> services = {{"ledger-command", services::run_ledger_command},
                                         {"ledger-relay", services::run_ledger_relay},
                                         {"ledger-projector", services::run_ledger_projector},
                                         {"ledger-query", services::run_ledger_query}};
  std::vector<int> codes(services.size(), 0);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < services.size(); ++i) {
    threads.emplace_back([&, i] {
      const Service& svc = services[i];
      services::act_as_program(svc.name);
      std::vector<std::string> args{svc.name};
      if (!secrets_dir.empty()) {
        args.insert(args.end(), {"--kafka-username", svc.name, "--kafka-password-file",
                                 secrets_dir + "/" + svc.name + ".password"});
      }
      std::vector<char*> argv_of;
      for (auto& a : args) argv_of.push_back(a.data());
      argv_of.push_back(nullptr);
      codes[i] = svc.run(static_cast<int>(args.size()), argv_of.data());
      if (codes[i] != 0) {
        spdlog::critical("ledger-all: {} exited with {}; stopping the others", svc.name, codes[i]);
        ::kill(::getpid(), SIGTERM);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int c : codes) {
    if (c != 0) return c;
  }
  return 0;
}
