#include "adapters/system/clock.h"

#include <chrono>

namespace ledger::adapters::system {

events::Instant SystemClock::now() {
  using namespace std::chrono;
  return events::Instant{duration_cast<microseconds>(system_clock::now().time_since_epoch()).count()};
}

}  // namespace ledger::adapters::system
