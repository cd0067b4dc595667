// Operator-level SQL helpers: creating a database, running one statement.
// Used by tests (a fresh database per test) and operator tools; never by the
// request path. Each call opens and closes its own connection.
#pragma once

#include <map>
#include <string>

#include "domain/error.h"

namespace ledger::adapters::postgres {

// Drops (forcibly) and creates database `name` through `admin_url`'s server.
domain::Result<void> recreate_database(const std::string& admin_url, const std::string& name);
// First column of the first row as text ("" when there is none or NULL).
domain::Result<std::string> query_scalar(const std::string& url, const std::string& sql);
// Runs a statement; the error carries the server's message in `message`.
domain::Result<void> execute(const std::string& url, const std::string& sql);

// The passwords of a libpq password file (what scripts/infra.sh writes under
// .local/<profile>/secrets/pgpass): one `host:port:database:user:password`
// per line, `#` comments, `\:` and `\\` escapes; user -> password, the
// first line of a user wins. Unreadable file -> kInvalidArgument
// `secrets_file_unreadable`; a line without five fields ->
// kInvalidArgument `secrets_file_malformed` (evidence: line).
domain::Result<std::map<std::string, std::string>> read_password_file(const std::string& path);

// Sets each role's password (ALTER ROLE ... PASSWORD; the server stores a
// SCRAM verifier under password_encryption = scram-sha-256) in one
// transaction through `admin_url`. A role that does not exist -> the
// server's error.
domain::Result<void> set_role_passwords(const std::string& admin_url,
                                        const std::map<std::string, std::string>& passwords);

}  // namespace ledger::adapters::postgres
