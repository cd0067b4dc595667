#include "adapters/postgres/decision_log_store.h"

#include <nlohmann/json.hpp>
#include <pqxx/tablewriter>

#include <array>
#include <string_view>
#include <vector>

#include "adapters/postgres/pg_internal.h"

namespace ledger::adapters::postgres {

using internal::SessionPool;
using Json = nlohmann::json;

struct PgDecisionLog::Impl {
  Impl(const std::string& url, std::size_t size) : pool(url, size) {}
  SessionPool pool;
};

PgDecisionLog::PgDecisionLog(const std::string& url, std::size_t pool_size)
    : impl_(std::make_unique<Impl>(url, pool_size)) {}
PgDecisionLog::~PgDecisionLog() = default;

namespace {

constexpr std::array<const char*, 15> kInsertColumns = {
    "kind",       "decision_id",  "recorded_at",      "as_of",    "organization_id",
    "project_id", "actor_tenant", "actor_type",       "actor_id", "correlation_id",
    "decision",   "reason_code",  "snapshot_version", "input",    "output"};

// A record's `input` and `output` as the table keeps them: their texts as
// read from the topic (DecisionRecord::input_json), else its trees written
// (into `made`, which must not reallocate).
struct StoredTexts {
  std::string_view input;
  std::string_view output;
};
StoredTexts stored_texts(const commands::DecisionRecord& r, std::vector<std::string>& made) {
  if (!r.input_json.empty() && !r.output_json.empty()) return {r.input_json, r.output_json};
  const auto& input = made.emplace_back(r.input.dump(-1, ' ', false, Json::error_handler_t::replace));
  const auto& output = made.emplace_back(r.output.dump(-1, ' ', false, Json::error_handler_t::replace));
  return {input, output};
}

// Appends `v` as one field of a COPY text line: backslash, newline,
// carriage return and tab escaped, runs between them copied whole (a JSON
// text holds a few backslashes at most, and none of the others).
void append_copy_field(std::string& line, std::string_view v) {
  static constexpr std::array<char, 256> kEscape = [] {
    std::array<char, 256> e{};
    e['\\'] = '\\';
    e['\n'] = 'n';
    e['\r'] = 'r';
    e['\t'] = 't';
    return e;
  }();
  std::size_t run = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char escaped = kEscape[static_cast<unsigned char>(v[i])];
    if (escaped == 0) continue;
    line.append(v.data() + run, i - run);
    line += '\\';
    line += escaped;
    run = i + 1;
  }
  line.append(v.data() + run, v.size() - run);
}

// The record as one line of COPY text in kInsertColumns' order.
std::string copy_line(const commands::DecisionRecord& r, std::string_view input, std::string_view output) {
  std::string line;
  line.reserve(input.size() + output.size() + 512);
  for (const std::string* field :
       {&r.kind, &r.decision_id, &r.recorded_at, &r.as_of, &r.organization_id, &r.project_id, &r.actor_tenant,
        &r.actor_type, &r.actor_id, &r.correlation_id, &r.decision, &r.reason_code}) {
    append_copy_field(line, *field);
    line += '\t';
  }
  line += std::to_string(r.snapshot_version);
  line += '\t';
  append_copy_field(line, input);
  line += '\t';
  append_copy_field(line, output);
  return line;
}

// The lines into the table in one COPY and one transaction. False when a
// row's key is there already (a redelivery): then nothing was stored.
bool copy_rows(pqxx::connection& c, const std::vector<std::string>& lines) {
  try {
    pqxx::work tx(c);
    {
      // libpqxx 6.4's stream_to escapes every field again and keeps
      // write_raw_line private; tablewriter, deprecated for that escaping,
      // takes a line as it is.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      pqxx::tablewriter copy(tx, "decision_log.decisions", kInsertColumns.begin(), kInsertColumns.end());
#pragma GCC diagnostic pop
      for (const auto& line : lines) copy.write_raw_line(line);
      copy.complete();
    }
    tx.commit();
    return true;
  } catch (const pqxx::unique_violation&) {
    return false;
  }
}

// The records as one JSON array, each with its stored texts.
std::string json_array(std::span<const commands::DecisionRecord> records, std::span<const StoredTexts> texts) {
  std::string text = "[";
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i > 0) text += ',';
    text += commands::encoded_decision_record(records[i], texts[i].input, texts[i].output);
  }
  text += ']';
  return text;
}

}  // namespace

domain::Result<std::size_t> PgDecisionLog::insert(std::span<const commands::DecisionRecord> records) {
  if (records.empty()) return std::size_t{0};
  // The rows go in with COPY, fields already apart: PostgreSQL only lexes
  // each input and output (json columns, migration 008) and writes it.
  // Every line is written before the COPY starts, so that the database
  // takes them in one stretch, without this thread competing with it for
  // the cores. A batch holding a record already stored (a redelivery) makes
  // COPY fail on the key; that batch goes in by the statement that skips
  // what is present, PostgreSQL taking the records apart itself.
  std::vector<std::string> made;
  std::vector<StoredTexts> texts;
  std::vector<std::string> lines;
  made.reserve(2 * records.size());
  texts.reserve(records.size());
  lines.reserve(records.size());
  for (const auto& r : records) {
    const auto& t = texts.emplace_back(stored_texts(r, made));
    lines.push_back(copy_line(r, t.input, t.output));
  }
  return impl_->pool.run<std::size_t>([&](pqxx::connection& c) {
    if (copy_rows(c, lines)) return records.size();
    pqxx::work tx(c);
    auto res = tx.exec_params(
        "INSERT INTO decision_log.decisions (kind, decision_id, recorded_at, as_of, organization_id, project_id, "
        "actor_tenant, actor_type, actor_id, correlation_id, decision, reason_code, snapshot_version, input, output) "
        "SELECT coalesce(r->>'kind', 'admission'), r->>'decision_id', (r->>'recorded_at')::timestamptz, "
        "(r->>'as_of')::timestamptz, "
        "r->>'organization_id', r->>'project_id', r->'actor'->>'tenant', r->'actor'->>'actor_type', "
        "r->'actor'->>'actor_id', r->>'correlation_id', r->>'decision', r->>'reason_code', "
        "(r->>'snapshot_version')::bigint, r->'input', r->'output' "
        "FROM json_array_elements($1::json) WITH ORDINALITY AS t(r, n) ORDER BY n "
        "ON CONFLICT (decision_id) DO NOTHING",
        json_array(records, texts));
    tx.commit();
    return static_cast<std::size_t>(res.affected_rows());
  });
}

