// Must not compile: a bare integer does not become a global position
// without saying so (events::GlobalPosition{n}).
#include "events/position.h"

ledger::events::GlobalPosition probe(long n) { return n; }
