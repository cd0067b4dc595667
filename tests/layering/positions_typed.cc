// Compiles: what the typed counters allow (the failing probes beside it are
// wrong only in the one way they mean to be).
#include "commands/relay/ports.h"

static_assert(ledger::events::GlobalPosition{41}.next() == ledger::events::GlobalPosition{42});
static_assert(ledger::events::StreamVersion{1} < ledger::events::StreamVersion{2});

void probe(ledger::relay::EventSource& source, ledger::events::GlobalPosition after) {
  (void)source.read_after(after.next(), 10);
}
