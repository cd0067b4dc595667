#include "adapters/postgres/pg_internal.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "events/codec/json_codec.h"

namespace ledger::adapters::postgres::internal {

domain::Result<std::unique_ptr<pqxx::connection>> connect(const std::string& url) {
  try {
    return std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    return domain::fail(domain::ErrorKind::kUnavailable, "database_unavailable", "the database is not reachable");
  }
}

domain::Result<void> guarded(const std::function<void()>& body, bool& broken) {
  using domain::ErrorKind;
  try {
    body();
    return {};
  } catch (const pqxx::broken_connection&) {
    broken = true;
    return domain::fail(ErrorKind::kUnavailable, "database_unavailable", "the database is not reachable");
  } catch (const pqxx::in_doubt_error&) {
    broken = true;
    return domain::fail(ErrorKind::kUnavailable, "database_unavailable",
                        "the database connection was lost while committing; retry with the same command_id");
  } catch (const pqxx::unique_violation& e) {
    domain::Error err{
        ErrorKind::kAborted, "stream_version_conflict", "another write reached the same stream first; retry", {}};
    err.with("detail", e.what());
    return std::unexpected(std::move(err));
  } catch (const pqxx::serialization_failure& e) {
    broken = true;  // e.g. the chain moved under us: re-read the head with a fresh lock
    domain::Error err{ErrorKind::kAborted, "chain_conflict", "the event store moved on; retry", {}};
    err.with("detail", e.what());
    return std::unexpected(std::move(err));
  } catch (const pqxx::sql_error& e) {
    // Admin shutdown and similar arrive as sql_error with class 57 / 08.
    const std::string& state = e.sqlstate();
    if (state.starts_with("57") || state.starts_with("08")) {
      broken = true;
      return domain::fail(ErrorKind::kUnavailable, "database_unavailable", "the database is not reachable");
    }
    domain::Error err{ErrorKind::kInternal, "database_error", "the database refused the operation", {}};
    err.with("sqlstate", state).with("detail", e.what());
    return std::unexpected(std::move(err));
  } catch (const std::exception& e) {
    broken = true;
    domain::Error err{ErrorKind::kInternal, "database_error", "unexpected database failure", {}};
    err.with("detail", e.what());
    return std::unexpected(std::move(err));
  }
}

const char* const kEventColumns =
    "global_position, stream_id, stream_version, event_id::text, event_type, schema_version, "
    "(extract(epoch from occurred_at) * 1000000)::bigint, (extract(epoch from recorded_at) * 1000000)::bigint, "
    "actor::text, tenant, correlation_id, causation_id, command_id, payload::text, prev_hash, hash";

events::RecordedEvent row_to_event(const pqxx::row& row) {
  events::RecordedEvent r;
  r.meta.global_position = events::GlobalPosition{row[0].as<std::int64_t>()};
  r.meta.stream_id = row[1].as<std::string>();
  r.meta.stream_version = events::StreamVersion{row[2].as<std::int64_t>()};
  r.meta.event_id = row[3].as<std::string>();
  r.event_type = row[4].as<std::string>();
  r.schema_version = row[5].as<int>();
  r.meta.occurred_at = events::Instant{row[6].as<std::int64_t>()};
  r.meta.recorded_at = events::Instant{row[7].as<std::int64_t>()};
  auto actor = nlohmann::json::parse(row[8].as<std::string>());
  r.meta.actor.type = actor.value("type", "");
  r.meta.actor.id = actor.value("id", "");
  for (const auto& role : actor.value("roles", nlohmann::json::array()))
    r.meta.actor.roles.push_back(role.get<std::string>());
  r.meta.tenant = row[9].as<std::string>();
  r.meta.correlation_id = row[10].as<std::string>();
  r.meta.causation_id = row[11].as<std::string>();
  r.meta.command_id = row[12].as<std::string>();
  // jsonb reformats JSON; the canonical form is recomputed from the value.
  r.payload = codec::canonical_payload(nlohmann::json::parse(row[13].as<std::string>()));
  r.prev_hash = row[14].as<std::string>();
  r.hash = row[15].as<std::string>();
  return r;
}

std::string with_schema(std::string sql, const std::string& schema) {
  if (schema.empty() || !(std::islower(static_cast<unsigned char>(schema[0])) || schema[0] == '_')) {
    throw std::invalid_argument("invalid schema name");
  }
  for (char c : schema) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      throw std::invalid_argument("invalid schema name");
    }
  }
  const std::string marker = "__SCHEMA__";
  for (std::size_t pos = sql.find(marker); pos != std::string::npos; pos = sql.find(marker, pos + schema.size())) {
    sql.replace(pos, marker.size(), schema);
  }
  return sql;
}

}  // namespace ledger::adapters::postgres::internal
