// libpqxx helpers shared by the PostgreSQL adapters. Included only by .cc
// files under adapters/postgres/: pqxx never reaches a public header.
#pragma once

#include <pqxx/pqxx>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "domain/error.h"
#include "domain/policy_resolution.h"
#include "events/event.h"

namespace ledger::adapters::postgres::internal {

// Connects, or returns kUnavailable `database_unavailable`.
domain::Result<std::unique_ptr<pqxx::connection>> connect(const std::string& url);

// Runs `body`, translating libpqxx exceptions into errors at the port edge:
// lost connections and in-doubt commits -> kUnavailable (the caller retries,
// with the same command ids), unique violations -> kAborted
// `stream_version_conflict`, serialization failures -> kAborted, others ->
// kInternal. `broken` is set when the connection must be dropped.
domain::Result<void> guarded(const std::function<void()>& body, bool& broken);

// A named statement a session prepares on each of its connections, for
// `tx.exec_prepared(name, ...)`. Its SQL is final (schema already in).
struct Statement {
  std::string name;
  std::string sql;
};
using Statements = std::shared_ptr<const std::vector<Statement>>;

// One lazily (re)connected libpqxx connection. `run` connects if needed
// (unless the session only adopts connections, as the writer does), runs the
// body under `guarded`, and drops the connection when it broke, so the next
// call reconnects: dependencies that come back are picked up without a
// restart. Every connection it opens defines `statements` once (libpqxx
// registers each with the server on its first use there: one Parse per
// statement and connection, then Bind/Execute only); a new connection
// defines them again. Thread-compatible.
class Session {
 public:
  explicit Session(std::string url, bool auto_connect = true, Statements statements = nullptr)
      : url_(std::move(url)), auto_connect_(auto_connect), statements_(std::move(statements)) {}

  template <typename T>
  domain::Result<T> run(const std::function<T(pqxx::connection&)>& body) {
    if (!conn_ || !conn_->is_open()) {
      conn_.reset();
      prepared_ = false;
      if (!auto_connect_) {
        return domain::fail(domain::ErrorKind::kUnavailable, "not_connected", "no database connection");
      }
      auto c = connect(url_);
      if (!c) return std::unexpected(c.error());
      conn_ = std::move(*c);
    }
    T out{};
    bool broken = false;
    auto ok = guarded(
        [&] {
          if (!prepared_ && statements_) {
            for (const auto& s : *statements_) conn_->prepare(s.name, s.sql);
          }
          prepared_ = true;
          out = body(*conn_);
        },
        broken);
    if (!ok) {
      if (broken) conn_.reset();
      return std::unexpected(ok.error());
    }
    return out;
  }

  const std::string& url() const { return url_; }
  bool connected() const { return conn_ && conn_->is_open(); }
  void adopt(std::unique_ptr<pqxx::connection> c) {
    conn_ = std::move(c);
    prepared_ = false;
  }
  void reset() { conn_.reset(); }

 private:
  std::string url_;
  bool auto_connect_;
  Statements statements_;
  bool prepared_ = false;  // statements_ defined on conn_
  std::unique_ptr<pqxx::connection> conn_;
};

// A small pool of sessions for read-only queries, shared by the query
// classes: each call borrows one session and gives it back afterwards. Every
// session prepares `statements` on its connection (see Session).
// Thread-safe; a caller waits while every session is busy.
class SessionPool {
 public:
  SessionPool(const std::string& url, std::size_t size, std::vector<Statement> statements = {}) {
    auto shared = std::make_shared<const std::vector<Statement>>(std::move(statements));
    for (std::size_t i = 0; i < std::max<std::size_t>(1, size); ++i) {
      idle_.push_back(std::make_unique<Session>(url, true, shared));
    }
  }

  template <typename T>
  domain::Result<T> run(const std::function<T(pqxx::connection&)>& body) {
    std::unique_ptr<Session> s;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !idle_.empty(); });
      s = std::move(idle_.back());
      idle_.pop_back();
    }
    auto out = s->run<T>(body);
    {
      std::lock_guard lock(mu_);
      idle_.push_back(std::move(s));
    }
    cv_.notify_one();
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Session>> idle_;
};

// The columns every event query selects, in the order row_to_event reads.
extern const char* const kEventColumns;
events::RecordedEvent row_to_event(const pqxx::row& row);

// ------------------------------------------------- one policy value's rows
// What PgPolicyQueries::policy_snapshot reads (read_model_store.cc), shared
// with the admission decisions, which read quota.warn_threshold_percent in
// their own transaction. Defined in read_model_store.cc.

// The key's definition: parameters $1 key, $2 position (at or below);
// columns as policy_key_of reads them.
std::string policy_key_sql(const std::string& schema);
events::PolicyKeyDefined policy_key_of(const std::string& key, const pqxx::row& row);
// The key's values at a chain's scopes, at or below a position: $1 key,
// $2 position; `user`, `project`, `org` and `plan` are SQL expressions for
// the chain's ids (parameters, or columns of an outer query). Columns as
// value_candidate_of reads them.
std::string policy_values_sql(const std::string& schema, const std::string& user, const std::string& project,
                              const std::string& org, const std::string& plan);
domain::ValueCandidate value_candidate_of(const pqxx::row& row);

// Replaces every __SCHEMA__ in `sql` after checking `schema` is a plain
// identifier ([a-z_][a-z0-9_]*); throws std::invalid_argument otherwise.
std::string with_schema(std::string sql, const std::string& schema);

}  // namespace ledger::adapters::postgres::internal
