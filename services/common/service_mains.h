// The body of each long-running service, as its main() runs it
// (services/<binary>/main.cc) and as ledger-all runs all four in one
// process, each in a thread of its own (services/ledger_all/main.cc).
#pragma once

namespace ledger::services {

int run_ledger_command(int argc, char** argv);
int run_ledger_relay(int argc, char** argv);
int run_ledger_projector(int argc, char** argv);
int run_ledger_query(int argc, char** argv);

}  // namespace ledger::services
