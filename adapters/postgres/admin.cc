#include "adapters/postgres/admin.h"

#include <fstream>
#include <vector>

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

domain::Result<std::map<std::string, std::string>> read_password_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return domain::fail(domain::ErrorKind::kInvalidArgument, "secrets_file_unreadable", "cannot read " + path);
  }
  std::map<std::string, std::string> out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) {
        fields.back() += line[++i];
      } else if (line[i] == ':' && fields.size() < 5) {
        fields.emplace_back();
      } else {
        fields.back() += line[i];
      }
    }
    if (fields.size() != 5 || fields[3].empty()) {
      domain::Error e{domain::ErrorKind::kInvalidArgument,
                      "secrets_file_malformed",
                      path + " is not a password file (host:port:database:user:password)",
                      {}};
      e.with("line", number);
      return std::unexpected(std::move(e));
    }
    out.emplace(fields[3], fields[4]);
  }
  return out;
}

domain::Result<void> set_role_passwords(const std::string& admin_url,
                                        const std::map<std::string, std::string>& passwords) {
  try {
    pqxx::connection c(admin_url);
    pqxx::work tx(c);
    for (const auto& [role, password] : passwords) {
      tx.exec("ALTER ROLE " + tx.quote_name(role) + " PASSWORD " + tx.quote(password));
    }
    tx.commit();
    return {};
  } catch (const std::exception&) {
    // The message may quote the statement: never log or return it whole.
    return domain::fail(domain::ErrorKind::kInternal, "database_error", "could not set the role passwords");
  }
}

}  // namespace ledger::adapters::postgres
