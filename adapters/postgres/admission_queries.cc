#include "adapters/postgres/admission_queries.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "adapters/postgres/pg_internal.h"
#include "events/codec/rfc3339.h"

namespace ledger::adapters::postgres {

using events::QuotaLevel;
using events::QuotaScope;
using internal::Session;
using internal::SessionPool;
using internal::with_schema;

namespace {

using Params = std::vector<std::optional<std::string>>;
using ReadTx = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

// A statement under construction with its positional parameters.
struct Sql {
  std::string text;
  Params params;

  std::string param(std::string v) {
    params.emplace_back(std::move(v));
    return "$" + std::to_string(params.size());
  }
  std::string param(std::int64_t v) { return param(std::to_string(v)) + "::bigint"; }
};

pqxx::result run(pqxx::transaction_base& tx, const std::string& schema, const Sql& q) {
  return tx.exec_params(with_schema(q.text, schema), pqxx::prepare::make_dynamic_params(q.params));
}

// A PostgreSQL text[] literal: every element double-quoted and escaped.
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// The latest link of a node at or below a position, as a LATERAL subquery
// (one backward probe of scope_links' primary key).
std::string latest_link(const std::string& level, const std::string& node_id, const std::string& position) {
  return "(SELECT x.level, x.node_id, x.version, x.parent_level, x.parent_id FROM __SCHEMA__.scope_links x "
         "WHERE x.level = " + level + " AND x.node_id = " + node_id + " AND x.position <= " + position +
         " ORDER BY x.position DESC LIMIT 1)";
}

constexpr const char* kEpochMicros = "(extract(epoch from %) * 1000000)::bigint";

std::string micros_of(const std::string& column) {
  std::string s = kEpochMicros;
  return s.replace(s.find('%'), 1, column);
}

QuotaLevel level_of(const pqxx::field& f) {
  return events::parse_quota_level(f.as<std::string>()).value_or(QuotaLevel::kGlobal);
}

std::map<std::string, std::string> attributes_of(const pqxx::field& f) {
  std::map<std::string, std::string> out;
  const auto parsed = nlohmann::json::parse(f.as<std::string>());
  for (const auto& [k, v] : parsed.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

std::int64_t checkpoint_in(pqxx::transaction_base& tx, const std::string& schema) {
  auto r = tx.exec_params(with_schema("SELECT position FROM __SCHEMA__.checkpoints WHERE projection = $1", schema),
                          std::string("admission"));
  return r.empty() ? std::int64_t{0} : r[0][0].as<std::int64_t>();
}

// The snapshot version of a call: the checkpoint, or max_position when lower.
std::int64_t snapshot_bound(pqxx::transaction_base& tx, const std::string& schema,
                            std::optional<std::int64_t> max_position) {
  const std::int64_t cp = checkpoint_in(tx, schema);
  return max_position ? std::min(*max_position, cp) : cp;
}

const QuotaScope kGlobal{QuotaLevel::kGlobal, ""};

// The chain of `start` (.. organization, plan, global) at `upto`. With
// `principal_id`, the chain starts at that principal instead when it hangs
// directly under `start` (a project). Empty when `start` is unknown or its
// links do not reach an organization.
std::vector<domain::ChainNode> chain_of(pqxx::transaction_base& tx, const std::string& schema, const QuotaScope& start,
                                        std::int64_t upto, const std::string* principal_id = nullptr) {
  if (start.level == QuotaLevel::kGlobal) return {domain::ChainNode{kGlobal, 0}};
  if (start.level == QuotaLevel::kPlan) return {domain::ChainNode{start, 0}, domain::ChainNode{kGlobal, 0}};
  Sql q;
  const std::string pos = q.param(upto);
  const std::string level = q.param(events::quota_level_name(start.level));
  const std::string id = q.param(start.id);
  std::string first;
  if (principal_id) {
    const std::string principal = q.param(*principal_id);
    first = "SELECT s.level, s.node_id, s.version, s.parent_level, s.parent_id FROM ("
            "  (SELECT 0 AS pick, p.* FROM " + latest_link("'principal'", principal, pos) + " p)"
            "  UNION ALL"
            "  (SELECT 1 AS pick, n.* FROM " + latest_link(level, id, pos) + " n)"
            ") s WHERE s.pick = 1 OR (s.parent_level = " + level + " AND s.parent_id = " + id + ")"
            " ORDER BY s.pick LIMIT 1";
  } else {
    first = "SELECT n.level, n.node_id, n.version, n.parent_level, n.parent_id FROM " + latest_link(level, id, pos) +
            " n";
  }
  // Departments nest, so the depth is open; 64 bounds a (refused) cycle.
  q.text = "WITH RECURSIVE chain(depth, level, node_id, version, parent_level, parent_id) AS ("
           "  SELECT 0, f.* FROM (" + first + ") f"
           "  UNION ALL"
           "  SELECT c.depth + 1, l.level, l.node_id, l.version, l.parent_level, l.parent_id FROM chain c"
           "  CROSS JOIN LATERAL " + latest_link("c.parent_level", "c.parent_id", pos) + " l"
           "  WHERE c.level <> 'organization' AND c.depth < 64"
           ") SELECT level, node_id, version, parent_level, parent_id FROM chain ORDER BY depth";
  auto rows = run(tx, schema, q);
  std::vector<domain::ChainNode> out;
  for (const auto& r : rows) {
    out.push_back(domain::ChainNode{{level_of(r[0]), r[1].as<std::string>()}, r[2].as<std::int64_t>()});
  }
  if (rows.empty() || out.back().scope.level != QuotaLevel::kOrganization) return {};
  const auto& org = rows[rows.size() - 1];
  out.push_back(domain::ChainNode{{level_of(org[3]), org[4].as<std::string>()}, 0});  // plan:<plan_id>
  out.push_back(domain::ChainNode{kGlobal, 0});
  return out;
}

// "(scope_level, scope_id) is one of the chain's scopes".
std::string on_chain(Sql& q, std::span<const domain::ChainNode> chain) {
  std::string cond;
  for (const auto& c : chain) {
    cond += (cond.empty() ? "" : " OR ") + std::string("(scope_level = ") +
            q.param(events::quota_level_name(c.scope.level)) + " AND scope_id = " + q.param(c.scope.id) + ")";
  }
  return "(" + (cond.empty() ? std::string("FALSE") : cond) + ")";
}

std::size_t chain_index(std::span<const domain::ChainNode> chain, const QuotaScope& s) {
  for (std::size_t i = 0; i < chain.size(); ++i) {
    if (chain[i].scope == s) return i;
  }
  return chain.size();
}

// Non-cleared ceiling rules on the chain (of one dimension when given), in
// chain order then rule id, as domain::AdmissionModel lists them.
std::vector<domain::CeilingRule> rules_on(pqxx::transaction_base& tx, const std::string& schema,
                                          std::span<const domain::ChainNode> chain, const std::string* dimension,
                                          std::int64_t upto) {
  if (chain.empty()) return {};
  Sql q;
  const std::string pos = q.param(upto);
  std::string where = "position <= " + pos + " AND " + on_chain(q, chain);
  if (dimension) where += " AND dimension = " + q.param(*dimension);
  q.text = "SELECT scope_level, scope_id, rule_id, rule_version, dimension, \"window\", region, sku_or_model, quantity, "
           "unit FROM (SELECT DISTINCT ON (scope_level, scope_id, rule_id) * FROM __SCHEMA__.ceiling_rules WHERE " +
           where + " ORDER BY scope_level, scope_id, rule_id, position DESC) r WHERE quantity IS NOT NULL";
  std::vector<domain::CeilingRule> out;
  for (const auto& r : run(tx, schema, q)) {
    domain::CeilingRule rule;
    rule.scope = {level_of(r[0]), r[1].as<std::string>()};
    rule.rule_id = r[2].as<std::string>();
    rule.rule_version = r[3].as<std::int64_t>();
    rule.target = {r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<std::string>(), r[7].as<std::string>()};
    rule.quantity = r[8].as<std::int64_t>();
    rule.unit = r[9].as<std::string>();
    out.push_back(std::move(rule));
  }
  std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    return std::tuple(chain_index(chain, a.scope), a.rule_id) < std::tuple(chain_index(chain, b.scope), b.rule_id);
  });
  return out;
}

// Active delegations on the chain. A delegation's version counts the
// delegation events of its (scope, dimension) so far, as the domain does.
std::vector<domain::Delegation> delegations_on(pqxx::transaction_base& tx, const std::string& schema,
                                               std::span<const domain::ChainNode> chain, const std::string* dimension,
                                               std::int64_t upto) {
  if (chain.empty()) return {};
  Sql q;
  const std::string pos = q.param(upto);
  std::string where = "position <= " + pos + " AND " + on_chain(q, chain);
  if (dimension) where += " AND dimension = " + q.param(*dimension);
  q.text = "SELECT scope_level, scope_id, dimension, delegation_id, max_quantity, version FROM ("
           "  SELECT DISTINCT ON (scope_level, scope_id, dimension) d.*,"
           "         count(*) OVER (PARTITION BY scope_level, scope_id, dimension) AS version"
           "  FROM __SCHEMA__.delegations d WHERE " + where +
           "  ORDER BY scope_level, scope_id, dimension, position DESC) x WHERE active";
  std::vector<domain::Delegation> out;
  for (const auto& r : run(tx, schema, q)) {
    domain::Delegation d;
    d.scope = {level_of(r[0]), r[1].as<std::string>()};
    d.dimension = r[2].as<std::string>();
    d.delegation_id = r[3].as<std::string>();
    if (!r[4].is_null()) d.max_quantity = r[4].as<std::int64_t>();
    d.version = r[5].as<std::int64_t>();
    out.push_back(std::move(d));
  }
  std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    return std::tuple(chain_index(chain, a.scope), a.dimension) < std::tuple(chain_index(chain, b.scope), b.dimension);
  });
  return out;
}

