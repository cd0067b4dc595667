#include "adapters/postgres/config_key_store.h"

#include "adapters/postgres/pg_internal.h"

namespace ledger::adapters::postgres {

using crypto::WrappedKey;
using internal::SessionPool;

struct PgConfigKeys::Impl {
  Impl(const std::string& url, std::size_t size) : pool(url, size) {}
  SessionPool pool;
};

PgConfigKeys::PgConfigKeys(const std::string& url, std::size_t pool_size)
    : impl_(std::make_unique<Impl>(url, pool_size)) {}
PgConfigKeys::~PgConfigKeys() = default;

namespace {
std::optional<WrappedKey> first(const pqxx::result& rows) {
  if (rows.empty()) return std::nullopt;
  return WrappedKey{rows[0][0].as<std::string>(), rows[0][1].as<std::string>(), rows[0][2].as<std::string>()};
}
}  // namespace

domain::Result<std::optional<WrappedKey>> PgConfigKeys::current(const std::string& tenant) {
  return impl_->pool.run<std::optional<WrappedKey>>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return first(tx.exec_params(
        "SELECT key_id, tenant_id, wrapped_key FROM config_secrets.data_keys WHERE tenant_id = $1", tenant));
  });
}

domain::Result<std::optional<WrappedKey>> PgConfigKeys::by_id(const std::string& key_id) {
  return impl_->pool.run<std::optional<WrappedKey>>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return first(tx.exec_params("SELECT key_id, tenant_id, wrapped_key FROM config_secrets.data_keys WHERE key_id = $1",
                                key_id));
  });
}

domain::Result<WrappedKey> PgConfigKeys::insert_or_get(const WrappedKey& k) {
  return impl_->pool.run<WrappedKey>([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO config_secrets.data_keys (key_id, tenant_id, wrapped_key) VALUES ($1, $2, $3) "
        "ON CONFLICT (tenant_id) DO NOTHING",
        k.key_id, k.tenant, k.wrapped);
    auto got = first(tx.exec_params(
        "SELECT key_id, tenant_id, wrapped_key FROM config_secrets.data_keys WHERE tenant_id = $1", k.tenant));
    tx.commit();
    return got.value_or(k);
  });
}

domain::Result<std::vector<std::string>> PgConfigKeys::remove(const std::string& tenant) {
  return impl_->pool.run<std::vector<std::string>>([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto rows = tx.exec_params("DELETE FROM config_secrets.data_keys WHERE tenant_id = $1 RETURNING key_id", tenant);
    tx.commit();
    std::vector<std::string> out;
    for (const auto& r : rows) out.push_back(r[0].as<std::string>());
    return out;
  });
}

domain::Result<ConfigSecrets> config_secrets_from_env(const std::string& url) {
  auto kek = crypto::kek_from_env();
  if (!kek) return std::unexpected(kek.error());
  ConfigSecrets out;
  const auto& key = *kek;
  if (!key) return out;
  out.keys = std::make_unique<PgConfigKeys>(url, 2);
  out.sealer = std::make_unique<crypto::EnvelopeSealer>(*key, *out.keys);
  return out;
}

}  // namespace ledger::adapters::postgres
