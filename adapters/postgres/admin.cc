#include "adapters/postgres/admin.h"

#include "adapters/postgres/pg_internal.h"

namespace ledger::adapters::postgres {

domain::Result<void> recreate_database(const std::string& admin_url, const std::string& name) {
  std::string quoted = "\"";
  for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  quoted += "\"";
  if (auto dropped = execute(admin_url, "DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)"); !dropped) {
    return dropped;
  }
  return execute(admin_url, "CREATE DATABASE " + quoted);
}

domain::Result<std::string> query_scalar(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    auto r = tx.exec(sql);
    if (r.empty() || r[0][0].is_null()) return std::string();
    return r[0][0].as<std::string>();
  } catch (const std::exception& e) {
    return domain::fail(domain::ErrorKind::kInternal, "database_error", e.what());
  }
}

domain::Result<void> execute(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec(sql);
    return {};
  } catch (const std::exception& e) {
    return domain::fail(domain::ErrorKind::kInternal, "database_error", e.what());
  }
}

}  // namespace ledger::adapters::postgres