// Owner .. organization for every owner, at `upto`, in one recursive query.
// An owner whose links do not reach an organization gets an empty chain.
std::map<QuotaScope, std::vector<QuotaScope>> owner_chains(pqxx::transaction_base& tx, const std::string& schema,
                                                           const std::set<QuotaScope>& owners, std::int64_t upto) {
  std::map<QuotaScope, std::vector<QuotaScope>> out;
  if (owners.empty()) return out;
  std::vector<std::string> levels, ids;
  for (const auto& o : owners) {
    levels.emplace_back(events::quota_level_name(o.level));
    ids.push_back(o.id);
  }
  Sql q;
  const std::string pos = q.param(upto);
  const std::string ls = q.param(text_array(levels)) + "::text[]";
  const std::string is = q.param(text_array(ids)) + "::text[]";
  q.text = "WITH RECURSIVE up(level, node_id, version, parent_level, parent_id) AS ("
           "  SELECT l.* FROM unnest(" + ls + ", " + is + ") AS o(level, node_id)"
           "  CROSS JOIN LATERAL " + latest_link("o.level", "o.node_id", pos) + " l"
           "  UNION"
           "  SELECT l.* FROM up u CROSS JOIN LATERAL " + latest_link("u.parent_level", "u.parent_id", pos) + " l"
           "  WHERE u.level <> 'organization'"
           ") SELECT level, node_id, parent_level, parent_id FROM up";
  std::map<QuotaScope, QuotaScope> parent;
  for (const auto& r : run(tx, schema, q)) {
    parent[{level_of(r[0]), r[1].as<std::string>()}] = {level_of(r[2]), r[3].as<std::string>()};
  }
  for (const auto& o : owners) {
    std::vector<QuotaScope> chain;
    QuotaScope at = o;
    for (int depth = 0; depth < 64; ++depth) {
      auto it = parent.find(at);
      if (it == parent.end()) break;
      chain.push_back(at);
      if (at.level == QuotaLevel::kOrganization) {
        out[o] = std::move(chain);
        break;
      }
      at = it->second;
    }
    out.try_emplace(o);  // did not reach an organization: empty
  }
  return out;
}

