// Operator-level SQL helpers: creating a database, running one statement.
// Used by tests (a fresh database per test) and operator tools; never by the
// request path. Each call opens and closes its own connection.
#pragma once

#include <string>

#include "domain/error.h"

namespace ledger::adapters::postgres {

// Drops (forcibly) and creates database `name` through `admin_url`'s server.
domain::Result<void> recreate_database(const std::string& admin_url, const std::string& name);
// First column of the first row as text ("" when there is none or NULL).
domain::Result<std::string> query_scalar(const std::string& url, const std::string& sql);
// Runs a statement; the error carries the server's message in `message`.
domain::Result<void> execute(const std::string& url, const std::string& sql);

}  // namespace ledger::adapters::postgres
