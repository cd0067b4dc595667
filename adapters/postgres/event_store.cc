#include "adapters/postgres/event_store.h"

#include <spdlog/spdlog.h>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "adapters/postgres/pg_internal.h"
#include "adapters/system/uuid.h"
#include "commands/idempotency.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::adapters::postgres {

using internal::guarded;
using Json = nlohmann::json;

namespace {

domain::Error not_writer() {
  return domain::Error{
      domain::ErrorKind::kUnavailable, "not_writer", "this instance is a standby; another instance is the writer", {}};
}

}  // namespace

// ---------------------------------------------------------------- writer

struct PgEventStore::Impl {
  // Holds the writer lock for as long as its connection lives.
  internal::Session session;
  commands::Clock& clock;
  std::uint64_t epoch = 0;
  std::int64_t head_position = 0;
  std::string head_hash = events::kGenesisHash;

  template <typename T>
  domain::Result<T> run(const std::function<T(pqxx::connection&)>& body) {
    if (!session.connected()) return std::unexpected(not_writer());
    return session.run<T>(body);
  }
};

PgEventStore::PgEventStore(std::string url, commands::Clock& clock)
    : impl_(new Impl{internal::Session(std::move(url), /*auto_connect=*/false), clock}) {}
PgEventStore::~PgEventStore() = default;

domain::Result<std::uint64_t> PgEventStore::acquire_writer() {
  auto& s = *impl_;
  if (s.session.connected()) return s.epoch;
  s.session.reset();
  auto c = internal::connect(s.session.url());
  if (!c) return std::unexpected(c.error());
  bool locked = false;
  bool broken = false;
  auto ok = guarded(
      [&] {
        pqxx::nontransaction tx(**c);
        locked = tx.exec_params1("SELECT pg_try_advisory_lock($1)", kWriterLockKey)[0].as<bool>();
        if (locked) {
          auto head = tx.exec("SELECT global_position, hash FROM ledger.events ORDER BY global_position DESC LIMIT 1");
          s.head_position = head.empty() ? 0 : head[0][0].as<std::int64_t>();
          s.head_hash = head.empty() ? events::kGenesisHash : head[0][1].as<std::string>();
        }
      },
      broken);
  if (!ok) return std::unexpected(ok.error());
  if (!locked) return std::unexpected(not_writer());
  s.session.adopt(std::move(*c));
  ++s.epoch;
  spdlog::info("event store: acquired the writer lock (epoch {}, head position {})", s.epoch, s.head_position);
  return s.epoch;
}

domain::Result<std::vector<events::Envelope>> PgEventStore::read_stream(const std::string& stream_id) {
  return impl_->run<std::vector<events::Envelope>>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto rows = tx.exec_params(std::string("SELECT ") + internal::kEventColumns +
                                   " FROM ledger.events WHERE stream_id = $1 ORDER BY stream_version",
                               stream_id);
    std::vector<events::Envelope> out;
    out.reserve(rows.size());
    for (const auto& row : rows) {
      auto env = codec::decode(internal::row_to_event(row));
      if (!env) throw std::runtime_error("undecodable event in " + stream_id + ": " + env.error());
      out.push_back(std::move(*env));
    }
    return out;
  });
}

domain::Result<std::vector<events::Envelope>> PgEventStore::read_by_types(std::span<const std::string> types,
                                                                          events::GlobalPosition after_position,
                                                                          std::size_t limit) {
  return impl_->run<std::vector<events::Envelope>>([&](pqxx::connection& c) {
    Json names = Json::array();
    for (const auto& t : types) names.push_back(t);
    pqxx::read_transaction tx(c);
    auto rows = tx.exec_params(std::string("SELECT ") + internal::kEventColumns +
                                   " FROM ledger.events WHERE global_position > $1 AND event_type IN "
                                   "(SELECT jsonb_array_elements_text($2::jsonb)) ORDER BY global_position LIMIT $3",
                               after_position.value, names.dump(), static_cast<std::int64_t>(limit));
    std::vector<events::Envelope> out;
    out.reserve(rows.size());
    for (const auto& row : rows) {
      auto env = codec::decode(internal::row_to_event(row));
      if (!env) throw std::runtime_error("undecodable event: " + env.error());
      out.push_back(std::move(*env));
    }
    return out;
  });
}