// Reservations matching `where` (over `r`, the definition, and `s`, the
// state at the snapshot), ordered by id, at most `limit` (+1 to see more).
std::vector<ReservationRecord> load_reservations(pqxx::transaction_base& tx, const std::string& schema, Sql q,
                                                 const std::string& where, const std::string& pos,
                                                 std::int64_t upto, std::optional<std::size_t> limit) {
  // The latest value of a state column at or below the snapshot; `state`
  // and `consumed` are NULL in rows of events that did not change them.
  auto latest = [&](const std::string& column, bool skip_nulls) {
    return "(SELECT t." + column + " FROM __SCHEMA__.reservation_states t WHERE t.reservation_id = r.reservation_id"
           " AND t.position <= " + pos + (skip_nulls ? " AND t." + column + " IS NOT NULL" : std::string()) +
           " ORDER BY t.position DESC LIMIT 1)";
  };
  q.text = "SELECT r.reservation_id, r.organization_id, r.owner_level, r.owner_id, r.kind, r.dimension, r.region, "
           "r.sku_or_model, r.quantity, r.unit, " + micros_of("r.window_start") + ", " + micros_of("r.window_end") +
           ", r.attributes::text, r.position, s.state, s.consumed, s.version "
           "FROM __SCHEMA__.reservations r CROSS JOIN LATERAL (SELECT " + latest("state", true) + " AS state, " +
           latest("consumed", true) + " AS consumed, " + latest("version", false) + " AS version) s "
           "WHERE r.position <= " + pos + " AND " + where + " ORDER BY r.reservation_id" +
           (limit ? " LIMIT " + std::to_string(*limit + 1) : std::string());
  std::vector<ReservationRecord> out;
  std::set<QuotaScope> owners;
  for (const auto& row : run(tx, schema, q)) {
    ReservationRecord rec;
    auto& v = rec.view;
    v.reservation_id = row[0].as<std::string>();
    rec.organization_id = row[1].as<std::string>();
    v.owner = {level_of(row[2]), row[3].as<std::string>()};
    rec.kind = row[4].as<std::string>();
    v.dimension = row[5].as<std::string>();
    v.region = row[6].as<std::string>();
    v.sku_or_model = row[7].as<std::string>();
    v.quantity = row[8].as<std::int64_t>();
    rec.unit = row[9].as<std::string>();
    v.window_start = events::Instant{row[10].as<std::int64_t>()};
    v.window_end = events::Instant{row[11].as<std::int64_t>()};
    rec.attributes = attributes_of(row[12]);
    rec.drafted_position = row[13].as<std::int64_t>();
    v.state = row[14].is_null() ? "draft" : row[14].as<std::string>();
    v.consumed = row[15].is_null() ? 0 : row[15].as<std::int64_t>();
    rec.version = row[16].is_null() ? 0 : row[16].as<std::int64_t>();
    owners.insert(v.owner);
    out.push_back(std::move(rec));
  }
  auto chains = owner_chains(tx, schema, owners, upto);
  for (auto& rec : out) rec.view.owner_chain = chains[rec.view.owner];
  return out;
}

