// Random (version 4) UUIDs from OpenSSL's CSPRNG. Thread-safe.
#pragma once

#include <string>

namespace ledger::adapters::system {

std::string new_uuid();

}  // namespace ledger::adapters::system