domain::Result<std::vector<std::optional<commands::CommandOutcome>>> PgEventStore::find_outcomes(
    std::span<const commands::IdempotencyKey> keys) {
  using Out = std::vector<std::optional<commands::CommandOutcome>>;
  return impl_->run<Out>([&](pqxx::connection& c) {
    Json wanted = Json::array();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      wanted.push_back({{"i", static_cast<std::int64_t>(i)},
                        {"tenant", keys[i].tenant},
                        {"actor_type", keys[i].actor_type},
                        {"actor_id", keys[i].actor_id},
                        {"command_id", keys[i].command_id}});
    }
    pqxx::read_transaction tx(c);
    // The caller's own records first (one primary-key probe each); then
    // records from before keys were scoped (002_scoped_idempotency.sql), which
    // answer only the principal their first event names: the same actor, and
    // its tenant (or a platform caller, whose events carry the tenant they
    // were for).
    auto rows = tx.exec_params(
        "SELECT k.i, 0 AS legacy, o.command_id, o.stream_id, o.event_ids::text, o.position, o.stream_version, "
        "o.request_hash, o.decided_at_position, (extract(epoch from o.recorded_at) * 1000000)::bigint FROM "
        "jsonb_to_recordset($1::jsonb) AS k(i bigint, tenant text, actor_type text, "
        "actor_id text, command_id text) JOIN ledger.command_outcomes o ON o.tenant = k.tenant "
        "AND o.actor_type = k.actor_type AND o.actor_id = k.actor_id AND o.command_id = k.command_id "
        "UNION ALL "
        "SELECT k.i, 1, o.command_id, o.stream_id, o.event_ids::text, o.position, o.stream_version, o.request_hash, "
        "o.decided_at_position, (extract(epoch from o.recorded_at) * 1000000)::bigint FROM "
        "jsonb_to_recordset($1::jsonb) AS k(i bigint, tenant text, actor_type text, actor_id text, "
        "command_id text) JOIN ledger.command_outcomes o ON o.tenant = '' AND o.actor_type = '' "
        "AND o.actor_id = '' AND o.command_id = k.command_id "
        "JOIN ledger.events e ON e.event_id = (o.event_ids->>0)::uuid "
        "WHERE k.tenant <> '' AND e.actor->>'type' = k.actor_type AND e.actor->>'id' = k.actor_id "
        "AND (e.tenant = k.tenant OR k.tenant = 'platform') "
        "ORDER BY 1, 2",
        wanted.dump());
    Out out(keys.size());
    for (const auto& row : rows) {
      const auto i = static_cast<std::size_t>(row[0].as<std::int64_t>());
      if (i >= out.size() || out[i]) continue;  // a scoped record wins over a legacy one
      commands::CommandOutcome o;
      o.command_id = row[2].as<std::string>();
      o.stream_id = row[3].as<std::string>();
      for (const auto& e : Json::parse(row[4].as<std::string>())) o.event_ids.push_back(e.get<std::string>());
      o.position = events::GlobalPosition{row[5].as<std::int64_t>()};
      o.stream_version = events::StreamVersion{row[6].as<std::int64_t>()};
      o.request_hash = row[7].as<std::string>();
      if (!row[8].is_null()) o.decided_at_position = events::GlobalPosition{row[8].as<std::int64_t>()};
      if (!row[9].is_null()) o.recorded_at = events::Instant{row[9].as<std::int64_t>()};
      out[i] = std::move(o);
    }
    return out;
  });
}