// The registry entries a decision reports: its dimension, product, resource
// type, and the dimension's usage unit (attributes["unit"]).
void registry_for(pqxx::transaction_base& tx, const std::string& schema, const domain::DecisionInput& in,
                  std::int64_t upto, domain::DecisionSnapshot& s) {
  Sql q;
  const std::string pos = q.param(upto);
  const std::string dim = q.param(in.request.dimension);
  const std::string product = q.param(in.product.product_id);
  const std::string resource_type = q.param(in.product.resource_type);
  q.text = "SELECT DISTINCT ON (kind, entry_id) kind, entry_id, version, description, attributes::text "
           "FROM __SCHEMA__.registry_entries WHERE position <= " + pos + " AND ("
           "(kind = 'quota_dimension' AND entry_id = " + dim + ") OR "
           "(kind = 'product' AND entry_id = " + product + ") OR "
           "(kind = 'resource_type' AND entry_id = " + resource_type + ") OR "
           "(kind = 'usage_unit' AND entry_id = (SELECT d.attributes->>'unit' FROM __SCHEMA__.registry_entries d "
           "  WHERE d.kind = 'quota_dimension' AND d.entry_id = " + dim + " AND d.position <= " + pos +
           "  ORDER BY d.position DESC LIMIT 1))"
           ") ORDER BY kind, entry_id, position DESC";
  for (const auto& r : run(tx, schema, q)) {
    domain::RegistryEntry e{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::int64_t>(),
                            r[3].as<std::string>(), attributes_of(r[4])};
    if (e.kind == "quota_dimension" && e.entry_id == in.request.dimension) s.dimension = e;
    if (e.kind == "product" && !in.product.product_id.empty() && e.entry_id == in.product.product_id) s.product = e;
    if (e.kind == "resource_type" && !in.product.resource_type.empty() && e.entry_id == in.product.resource_type) {
      s.resource_type = e;
    }
    if (e.kind == "usage_unit") s.usage_unit = e;
  }
  // The usage unit only counts when the (current) dimension names it.
  if (s.usage_unit && (!s.dimension || !s.dimension->attributes.contains("unit") ||
                       s.dimension->attributes.at("unit") != s.usage_unit->entry_id)) {
    s.usage_unit.reset();
  }
}

