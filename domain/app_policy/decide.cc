#include "domain/app_policy/commands.h"

namespace ledger::domain::app_policy {
namespace {

Error err(ErrorKind k, std::string code, std::string message) {
  return Error{k, std::move(code), std::move(message), {}};
}

Result<const Application*> existing_app(const AdmissionModel& m, const std::string& org, const std::string& id) {
  if (org.empty()) {
    return fail(
        err(ErrorKind::kInvalidArgument, "missing_field", "organization_id is required for a platform principal")
            .with("field", "organization_id"));
  }
  const auto* app = m.apps().application(org, id);
  if (!app) {
    return fail(err(ErrorKind::kNotFound, "unknown_application", "no such application").with("application_id", id));
  }
  return app;
}

Result<const AttachedPolicy*> existing_policy(const AdmissionModel& m, const std::string& id) {
  const auto* p = m.apps().policy(id);
  if (!p) return fail(err(ErrorKind::kNotFound, "unknown_policy", "no such policy").with("policy_id", id));
  return p;
}

Result<nlohmann::json> parse_config(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(
        err(ErrorKind::kFailedPrecondition, "invalid_policy_config", "config must be a JSON object").with("field", ""));
  }
  return j;
}

Decided one(const std::string& org, const std::string& app, events::Event e) {
  Decided d{AppPolicyModel::stream_of(org, app), org, {}};
  d.events.push_back(std::move(e));
  return d;
}

Decided none(const std::string& org, const std::string& app) {
  return Decided{AppPolicyModel::stream_of(org, app), org, {}};
}

}  // namespace

Result<Decided> decide(const AdmissionModel& m, const RegisterApplication& c) {
  if (!valid_entity_id(c.application_id)) {
    return fail(err(ErrorKind::kInvalidArgument, "invalid_id",
                    "application_id must be 1-128 characters of letters, digits, '.', '_', '-', ':'"));
  }
  if (c.organization_id.empty()) {
    return fail(
        err(ErrorKind::kInvalidArgument, "missing_field", "organization_id is required for a platform principal")
            .with("field", "organization_id"));
  }
  if (!m.node({events::QuotaLevel::kOrganization, c.organization_id})) {
    return fail(err(ErrorKind::kNotFound, "unknown_organization", "no such organization")
                    .with("organization_id", c.organization_id));
  }
  if (const auto* app = m.apps().application(c.organization_id, c.application_id)) {
    if (app->name == c.name && !app->retired) return none(c.organization_id, c.application_id);
    return fail(err(ErrorKind::kAborted, "already_exists", "the application id is taken in this organization")
                    .with("application_id", c.application_id));
  }
  return one(c.organization_id, c.application_id,
             events::ApplicationRegistered{c.application_id, c.organization_id, c.name});
}

Result<Decided> decide(const AdmissionModel& m, const RenameApplication& c) {
  auto app = existing_app(m, c.organization_id, c.application_id);
  if (!app) return std::unexpected(app.error());
  if ((*app)->name == c.name) return none(c.organization_id, c.application_id);
  return one(c.organization_id, c.application_id,
             events::ApplicationRenamed{c.application_id, c.organization_id, (*app)->name, c.name});
}

Result<Decided> decide(const AdmissionModel& m, const RetireApplication& c) {
  auto app = existing_app(m, c.organization_id, c.application_id);
  if (!app) return std::unexpected(app.error());
  if ((*app)->retired) return none(c.organization_id, c.application_id);
  return one(c.organization_id, c.application_id,
             events::ApplicationRetired{c.application_id, c.organization_id, c.reason});
}

Result<Decided> decide(const AdmissionModel& m, const AttachPolicy& c, const PolicyDeps& deps) {
  auto app = existing_app(m, c.organization_id, c.application_id);
  if (!app) return std::unexpected(app.error());
  if ((*app)->retired) {
    return fail(err(ErrorKind::kFailedPrecondition, "application_retired", "the application is retired")
                    .with("application_id", c.application_id));
  }
  if (m.apps().policy_id_used(c.policy_id)) {
    return fail(err(ErrorKind::kAborted, "already_exists", "the policy id is taken").with("policy_id", c.policy_id));
  }
  const auto size = static_cast<std::int64_t>((*app)->chain.size());
  if ((*app)->chain.size() >= kMaxChainLength) {
    return fail(err(ErrorKind::kFailedPrecondition, "chain_full", "the application's chain is full")
                    .with("max_policies", kMaxChainLength));
  }
  const std::int64_t index = c.index.value_or(size);
  if (index < 0 || index > size) {
    return fail(err(ErrorKind::kFailedPrecondition, "invalid_index", "index must be within the chain")
                    .with("index", index)
                    .with("chain_length", size));
  }
  auto config = parse_config(c.config);
  if (!config) return std::unexpected(config.error());
  if (auto built = PolicyTypes::builtin().construct(c.policy_type, *config, deps); !built) {
    return std::unexpected(built.error());
  }
  return one(c.organization_id, c.application_id,
             events::PolicyAttached{c.policy_id, c.application_id, c.organization_id, c.policy_type,
                                    events::JsonText{config->dump()}, c.enabled, index, c.reason});
}

Result<Decided> decide(const AdmissionModel& m, const UpdatePolicy& c, const PolicyDeps& deps) {
  auto p = existing_policy(m, c.policy_id);
  if (!p) return std::unexpected(p.error());
  const AttachedPolicy& now = **p;
  const auto* app = m.apps().application(now.organization_id, now.application_id);
  if (!app) return fail(err(ErrorKind::kInternal, "internal", "a policy without its application"));
  std::int64_t before_index = 0;
  for (std::size_t i = 0; i < app->chain.size(); ++i) {
    if (app->chain[i] == c.policy_id) before_index = static_cast<std::int64_t>(i);
  }
  events::PolicyUpdated e{c.policy_id,
                          now.application_id,
                          now.organization_id,
                          now.policy_type,
                          now.version + 1,
                          events::JsonText{now.config},
                          events::JsonText{now.config},
                          now.enabled,
                          now.enabled,
                          before_index,
                          before_index,
                          c.reason};
  if (c.config) {
    auto config = parse_config(*c.config);
    if (!config) return std::unexpected(config.error());
    if (auto built = PolicyTypes::builtin().construct(now.policy_type, *config, deps); !built) {
      return std::unexpected(built.error());
    }
    e.config.text = config->dump();
  }
  if (c.enabled) e.enabled = *c.enabled;
  if (c.index) {
    const auto last = static_cast<std::int64_t>(app->chain.size()) - 1;
    if (*c.index < 0 || *c.index > last) {
      return fail(err(ErrorKind::kFailedPrecondition, "invalid_index", "index must be within the chain")
                      .with("index", *c.index)
                      .with("chain_length", app->chain.size()));
    }
    e.index = *c.index;
  }
  if (e.config == e.before_config && e.enabled == e.before_enabled && e.index == e.before_index) {
    return none(now.organization_id, now.application_id);
  }
  return one(now.organization_id, now.application_id, std::move(e));
}

Result<Decided> decide(const AdmissionModel& m, const DetachPolicy& c) {
  auto p = existing_policy(m, c.policy_id);
  if (!p) return std::unexpected(p.error());
  const AttachedPolicy& now = **p;
  return one(now.organization_id, now.application_id,
             events::PolicyDetached{c.policy_id, now.application_id, now.organization_id, now.policy_type,
                                    events::JsonText{now.config}, now.enabled, c.reason});
}

}  // namespace ledger::domain::app_policy