domain::Result<std::vector<commands::CommandOutcome>> PgEventStore::append(
    std::span<const commands::StreamAppend> batch) {
  auto& s = *impl_;
  const events::Instant recorded_at = s.clock.now();
  events::GlobalPosition position{s.head_position};
  std::string prev_hash = s.head_hash;

  // Seal every event into the chain first, then write the whole batch with
  // two statements in one transaction.
  Json rows = Json::array();
  Json outcome_rows = Json::array();
  std::string rows_text, outcome_text;
  std::vector<commands::CommandOutcome> outcomes;
  outcomes.reserve(batch.size());
  // Sealing dumps every field as JSON; a field that cannot be (invalid
  // UTF-8, which the edges refuse) fails this batch, with nothing written,
  // instead of throwing out of the port.
  try {
    for (const auto& a : batch) {
      commands::CommandOutcome o;
      o.command_id = a.meta.command_id;
      o.stream_id = a.stream_id;
      o.request_hash = a.request_hash;
      const auto key = commands::outcome_key(a);
      o.position = a.position_if_empty;
      o.stream_version = a.expected_version;
      o.decided_at_position = position;  // the entries are decided in the order they are appended
      o.recorded_at = recorded_at;
      for (const auto& ev : a.events) {
        events::EventMeta m = a.meta;
        position = position.next();
        m.global_position = position;
        m.stream_id = a.stream_id;
        o.stream_version = o.stream_version.next();
        m.stream_version = o.stream_version;
        m.event_id = system::new_uuid();
        m.recorded_at = recorded_at;
        auto r = codec::record(std::move(m), ev, prev_hash);
        prev_hash = r.hash;
        o.event_ids.push_back(r.meta.event_id);
        o.position = r.meta.global_position;
        rows.push_back(
            {{"global_position", r.meta.global_position},
             {"stream_id", r.meta.stream_id},
             {"stream_version", r.meta.stream_version},
             {"event_id", r.meta.event_id},
             {"event_type", r.event_type},
             {"schema_version", r.schema_version},
             {"occurred_at", codec::format_instant(r.meta.occurred_at)},
             {"recorded_at", codec::format_instant(r.meta.recorded_at)},
             {"actor", {{"type", r.meta.actor.type}, {"id", r.meta.actor.id}, {"roles", r.meta.actor.roles}}},
             {"tenant", r.meta.tenant},
             {"correlation_id", r.meta.correlation_id},
             {"causation_id", r.meta.causation_id},
             {"command_id", r.meta.command_id},
             {"payload", Json::parse(r.payload)},
             {"prev_hash", r.prev_hash},
             {"hash", r.hash}});
      }
      outcome_rows.push_back({{"tenant", key.tenant},
                              {"actor_type", key.actor_type},
                              {"actor_id", key.actor_id},
                              {"command_id", key.command_id},
                              {"request_hash", o.request_hash},
                              {"stream_id", o.stream_id},
                              {"event_ids", o.event_ids},
                              {"position", o.position},
                              {"stream_version", o.stream_version},
                              {"decided_at_position", *o.decided_at_position},
                              {"recorded_at", codec::format_instant(recorded_at)}});
      outcomes.push_back(std::move(o));
    }
    rows_text = rows.dump();
    outcome_text = outcome_rows.dump();
  } catch (const std::exception& e) {
    domain::Error err{domain::ErrorKind::kInternal, "unencodable_event", "an event could not be encoded", {}};
    err.with("detail", e.what());
    return std::unexpected(std::move(err));
  }

  auto done = s.run<bool>([&](pqxx::connection& c) {
    pqxx::work tx(c);
    if (!rows.empty()) {
      tx.exec_params(
          "INSERT INTO ledger.events (global_position, stream_id, stream_version, event_id, event_type, "
          "schema_version, occurred_at, recorded_at, actor, tenant, correlation_id, causation_id, command_id, "
          "payload, prev_hash, hash) "
          "SELECT global_position, stream_id, stream_version, event_id, event_type, schema_version, occurred_at, "
          "recorded_at, actor, tenant, correlation_id, causation_id, command_id, payload, prev_hash, hash "
          "FROM jsonb_to_recordset($1::jsonb) AS x(global_position bigint, stream_id text, stream_version bigint, "
          "event_id uuid, event_type text, schema_version int, occurred_at timestamptz, recorded_at timestamptz, "
          "actor jsonb, tenant text, correlation_id text, causation_id text, command_id text, payload jsonb, "
          "prev_hash text, hash text) ORDER BY global_position",
          rows_text);
    }
    tx.exec_params(
        "INSERT INTO ledger.command_outcomes (tenant, actor_type, actor_id, command_id, request_hash, stream_id, "
        "event_ids, position, stream_version, decided_at_position, recorded_at) SELECT tenant, actor_type, "
        "actor_id, command_id, request_hash, stream_id, event_ids, position, stream_version, decided_at_position, "
        "recorded_at FROM jsonb_to_recordset($1::jsonb) AS x(tenant text, actor_type text, actor_id text, "
        "command_id text, request_hash text, stream_id text, event_ids jsonb, position bigint, "
        "stream_version bigint, decided_at_position bigint, recorded_at timestamptz)",
        outcome_text);
    if (!rows.empty()) tx.exec("SELECT pg_notify('ledger_events', '" + std::to_string(position.value) + "')");
    tx.commit();
    return true;
  });
  if (!done) {
    // Whatever failed, start again from a fresh lock and the head as stored.
    s.session.reset();
    return std::unexpected(done.error());
  }
  s.head_position = position.value;
  s.head_hash = prev_hash;
  return outcomes;
}

commands::ChainHead PgEventStore::chain_head() const {
  return {events::GlobalPosition{impl_->head_position}, impl_->head_hash};
}

// ---------------------------------------------------------------- reader