constexpr const char* kNodeColumns =
    "n.level, n.node_id, n.organization_id, n.name, n.principal_type, %EXPIRES%, n.default_department_id, "
    "n.position, l.parent_level, l.parent_id, l.version";

std::string node_columns() {
  std::string s = kNodeColumns;
  return s.replace(s.find("%EXPIRES%"), 9, micros_of("n.expires_at"));
}

ScopeNodeView node_of(const pqxx::row& r) {
  ScopeNodeView n;
  n.scope = {level_of(r[0]), r[1].as<std::string>()};
  n.organization_id = r[2].as<std::string>();
  n.name = r[3].as<std::string>();
  n.principal_type = r[4].as<std::string>();
  if (!r[5].is_null()) n.expires_at = events::Instant{r[5].as<std::int64_t>()};
  n.default_department_id = r[6].as<std::string>();
  n.created_position = r[7].as<std::int64_t>();
  n.parent = {level_of(r[8]), r[9].as<std::string>()};
  n.version = r[10].as<std::int64_t>();
  if (n.scope.level == QuotaLevel::kOrganization) n.plan_id = n.parent.id;
  return n;
}


}  // namespace

struct PgAdmissionQueries::Impl {
  Impl(const std::string& url, std::string schema_name, std::size_t pool_size)
      : schema(std::move(schema_name)), pool(url, pool_size) {}
  std::string schema;
  SessionPool pool;

  // One repeatable-read, read-only transaction per call.
  template <typename T>
  domain::Result<T> read(const std::function<T(pqxx::transaction_base&)>& body) {
    return pool.run<T>([&](pqxx::connection& c) {
      ReadTx tx(c);
      T out = body(tx);
      tx.commit();
      return out;
    });
  }
};

PgAdmissionQueries::PgAdmissionQueries(std::string url, std::string schema, std::size_t pool_size) {
  with_schema("", schema);  // validates the name early
  impl_ = std::make_unique<Impl>(url, std::move(schema), pool_size);
}
PgAdmissionQueries::~PgAdmissionQueries() = default;

