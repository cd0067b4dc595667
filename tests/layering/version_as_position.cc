// Must not compile: a stream version handed to a port that wants a global
// position (events/position.h keeps the two counters apart).
#include "commands/relay/ports.h"

void probe(ledger::relay::EventSource& source, ledger::events::StreamVersion version) {
  (void)source.read_after(version, 10);
}