struct PgEventReader::Impl {
  internal::Session session;
  std::unique_ptr<pqxx::connection> listen_conn;
  struct Receiver;
  std::unique_ptr<pqxx::notification_receiver> receiver;

  template <typename T>
  domain::Result<T> run(const std::function<T(pqxx::connection&)>& body) {
    return session.run<T>(body);
  }
};

struct PgEventReader::Impl::Receiver : pqxx::notification_receiver {
  using pqxx::notification_receiver::notification_receiver;
  void operator()(const std::string&, int) override {}
};

PgEventReader::PgEventReader(std::string url) : impl_(new Impl{internal::Session(std::move(url)), nullptr, nullptr}) {}
PgEventReader::~PgEventReader() { impl_->receiver.reset(); }

domain::Result<std::vector<events::RecordedEvent>> PgEventReader::read_after(events::GlobalPosition after,
                                                                             std::size_t limit) {
  return impl_->run<std::vector<events::RecordedEvent>>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto rows = tx.exec_params(std::string("SELECT ") + internal::kEventColumns +
                                   " FROM ledger.events WHERE global_position > $1 ORDER BY global_position LIMIT $2",
                               after.value, static_cast<std::int64_t>(limit));
    std::vector<events::RecordedEvent> out;
    out.reserve(rows.size());
    for (const auto& row : rows) out.push_back(internal::row_to_event(row));
    return out;
  });
}

domain::Result<std::vector<events::RecordedEvent>> PgEventReader::read_stream(const std::string& stream_id) {
  return impl_->run<std::vector<events::RecordedEvent>>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto rows = tx.exec_params(std::string("SELECT ") + internal::kEventColumns +
                                   " FROM ledger.events WHERE stream_id = $1 ORDER BY stream_version",
                               stream_id);
    std::vector<events::RecordedEvent> out;
    for (const auto& row : rows) out.push_back(internal::row_to_event(row));
    return out;
  });
}

domain::Result<events::GlobalPosition> PgEventReader::head_position() {
  return impl_->run<events::GlobalPosition>([](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return events::GlobalPosition{
        tx.exec1("SELECT coalesce(max(global_position), 0) FROM ledger.events")[0].as<std::int64_t>()};
  });
}

void PgEventReader::wait_for_commit(std::chrono::milliseconds timeout) {
  auto& s = *impl_;
  try {
    if (!s.listen_conn || !s.listen_conn->is_open()) {
      s.receiver.reset();
      s.listen_conn = std::make_unique<pqxx::connection>(s.session.url());
      s.receiver = std::make_unique<Impl::Receiver>(*s.listen_conn, "ledger_events");
    }
    const auto secs = timeout.count() / 1000;
    const auto usecs = (timeout.count() % 1000) * 1000;
    s.listen_conn->await_notification(secs, usecs);
  } catch (const std::exception&) {
    s.receiver.reset();
    s.listen_conn.reset();
    std::this_thread::sleep_for(timeout);  // the database is away: back off, callers re-read
  }
}

// ---------------------------------------------------------------- relay checkpoint

struct PgRelayCheckpoint::Impl {
  internal::Session session;
  std::string relay;

  template <typename T>
  domain::Result<T> run(const std::function<T(pqxx::connection&)>& body) {
    return session.run<T>(body);
  }
};

PgRelayCheckpoint::PgRelayCheckpoint(std::string url, std::string relay_name)
    : impl_(new Impl{internal::Session(std::move(url)), std::move(relay_name)}) {}
PgRelayCheckpoint::~PgRelayCheckpoint() = default;

domain::Result<events::GlobalPosition> PgRelayCheckpoint::load() {
  return impl_->run<events::GlobalPosition>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto r = tx.exec_params("SELECT position FROM ledger.relay_checkpoints WHERE relay = $1", impl_->relay);
    return events::GlobalPosition{r.empty() ? std::int64_t{0} : r[0][0].as<std::int64_t>()};
  });
}

domain::Result<void> PgRelayCheckpoint::store(events::GlobalPosition position) {
  auto r = impl_->run<bool>([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO ledger.relay_checkpoints (relay, position, updated_at) VALUES ($1, $2, now()) "
        "ON CONFLICT (relay) DO UPDATE SET position = EXCLUDED.position, updated_at = now() "
        "WHERE ledger.relay_checkpoints.position < EXCLUDED.position",
        impl_->relay, position.value);
    tx.commit();
    return true;
  });
  if (!r) return std::unexpected(r.error());
  return {};
}

}  // namespace ledger::adapters::postgres