domain::Result<std::int64_t> PgAdmissionQueries::checkpoint() {
  return impl_->read<std::int64_t>([&](pqxx::transaction_base& tx) { return checkpoint_in(tx, impl_->schema); });
}

domain::Result<std::int64_t> PgAdmissionQueries::head_position() {
  return impl_->read<std::int64_t>([](pqxx::transaction_base& tx) {
    return tx.exec1("SELECT coalesce(max(global_position), 0) FROM ledger.events")[0].as<std::int64_t>();
  });
}

domain::Result<domain::DecisionSnapshot> PgAdmissionQueries::decision_snapshot(
    const domain::DecisionInput& in, std::optional<std::int64_t> max_position) {
  auto all = decision_snapshots(std::span(&in, 1), max_position);
  if (!all) return std::unexpected(all.error());
  return std::move(all->front());
}

domain::Result<std::vector<domain::DecisionSnapshot>> PgAdmissionQueries::decision_snapshots(
    std::span<const domain::DecisionInput> inputs, std::optional<std::int64_t> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<std::vector<domain::DecisionSnapshot>>([&](pqxx::transaction_base& tx) {
    const std::int64_t upto = snapshot_bound(tx, schema, max_position);
    // A batch often repeats requesters, dimensions and organizations: each
    // distinct one is read once.
    std::map<std::pair<std::string, std::string>, std::vector<domain::ChainNode>> chains;
    std::map<std::pair<std::string, std::string>,
             std::pair<std::vector<domain::CeilingRule>, std::vector<domain::Delegation>>>
        rules;  // by (first chain scope text, dimension)
    std::map<std::pair<std::string, std::string>, std::vector<domain::ReservationView>> reservations;
    std::vector<domain::DecisionSnapshot> out;
    out.reserve(inputs.size());
    for (const auto& in : inputs) {
      domain::DecisionSnapshot s;
      s.snapshot_version = upto;
      auto chain_key = std::pair(in.actor.actor_id, in.hierarchy.project_id);
      auto c = chains.find(chain_key);
      if (c == chains.end()) {
        c = chains
                .emplace(chain_key, chain_of(tx, schema, {QuotaLevel::kProject, in.hierarchy.project_id}, upto,
                                             &in.actor.actor_id))
                .first;
      }
      s.chain = c->second;
      if (!s.chain.empty()) {
        const std::string requester = std::string(events::quota_level_name(s.chain.front().scope.level)) + ":" +
                                      s.chain.front().scope.id;
        auto key = std::pair(requester, in.request.dimension);
        auto r = rules.find(key);
        if (r == rules.end()) {
          r = rules
                  .emplace(key, std::pair(rules_on(tx, schema, s.chain, &in.request.dimension, upto),
                                          delegations_on(tx, schema, s.chain, &in.request.dimension, upto)))
                  .first;
        }
        s.rules = r->second.first;
        s.delegations = r->second.second;
      }
      auto res_key = std::pair(in.hierarchy.organization_id, in.request.dimension);
      auto res = reservations.find(res_key);
      if (res == reservations.end()) {
        Sql q;
        const std::string pos = q.param(upto);
        const std::string where = "r.organization_id = " + q.param(in.hierarchy.organization_id) +
                                  " AND r.dimension = " + q.param(in.request.dimension);
        std::vector<domain::ReservationView> views;
        for (auto& rec : load_reservations(tx, schema, std::move(q), where, pos, upto, std::nullopt)) {
          views.push_back(std::move(rec.view));
        }
        res = reservations.emplace(res_key, std::move(views)).first;
      }
      s.reservations = res->second;
      registry_for(tx, schema, in, upto, s);
      out.push_back(std::move(s));
    }
    return out;
  });
}

