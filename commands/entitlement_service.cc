// The CommandService's part for plan entitlements (seed 003): the writer keeps
// the entitlements model in memory like the admission model (loaded by event
// type when it becomes the writer, evolved with every event it appends, so
// it is never stale), and decides entitlement commands against it.
//
// Concurrency: a command may carry `expected_version` (of the stream it
// appends to; for policy.activate the activation stream of its policy and
// environment). The single writer decides commands one after another, so
// of two activations racing in one environment with the same expected
// version exactly one is accepted; the other is refused 409
// `version_conflict` and nothing of it is written.
#include <unordered_map>

#include "commands/command_service.h"
#include "commands/idempotency.h"
#include "domain/entitlements/shadow.h"

namespace ledger::commands {

namespace ent = domain::entitlements;

domain::Result<ent::EntitlementsModel*> CommandService::entitlements() {
  if (entitlements_) return &*entitlements_;
  constexpr std::size_t kPage = 20000;
  ent::EntitlementsModel model;
  std::unordered_map<std::string, events::GlobalPosition> positions;
  events::GlobalPosition after;
  for (;;) {
    auto page = store_.read_by_types(ent::entitlement_event_types(), after, kPage);
    if (!page) return std::unexpected(page.error());
    for (const auto& env : *page) {
      model.apply(env.meta, env.event);
      positions[env.meta.stream_id] = env.meta.global_position;
      after = env.meta.global_position;
    }
    if (page->size() < kPage) break;
  }
  entitlements_ = std::move(model);
  entitlement_positions_ = std::move(positions);
  return &*entitlements_;
}

domain::Result<StreamAppend> CommandService::entitlement_append(const CommandRequest& req, const IdempotencyKey& key,
                                                                events::Instant now) {
  auto model = entitlements();
  if (!model) return std::unexpected(model.error());
  ent::Command command = std::get<ent::Command>(req.command);
  if (auto* activate = std::get_if<ent::ActivateVersion>(&command); activate && activate->shadow) {
    // A shadow report counts only as the query service signed it.
    auto& r = *activate->shadow;
    auto same = [](const std::string& a, const std::string& b) {  // constant time: a MAC check
      if (a.size() != b.size() || a.empty()) return false;
      unsigned char diff = 0;
      for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
      return diff == 0;
    };
    r.verified = options_.config_sealer != nullptr &&
                 same(options_.config_sealer->keyed_digest(ent::shadow_signing_input(r.report)), r.signature);
    if (!r.verified) {
      domain::Error e{domain::ErrorKind::kFailedPrecondition,
                      "invalid_shadow_report",
                      "the shadow report's signature does not match it: send it back exactly as the query service "
                      "answered it",
                      {}};
      e.with("field", "shadow_report");
      return std::unexpected(std::move(e));
    }
  }
  auto decided = ent::decide(**model, command, ent::Context{req.meta.principal.actor.id, now});
  if (!decided) return std::unexpected(decided.error());
  const events::StreamVersion version{(*model)->stream_version(decided->stream_id)};
  if (req.expected_version && *req.expected_version != version) {
    domain::Error e{domain::ErrorKind::kAborted,
                    "version_conflict",
                    "the stream has moved on since the expected version (another change won)",
                    {}};
    e.with("stream_id", decided->stream_id)
        .with("expected_version", req.expected_version->value)
        .with("actual_version", version.value);
    return std::unexpected(std::move(e));
  }
  StreamAppend a = command_append(req, decided->stream_id, version, key, now);
  a.meta.tenant = "platform";  // a product space is platform data (events/entitlement_events.h)
  auto pos = entitlement_positions_.find(a.stream_id);
  a.position_if_empty = pos == entitlement_positions_.end() ? events::GlobalPosition{} : pos->second;
  events::EventMeta meta;
  meta.stream_id = a.stream_id;
  for (const auto& ev : decided->events) (*model)->apply(meta, ev);
  a.events = std::move(decided->events);
  return a;
}

std::optional<domain::Error> CommandService::plan_assignment_refusal(const Command& c) {
  std::string organization_id, plan_id;
  if (const auto* create = std::get_if<domain::CreateOrganization>(&c)) {
    organization_id = create->organization_id;
    plan_id = create->plan_id;
  } else if (const auto* change = std::get_if<domain::ChangeOrganizationPlan>(&c)) {
    organization_id = change->organization_id;
    plan_id = change->plan_id;
  } else {
    return std::nullopt;
  }
  auto model = entitlements();
  if (!model) return model.error();
  if (!(*model)->plan_archived(plan_id)) return std::nullopt;
  // Existing assignments stay valid: an organization already on the plan
  // repeats nothing new.
  auto admission_model = admission();
  if (!admission_model) return admission_model.error();
  const auto* node = (*admission_model)->node({events::QuotaLevel::kOrganization, organization_id});
  if (node && node->plan_id == plan_id) return std::nullopt;
  domain::Error e{domain::ErrorKind::kFailedPrecondition,
                  "plan_archived",
                  "the plan is archived: it is assigned to no new organization",
                  {}};
  e.with("plan_id", plan_id).with("organization_id", organization_id);
  return e;
}

}  // namespace ledger::commands