domain::Result<DecisionLogPage> PgDecisionLog::page(const DecisionLogFilter& f) {
  return impl_->pool.run<DecisionLogPage>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<std::string> params;
    std::string where = "seq > $1::bigint";
    params.push_back(std::to_string(f.after_seq));
    auto add = [&](const std::optional<std::string>& v, const std::string& cond) {
      if (!v) return;
      params.push_back(*v);
      where += " AND " + cond + "$" + std::to_string(params.size());
    };
    add(f.kind, "kind = ");
    add(f.organization_id, "organization_id = ");
    add(f.project_id, "project_id = ");
    add(f.correlation_id, "correlation_id = ");
    add(f.decision, "decision = ");
    if (f.from) {
      params.push_back(*f.from);
      where += " AND recorded_at >= $" + std::to_string(params.size()) + "::timestamptz";
    }
    if (f.to) {
      params.push_back(*f.to);
      where += " AND recorded_at < $" + std::to_string(params.size()) + "::timestamptz";
    }
    const std::string sql =
        "SELECT seq, json_build_object('kind', kind, 'decision_id', decision_id, "
        "'recorded_at', to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "'as_of', to_char(as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "'organization_id', organization_id, 'project_id', project_id, "
        "'actor', json_build_object('tenant', actor_tenant, 'actor_type', actor_type, 'actor_id', actor_id), "
        "'correlation_id', correlation_id, 'decision', decision, 'reason_code', reason_code, "
        "'snapshot_version', snapshot_version, 'input', input, 'output', output)::text "
        "FROM decision_log.decisions WHERE " +
        where + " ORDER BY seq LIMIT " + std::to_string(f.limit + 1);
    auto rows = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
    DecisionLogPage page;
    for (const auto& row : rows) {
      if (page.items.size() == f.limit) {
        page.has_more = true;
        break;
      }
      auto rec = commands::decision_record_from_json(Json::parse(row[1].as<std::string>()));
      if (!rec) throw std::runtime_error(rec.error().message);
      page.items.push_back({row[0].as<std::int64_t>(), std::move(*rec)});
    }
    return page;
  });
}

domain::Result<std::int64_t> PgDecisionLog::count() {
  return impl_->pool.run<std::int64_t>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return tx.exec("SELECT count(*) FROM decision_log.decisions")[0][0].as<std::int64_t>();
  });
}

domain::Result<std::int64_t> prune_decision_log(const std::string& admin_url, const std::string& before,
                                                std::size_t batch, bool dry_run) {
  auto c = internal::connect(admin_url);
  if (!c) return std::unexpected(c.error());
  std::int64_t total = 0;
  bool broken = false;
  auto ok = internal::guarded(
      [&] {
        // The kinds present, one index probe each (decisions_by_kind leads
        // with kind; PostgreSQL 15 has no skip scan to do it for us).
        std::vector<std::string> kinds;
        {
          pqxx::read_transaction tx(**c);
          for (const auto& row :
               tx.exec("WITH RECURSIVE k AS ("
                       "  (SELECT kind FROM decision_log.decisions ORDER BY kind LIMIT 1)"
                       "  UNION ALL"
                       "  SELECT (SELECT d.kind FROM decision_log.decisions d WHERE d.kind > k.kind ORDER BY d.kind "
                       "LIMIT 1) FROM k WHERE k.kind IS NOT NULL) "
                       "SELECT kind FROM k WHERE kind IS NOT NULL")) {
            kinds.push_back(row[0].as<std::string>());
          }
        }
        for (const auto& kind : kinds) {
          if (dry_run) {
            pqxx::read_transaction tx(**c);
            total += tx.exec_params1(
                           "SELECT count(*) FROM decision_log.decisions WHERE kind = $1 AND recorded_at < "
                           "$2::timestamptz",
                           kind, before)[0]
                         .as<std::int64_t>();
            continue;
          }
          for (;;) {
            pqxx::work tx(**c);
            const auto res = tx.exec_params(
                "WITH doomed AS (SELECT seq FROM decision_log.decisions WHERE kind = $1 AND recorded_at < "
                "$2::timestamptz ORDER BY kind, recorded_at, seq LIMIT $3) "
                "DELETE FROM decision_log.decisions d USING doomed WHERE d.seq = doomed.seq",
                kind, before, static_cast<std::int64_t>(batch));
            tx.commit();
            total += static_cast<std::int64_t>(res.affected_rows());
            if (res.affected_rows() < batch) break;
          }
        }
      },
      broken);
  if (!ok) {
    // The batches before the failure stay deleted: say how many rows that was.
    auto failed = ok.error();
    if (!dry_run) failed.with("deleted_before_failure", total);
    return std::unexpected(std::move(failed));
  }
  return total;
}

}  // namespace ledger::adapters::postgres