domain::Result<CeilingSnapshot> PgAdmissionQueries::effective_ceilings(const QuotaScope& scope,
                                                                      const std::optional<std::string>& dimension,
                                                                      std::optional<std::int64_t> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<CeilingSnapshot>([&](pqxx::transaction_base& tx) {
    CeilingSnapshot s;
    s.snapshot_version = snapshot_bound(tx, schema, max_position);
    s.chain = chain_of(tx, schema, scope, s.snapshot_version);
    const std::string* dim = dimension ? &*dimension : nullptr;
    s.rules = rules_on(tx, schema, s.chain, dim, s.snapshot_version);
    s.delegations = delegations_on(tx, schema, s.chain, dim, s.snapshot_version);
    return s;
  });
}

domain::Result<ReservationLookup> PgAdmissionQueries::reservation(const std::string& reservation_id,
                                                                 std::optional<std::int64_t> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<ReservationLookup>([&](pqxx::transaction_base& tx) {
    ReservationLookup out;
    out.snapshot_version = snapshot_bound(tx, schema, max_position);
    Sql q;
    const std::string pos = q.param(out.snapshot_version);
    const std::string where = "r.reservation_id = " + q.param(reservation_id);
    auto found = load_reservations(tx, schema, std::move(q), where, pos, out.snapshot_version, 1);
    if (!found.empty()) out.reservation = std::move(found.front());
    return out;
  });
}

domain::Result<ReservationPage> PgAdmissionQueries::reservations(const ReservationFilter& f,
                                                                std::optional<std::int64_t> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<ReservationPage>([&](pqxx::transaction_base& tx) {
    ReservationPage page;
    page.snapshot_version = snapshot_bound(tx, schema, max_position);
    Sql q;
    const std::string pos = q.param(page.snapshot_version);
    std::string where = "r.reservation_id > " + q.param(f.after_id);
    if (f.organization_id) where += " AND r.organization_id = " + q.param(*f.organization_id);
    if (f.owner) {
      where += " AND r.owner_level = " + q.param(events::quota_level_name(f.owner->level)) +
               " AND r.owner_id = " + q.param(f.owner->id);
    }
    if (f.state) {
      if (f.as_of) {
        // domain::reservation_state_at, in SQL, so pages stay exact.
        where += " AND (CASE WHEN s.state IN ('active', 'exhausted', 'suspended') AND " +
                 q.param(codec::format_instant(*f.as_of)) +
                 "::timestamptz >= r.window_end THEN 'expired' ELSE s.state END) = " + q.param(*f.state);
      } else {
        where += " AND s.state = " + q.param(*f.state);
      }
    }
    page.items = load_reservations(tx, schema, std::move(q), where, pos, page.snapshot_version, f.limit);
    if (page.items.size() > f.limit) {
      page.has_more = true;
      page.items.resize(f.limit);
    }
    return page;
  });
}

domain::Result<NodeLookup> PgAdmissionQueries::node(const QuotaScope& scope, std::optional<std::int64_t> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<NodeLookup>([&](pqxx::transaction_base& tx) {
    NodeLookup out;
    out.snapshot_version = snapshot_bound(tx, schema, max_position);
    Sql q;
    const std::string pos = q.param(out.snapshot_version);
    const std::string level = q.param(events::quota_level_name(scope.level));
    const std::string id = q.param(scope.id);
    q.text = "SELECT " + node_columns() + " FROM __SCHEMA__.scope_nodes n CROSS JOIN LATERAL " +
             latest_link("n.level", "n.node_id", pos) + " l WHERE n.level = " + level + " AND n.node_id = " + id +
             " AND n.position <= " + pos;
    auto rows = run(tx, schema, q);
    if (!rows.empty()) {
      out.node = node_of(rows[0]);
      out.chain = chain_of(tx, schema, scope, out.snapshot_version);
    }
    return out;
  });
}

domain::Result<NodePage> PgAdmissionQueries::nodes(const NodeFilter& f, std::optional<std::int64_t> max_position) {
  if (!f.parent && !f.organization_id) {
    return domain::fail(domain::ErrorKind::kInvalidArgument, "invalid_node_filter",
                        "nodes are listed by parent or by organization");
  }
  const std::string& schema = impl_->schema;
  return impl_->read<NodePage>([&](pqxx::transaction_base& tx) {
    NodePage page;
    page.snapshot_version = snapshot_bound(tx, schema, max_position);
    Sql q;
    const std::string pos = q.param(page.snapshot_version);
    std::string from, where = "n.position <= " + pos;
    if (f.parent) {
      const std::string pl = q.param(events::quota_level_name(f.parent->level));
      const std::string pid = q.param(f.parent->id);
      // Candidates: every node that ever hung under the parent (index), kept
      // when its latest link still does.
      from = "(SELECT DISTINCT level, node_id FROM __SCHEMA__.scope_links WHERE parent_level = " + pl +
             " AND parent_id = " + pid + " AND position <= " + pos + ") c JOIN __SCHEMA__.scope_nodes n ON "
             "n.level = c.level AND n.node_id = c.node_id";
      where += " AND l.parent_level = " + pl + " AND l.parent_id = " + pid;
    } else {
      from = "__SCHEMA__.scope_nodes n";
    }
    if (f.organization_id) where += " AND n.organization_id = " + q.param(*f.organization_id);
    if (f.level) where += " AND n.level = " + q.param(events::quota_level_name(*f.level));
    if (f.after_level) {
      where += " AND (n.level, n.node_id) > (" + q.param(events::quota_level_name(*f.after_level)) + ", " +
               q.param(f.after_id) + ")";
    }
    q.text = "SELECT " + node_columns() + " FROM " + from + " CROSS JOIN LATERAL " +
             latest_link("n.level", "n.node_id", pos) + " l WHERE " + where + " ORDER BY n.level, n.node_id LIMIT " +
             std::to_string(f.limit + 1);
    for (const auto& r : run(tx, schema, q)) {
      if (page.items.size() == f.limit) {
        page.has_more = true;
        break;
      }
      page.items.push_back(node_of(r));
    }
    return page;
  });
}

domain::Result<RegistryListing> PgAdmissionQueries::registry(const std::optional<std::string>& kind,
                                                             std::optional<std::int64_t> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<RegistryListing>([&](pqxx::transaction_base& tx) {
    RegistryListing out;
    out.snapshot_version = snapshot_bound(tx, schema, max_position);
    Sql q;
    std::string where = "position <= " + q.param(out.snapshot_version);
    if (kind) where += " AND kind = " + q.param(*kind);
    q.text = "SELECT DISTINCT ON (kind, entry_id) kind, entry_id, version, description, attributes::text "
             "FROM __SCHEMA__.registry_entries WHERE " + where + " ORDER BY kind, entry_id, position DESC";
    for (const auto& r : run(tx, schema, q)) {
      out.entries.push_back(domain::RegistryEntry{r[0].as<std::string>(), r[1].as<std::string>(),
                                                  r[2].as<std::int64_t>(), r[3].as<std::string>(),
                                                  attributes_of(r[4])});
    }
    return out;
  });
}

domain::Result<std::vector<std::string>> PgAdmissionQueries::policy_key_names(
    const std::string& prefix, std::optional<std::int64_t> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<std::vector<std::string>>([&](pqxx::transaction_base& tx) {
    const std::int64_t upto = snapshot_bound(tx, schema, max_position);
    Sql q;
    // starts_with, not LIKE: a key may contain '_' (a LIKE wildcard).
    q.text = "SELECT key FROM __SCHEMA__.policy_keys WHERE starts_with(key, " + q.param(prefix) +
             ") AND position <= " + q.param(upto) + " ORDER BY key";
    std::vector<std::string> out;
    for (const auto& r : run(tx, schema, q)) out.push_back(r[0].as<std::string>());
    return out;
  });
}

}  // namespace ledger::adapters::postgres
