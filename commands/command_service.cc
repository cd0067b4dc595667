#include "commands/command_service.h"

#include <set>
#include <unordered_map>

#include "commands/access/authorization.h"
#include "commands/chain_anchor.h"
#include "commands/config_writer.h"
#include "commands/idempotency.h"

namespace ledger::commands {

namespace {

// 409: the command's expected_version is not the stream's.
domain::Error version_conflict(const std::string& stream_id, events::StreamVersion expected,
                               events::StreamVersion actual) {
  domain::Error e{
      domain::ErrorKind::kAborted, "stream_version_conflict", "the stream has moved on since the expected version", {}};
  e.with("stream_id", stream_id).with("expected_version", expected.value).with("actual_version", actual.value);
  return e;
}

// A refusal as the caller gets it: with its correlation id, if any.
domain::Error with_correlation(domain::Error e, const std::string& correlation_id) {
  if (!correlation_id.empty()) e.with("correlation_id", correlation_id);
  return e;
}

}  // namespace

CommandService::CommandService(EventStore& store, Clock& clock, Options options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

CommandService::~CommandService() { stop(); }

void CommandService::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void CommandService::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  for (auto& p : queue_) {
    p.reply.set_value(domain::fail(domain::ErrorKind::kUnavailable, "shutting_down", "the service is stopping"));
  }
  queue_.clear();
}

bool CommandService::is_writer() const { return writer_.load(); }

std::future<domain::Result<Accepted>> CommandService::submit_async(CommandRequest request) {
  resolve_reservation_organization(request.command, request.meta.principal);
  if (auto* attach = std::get_if<domain::app_policy::AttachPolicy>(&request.command)) {
    // The caller never chooses a policy id: it is derived from who asked and
    // the command id, so a retry names the same policy and no id can be
    // squatted or probed.
    attach->policy_id = attached_policy_id(request.meta);
  }
  if (const auto* set = std::get_if<domain::config::SetConfigLayer>(&request.command); set && options_.config_sealer) {
    // A request that carries secrets keeps a keyed digest in its
    // idempotency record, never a plain hash of the secret (issue 16 part 4).
    const auto doc = nlohmann::json::parse(set->value, nullptr, false);
    if (!doc.is_discarded() && domain::config::has_plaintext_secret(doc, set->ref)) {
      request.meta.request_hash = options_.config_sealer->keyed_digest(request.meta.request_hash);
    }
  }
  Pending p{std::move(request), {}};
  auto fut = p.reply.get_future();
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !thread_.joinable()) {
      p.reply.set_value(domain::fail(domain::ErrorKind::kUnavailable, "shutting_down", "the service is stopping"));
      return fut;
    }
    queue_.push_back(std::move(p));
  }
  cv_.notify_one();
  return fut;
}

void CommandService::run() {
  for (;;) {
    std::vector<Pending> batch;
    {
      std::unique_lock lock(mu_);
      // Idle: renew (or, as a standby, try to take) the writer lock every
      // heartbeat, so a standby takes over without waiting for traffic.
      if (!cv_.wait_for(lock, options_.heartbeat, [&] { return stopping_ || !queue_.empty(); })) {
        lock.unlock();
        auto epoch = store_.acquire_writer();
        writer_ = epoch.has_value();
        if (epoch && *epoch != epoch_) {
          cache_.clear();
          admission_.reset();
          entitlements_.reset();
          epoch_ = *epoch;
        }
        if (epoch) {
          const events::Instant now = clock_.now();
          if (sweep_due(now)) {
            std::vector<Pending> none;
            guarded(none, [&] { sweep(now); });
          }
        }
        if (epoch && options_.anchor != nullptr) {
          std::vector<Pending> none;
          guarded(none, [&] { options_.anchor->maybe_anchor(epoch_, std::chrono::steady_clock::now()); });
        }
        continue;
      }
      if (stopping_) return;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    guarded(batch, [&] { process(batch); });
    // After the replies: signing never delays an answer.
    if (options_.anchor != nullptr && writer_) {
      std::vector<Pending> none;
      guarded(none, [&] { options_.anchor->maybe_anchor(epoch_, std::chrono::steady_clock::now()); });
    }
  }
}

void CommandService::guarded(std::vector<Pending>& batch, const std::function<void()>& body) {
  // The writer thread is the process's only writer: nothing one command
  // brings may end it. An unexpected exception answers whoever still waits
  // with `internal` and drops every cached state (the next batch reloads).
  auto fail = [&](std::string detail) {
    cache_.clear();
    admission_.reset();
    entitlements_.reset();
    domain::Error e{domain::ErrorKind::kInternal, "internal", "the command could not be processed", {}};
    e.with("detail", std::move(detail));
    for (auto& p : batch) {
      try {
        p.reply.set_value(std::unexpected(e));
      } catch (const std::future_error&) {  // NOLINT(bugprone-empty-catch)
        // already answered before the failure: that answer stands
      }
    }
  };
  try {
    body();
  } catch (const std::exception& ex) {
    fail(ex.what());
  } catch (...) {
    fail("unknown exception");
  }
}

domain::Result<CommandService::CachedStream> CommandService::load(const std::string& stream_id) {
  // Taken out of the cache, not copied (states grow with every scope set):
  // the batch puts it back when its transaction commits, and a failed batch
  // simply leaves it out, so the next batch reloads it from the store.
  if (auto it = cache_.find(stream_id); it != cache_.end()) {
    CachedStream cs = std::move(it->second);
    cache_.erase(it);
    return cs;
  }
  auto history = store_.read_stream(stream_id);
  if (!history) return std::unexpected(history.error());
  CachedStream cs;
  for (const auto& env : *history) {
    cs.state = domain::evolve(std::move(cs.state), env.event);
    cs.last_position = env.meta.global_position;
  }
  return cs;
}

domain::Result<domain::AdmissionModel*> CommandService::admission() {
  if (admission_) return &*admission_;
  constexpr std::size_t kPage = 20000;
  domain::AdmissionModel model;
  std::unordered_map<std::string, events::GlobalPosition> positions;
  events::GlobalPosition after;
  for (;;) {
    auto page = store_.read_by_types(domain::admission_event_types(), after, kPage);
    if (!page) return std::unexpected(page.error());
    for (const auto& env : *page) {
      model.apply(env.meta.stream_id, env.event);
      positions[env.meta.stream_id] = env.meta.global_position;
      after = env.meta.global_position;
    }
    if (page->size() < kPage) break;
  }
  admission_ = std::move(model);
  admission_positions_ = std::move(positions);
  return &*admission_;
}

bool CommandService::sweep_due(events::Instant now) const {
  if (options_.sweep_interval.count() <= 0) return false;
  if (!last_sweep_ || now.micros < last_sweep_->micros) return true;
  const std::int64_t interval = std::chrono::duration_cast<std::chrono::microseconds>(options_.sweep_interval).count();
  return now.micros - last_sweep_->micros >= interval;
}

void CommandService::sweep(events::Instant now) {
  last_sweep_ = now;
  auto model = admission();
  if (!model) return;  // the next heartbeat tries again
  const auto due = (*model)->reservations_to_expire(now);
  std::vector<Pending> batch;  // nobody waits for the replies: the events are the record
  for (const auto& [org, id] : due) {
    CommandRequest r;
    // A deterministic command id: a sweep repeated by another writer after a
    // failover finds the first outcome instead of deciding again. Its key is
    // internal (commands/idempotency.h), so no caller sending this readable
    // id can occupy it.
    r.meta.command_id = "reservation-sweeper:" + org + "/" + id + ":expired";
    r.meta.internal = true;
    r.meta.correlation_id = r.meta.command_id;
    r.meta.principal = Principal{events::Actor{"worker", "reservation-sweeper", {"system"}}, "platform"};
    r.command = domain::TransitionReservation{id, "expire", "the reservation window ended", org};
    batch.push_back(Pending{std::move(r), {}});
    if (batch.size() == options_.max_batch) {
      process(batch);
      batch.clear();
    }
  }
  if (!batch.empty()) process(batch);
  if (options_.on_sweep) options_.on_sweep(due.size());
}

void CommandService::process(std::vector<Pending>& batch) {
  if (process_group(batch, /*may_split=*/batch.size() > 1)) return;
  // The group failed on something other than an outage (e.g. the database
  // refused one member's data): nothing of it was written. Each member is
  // decided and committed again on its own, so only the culprit fails.
  for (auto& p : batch) {
    std::vector<Pending> one;
    one.push_back(std::move(p));
    process_group(one, /*may_split=*/false);
  }
}

// What one group of commands comes to, decided against the writer's models
// before anything is written: per command a final answer now (a duplicate,
// a rejection, a refusal) or the index of the append whose outcome the
// commit brings. The models it read were evolved tentatively; a failed
// commit drops them.
struct CommandService::Plan {
  struct Slot {
    std::optional<domain::Result<Accepted>> answer;
    std::ptrdiff_t append_index = -1;
    std::ptrdiff_t same_as = -1;  // repeats an earlier command of this batch
  };
  // A command refused for reaching into another organization (or a
  // platform-only key): also recorded as an AccessRefused event in this
  // batch (invariant 7).
  struct Refusal {
    std::size_t index;
    std::string target_tenant;
    std::string reason = "tenant_mismatch";  // domain::kAccessRefusalReasons
  };

  std::vector<IdempotencyKey> keys;  // per command: its caller's idempotency key
  std::vector<Slot> slots;
  std::vector<StreamAppend> appends;
  std::vector<std::size_t> admission_appends;  // indexes into `appends`
  std::map<std::string, CachedStream> tentative;
  std::vector<Refusal> refusals;
  bool touched_admission = false;

  void answer(std::size_t i, domain::Error e, const CommandRequest& req) {
    slots[i].answer = std::unexpected(with_correlation(std::move(e), req.meta.correlation_id));
  }
  void append(std::size_t i, StreamAppend a) {
    slots[i].append_index = static_cast<std::ptrdiff_t>(appends.size());
    appends.push_back(std::move(a));
  }
  // The refusal of command `i` for reaching into `target`: what an unknown
  // id answers where the command names a policy or reservation by id
  // (existence must not leak), else 403 `forbidden`.
  void refuse(std::size_t i, const CommandRequest& req, const std::string& target) {
    domain::Error e;
    if (addresses_policy_by_id(req.command)) {
      const std::string id = std::visit(
          [](const auto& c) -> std::string {
            if constexpr (requires { c.policy_id; })
              return c.policy_id;
            else
              return {};
          },
          req.command);
      e = domain::Error{domain::ErrorKind::kNotFound, "unknown_policy", "no such policy", {}};
      e.with("policy_id", id);
    } else if (addresses_reservation_by_id(req.command)) {
      const std::string id = std::visit(
          [](const auto& c) -> std::string {
            if constexpr (requires { c.reservation_id; })
              return c.reservation_id;
            else
              return {};
          },
          req.command);
      e = domain::Error{domain::ErrorKind::kNotFound, "unknown_reservation", "no such reservation", {}};
      e.with("reservation_id", id);
    } else {
      e = domain::Error{
          domain::ErrorKind::kPermissionDenied, "forbidden", "you may only change your own organization", {}};
      e.with("principal_tenant", req.meta.principal.tenant).with("target_tenant", target);
    }
    answer(i, std::move(e), req);
    refusals.push_back({i, target});
  }
};

namespace {

bool is_config_command(const Command& c) {
  return std::holds_alternative<domain::config::SetConfigLayer>(c) ||
         std::holds_alternative<domain::config::ReloadConfig>(c) ||
         std::holds_alternative<domain::config::ShredConfigSecrets>(c);
}

}  // namespace

bool CommandService::process_group(std::vector<Pending>& batch, bool may_split) {
  Plan plan;
  // Returns false, with no reply given, when the members are to be retried
  // one by one; true once every member has its answer.
  auto fail_all = [&](const domain::Error& e) {
    // A tentatively evolved admission model no longer matches the store.
    if (plan.touched_admission) admission_.reset();
    entitlements_.reset();  // tentatively evolved too, if an entitlement command was in the batch
    if (may_split && e.kind == domain::ErrorKind::kInternal) return false;
    for (auto& p : batch) p.reply.set_value(std::unexpected(e));
    return true;
  };

  auto epoch = store_.acquire_writer();
  writer_ = epoch.has_value();
  if (!epoch) return fail_all(epoch.error());
  if (*epoch != epoch_) {
    cache_.clear();  // another writer may have appended while we were not the writer
    admission_.reset();
    entitlements_.reset();
    epoch_ = *epoch;
  }

  // Idempotency is per caller (commands/idempotency.h): the key is the
  // principal's tenant and actor with the command id it sent.
  plan.keys.reserve(batch.size());
  for (const auto& p : batch) plan.keys.push_back(idempotency_key(p.request.meta));
  auto known = store_.find_outcomes(plan.keys);
  if (!known) return fail_all(known.error());

  const events::Instant now = clock_.now();
  if (auto planned = plan_group(batch, *known, now, plan); !planned) return fail_all(planned.error());
  if (auto recorded = plan_refusal_records(batch, now, plan); !recorded) return fail_all(recorded.error());
  if (auto committed = commit(plan, batch.size()); !committed) return fail_all(committed.error());
  answer_all(batch, plan);
  return true;
}

domain::Result<void> CommandService::plan_group(const std::vector<Pending>& batch,
                                                const std::vector<std::optional<CommandOutcome>>& known,
                                                events::Instant now, Plan& plan) {
  plan.slots.resize(batch.size());
  std::map<IdempotencyKey, std::size_t> first_in_batch;
  ConfigWriter config(store_, options_.config_sealer,
                      options_.process_settings_check);  // configuration commands (seed 004): one layer stream each

  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& req = batch[i].request;
    const IdempotencyKey& key = plan.keys[i];
    if (const auto& prior = known[i]) {
      if (replay_of(prior->request_hash, req.meta.request_hash) == Replay::kReused) {
        plan.answer(i, key_reused(req.meta.command_id, prior->position), req);
      } else {
        plan.slots[i].answer =
            Accepted{prior->command_id,          prior->event_ids,  prior->position, prior->stream_version, true,
                     prior->decided_at_position, prior->recorded_at};
      }
      continue;
    }
    if (auto [it, fresh] = first_in_batch.emplace(key, i); !fresh) {
      const Plan::Slot& first = plan.slots[it->second];
      const bool first_wrote_nothing = first.append_index < 0 && first.answer && !*first.answer;
      if (replay_of(batch[it->second].request.meta.request_hash, req.meta.request_hash) != Replay::kReused) {
        plan.slots[i].same_as = static_cast<std::ptrdiff_t>(it->second);
        continue;
      }
      if (!first_wrote_nothing) {
        plan.answer(i, key_reused(req.meta.command_id), req);
        continue;
      }
      // The id's first use in this group was rejected and recorded
      // nothing: another body under it is decided afresh, as it would be
      // one command at a time.
      it->second = i;
    }
    // Tenant isolation comes before every rule: a rule's answer (404, 409,
    // 422) must not tell one organization anything about another's.
    if (tenant_bound(req.meta.principal, req.command)) {
      auto model = admission();
      if (!model) return std::unexpected(model.error());
      auto target = target_tenant(**model, req.command, req.meta.principal);
      if (target && *target != req.meta.principal.tenant) {
        plan.refuse(i, req, *target);
        continue;
      }
    }
    if (std::holds_alternative<domain::entitlements::Command>(req.command)) {
      auto a = entitlement_append(req, key, now);  // commands/entitlement_service.cc
      if (!a && a.error().kind == domain::ErrorKind::kUnavailable) return std::unexpected(a.error());
      if (!a) {
        plan.answer(i, std::move(a.error()), req);
      } else {
        plan.append(i, std::move(*a));
      }
      continue;
    }
    if (auto refused = plan_assignment_refusal(req.command)) {
      if (refused->kind == domain::ErrorKind::kUnavailable) return std::unexpected(*refused);
      plan.answer(i, std::move(*refused), req);
      continue;
    }
    if (is_config_command(req.command)) {
      auto a = config.decide(req, key, now);
      if (!a && a.error().kind == domain::ErrorKind::kUnavailable) return std::unexpected(a.error());
      if (!a) {
        plan.answer(i, std::move(a.error()), req);
      } else {
        plan.append(i, std::move(*a));
      }
      continue;
    }
    auto planned = is_policy_command(req.command) ? plan_policy_command(i, req, now, plan)
                                                  : plan_admission_command(i, req, now, plan);
    if (!planned) return planned;
  }
  return {};
}

domain::Result<void> CommandService::plan_admission_command(std::size_t i, const CommandRequest& req,
                                                            events::Instant now, Plan& plan) {
  auto model = admission();
  if (!model) return std::unexpected(model.error());
  plan.touched_admission = true;
  auto decided = std::visit(
      [&](const auto& c) -> domain::Result<domain::Decided> {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, domain::DefinePolicyKey> || std::is_same_v<T, domain::SetPolicyValue> ||
                      std::is_same_v<T, domain::entitlements::Command> ||
                      std::is_same_v<T, domain::config::SetConfigLayer> ||
                      std::is_same_v<T, domain::config::ReloadConfig> ||
                      std::is_same_v<T, domain::config::ShredConfigSecrets>) {
          return domain::fail(domain::ErrorKind::kInternal, "internal", "not an admission command");
        } else if constexpr (std::is_same_v<T, domain::RecordAccessRefusal> || std::is_same_v<T, domain::RevokeToken>) {
          return domain::decide(c);
        } else if constexpr (requires { domain::decide(**model, c, options_.app_policy_deps); }) {
          return domain::decide(**model, c, options_.app_policy_deps);
        } else if constexpr (requires { domain::decide(**model, c, now); }) {
          return domain::decide(**model, c, now);
        } else {
          return domain::decide(**model, c);
        }
      },
      req.command);
  if (decided && tenant_bound(req.meta.principal, req.command) && decided->tenant != req.meta.principal.tenant) {
    plan.refuse(i, req, decided->tenant);  // plan_group's check already knew; kept as a backstop
    return {};
  }
  const events::StreamVersion version{decided ? (*model)->stream_version(decided->stream_id) : 0};
  if (decided && req.expected_version && *req.expected_version != version) {
    decided = std::unexpected(version_conflict(decided->stream_id, *req.expected_version, version));
  }
  if (!decided) {
    plan.answer(i, std::move(decided.error()), req);
    return {};
  }
  StreamAppend a = command_append(req, decided->stream_id, version, plan.keys[i], now);
  if (const auto* r = std::get_if<domain::RecordAccessRefusal>(&req.command)) {
    // The audit row of a refusal names who tried, whoever reported it.
    a.meta.actor = events::Actor{r->refusal.actor_type, r->refusal.actor_id, r->refusal.actor_roles};
  }
  a.meta.tenant = decided->tenant;
  auto pos = admission_positions_.find(a.stream_id);
  a.position_if_empty = pos == admission_positions_.end() ? events::GlobalPosition{} : pos->second;
  for (const auto& ev : decided->events) (*model)->apply(a.stream_id, ev);
  a.events = std::move(decided->events);
  plan.admission_appends.push_back(plan.appends.size());
  plan.append(i, std::move(a));
  return {};
}

domain::Result<void> CommandService::plan_policy_command(std::size_t i, const CommandRequest& req, events::Instant now,
                                                         Plan& plan) {
  const std::string stream = stream_of(req.command);
  auto t = plan.tentative.find(stream);
  if (t == plan.tentative.end()) {
    auto loaded = load(stream);
    if (!loaded) return std::unexpected(loaded.error());
    t = plan.tentative.emplace(stream, std::move(*loaded)).first;
  }
  CachedStream& cs = t->second;
  // A platform-audience key takes no value from an organization's
  // principal (invariant 7); refused and audited before any rule runs.
  if (std::holds_alternative<domain::SetPolicyValue>(req.command) && cs.state.definition) {
    if (auto ok = domain::check_write_audience(*cs.state.definition, is_tenant_principal(req.meta.principal)); !ok) {
      plan.answer(i, std::move(ok.error()), req);
      plan.refusals.push_back({i, tenant_of(req.command, req.meta.principal), "platform_only_key"});
      return {};
    }
  }
  const events::StreamVersion version{cs.state.version};
  if (req.expected_version && *req.expected_version != version) {
    plan.answer(i, version_conflict(stream, *req.expected_version, version), req);
    return {};
  }
  auto decided = std::visit(
      [&](const auto& c) -> domain::Result<std::vector<events::Event>> {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, domain::SetPolicyValue>)
          return domain::decide(cs.state, c, now);
        else if constexpr (std::is_same_v<T, domain::DefinePolicyKey>)
          return domain::decide(cs.state, c);
        else
          return domain::fail(domain::ErrorKind::kInternal, "internal", "not a policy-key command");
      },
      req.command);
  if (!decided) {
    plan.answer(i, std::move(decided.error()), req);
    return {};
  }
  StreamAppend a = command_append(req, stream, version, plan.keys[i], now);
  a.meta.tenant = tenant_of(req.command, req.meta.principal);
  a.position_if_empty = cs.last_position;
  for (const auto& ev : *decided) cs.state = domain::evolve(std::move(cs.state), ev);
  a.events = std::move(*decided);
  plan.append(i, std::move(a));
  return {};
}

domain::Result<void> CommandService::plan_refusal_records(const std::vector<Pending>& batch, events::Instant now,
                                                          Plan& plan) {
  if (plan.refusals.empty()) return {};
  // One AccessRefused per refused command of a principal: a retry of the
  // same command is the same attempt and finds the first record. The
  // record's key is internal (commands/idempotency.h), out of every
  // caller's reach; its envelope keeps the readable id.
  std::vector<std::string> refusal_ids;
  std::vector<IdempotencyKey> refusal_keys;
  for (const auto& r : plan.refusals) {
    refusal_ids.push_back("access-refused:" + batch[r.index].request.meta.command_id);
    refusal_keys.push_back(refusal_record_key(plan.keys[r.index]));
  }
  auto recorded = store_.find_outcomes(refusal_keys);
  if (!recorded) return std::unexpected(recorded.error());
  auto model = admission();
  if (!model) return std::unexpected(model.error());
  std::set<IdempotencyKey> seen;
  for (std::size_t k = 0; k < plan.refusals.size(); ++k) {
    if ((*recorded)[k] || !seen.insert(refusal_keys[k]).second) continue;
    const auto& req = batch[plan.refusals[k].index].request;
    const auto& who = req.meta.principal;
    events::AccessRefused ev{who.actor.type,
                             who.actor.id,
                             who.actor.roles,
                             who.tenant,
                             plan.refusals[k].target_tenant,
                             std::string(family_name(command_family(req.command))),
                             "COMMAND",
                             command_type(req.command),
                             plan.refusals[k].reason};
    auto decided = domain::decide(domain::RecordAccessRefusal{domain::bounded(std::move(ev))});
    if (!decided) continue;  // an empty principal field: nothing sane to record
    StreamAppend a;
    a.stream_id = decided->stream_id;
    a.expected_version = events::StreamVersion{(*model)->stream_version(a.stream_id)};
    a.meta.actor = who.actor;
    a.meta.tenant = decided->tenant;
    a.meta.correlation_id = req.meta.correlation_id.empty() ? req.meta.command_id : req.meta.correlation_id;
    a.meta.causation_id = req.meta.command_id;
    a.meta.command_id = refusal_ids[k];
    a.meta.occurred_at = now;
    a.idempotency = refusal_keys[k];
    auto pos = admission_positions_.find(a.stream_id);
    a.position_if_empty = pos == admission_positions_.end() ? events::GlobalPosition{} : pos->second;
    for (const auto& e : decided->events) (*model)->apply(a.stream_id, e);
    a.events = std::move(decided->events);
    plan.touched_admission = true;
    plan.admission_appends.push_back(plan.appends.size());
    plan.appends.push_back(std::move(a));
  }
  return {};
}

domain::Result<void> CommandService::commit(Plan& plan, std::size_t commands) {
  if (plan.appends.empty()) {
    // Nothing written: every state in `tentative` is still what the store holds.
    for (auto& [stream, cs] : plan.tentative) cache_.try_emplace(stream, std::move(cs));
    return {};
  }
  const auto append_started = std::chrono::steady_clock::now();
  auto appended = store_.append(plan.appends);
  if (options_.on_group_commit) {
    options_.on_group_commit({.commands = commands,
                              .appends = plan.appends.size(),
                              .append_time = std::chrono::steady_clock::now() - append_started,
                              .committed = appended.has_value()});
  }
  // Touched streams stay out of the cache; the admission model was evolved
  // tentatively, so it is rebuilt from the store.
  if (!appended) return std::unexpected(appended.error());
  const std::vector<CommandOutcome>& outcomes = *appended;
  for (std::size_t k : plan.admission_appends) {
    if (!outcomes[k].event_ids.empty()) admission_positions_[outcomes[k].stream_id] = outcomes[k].position;
  }
  for (const auto& o : outcomes) {
    if (!o.event_ids.empty() && o.stream_id.starts_with("entitlement-"))
      entitlement_positions_[o.stream_id] = o.position;
  }
  for (auto& [stream, cs] : plan.tentative) cache_[stream] = std::move(cs);
  for (const auto& o : outcomes) {
    if (!o.event_ids.empty()) cache_[o.stream_id].last_position = o.position;
  }
  // Each committed command's answer, from its append's outcome.
  for (auto& slot : plan.slots) {
    if (slot.append_index < 0) continue;
    const auto& o = outcomes[static_cast<std::size_t>(slot.append_index)];
    slot.answer =
        Accepted{o.command_id, o.event_ids, o.position, o.stream_version, false, o.decided_at_position, o.recorded_at};
  }
  return {};
}

void CommandService::answer_all(std::vector<Pending>& batch, Plan& plan) {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Plan::Slot& s = plan.slots[i];
    if (s.same_as >= 0) {
      // A repeat of an earlier command of this batch answers what it did, as a duplicate.
      if (const auto& first = plan.slots[static_cast<std::size_t>(s.same_as)].answer) {
        domain::Result<Accepted> repeat = *first;
        if (repeat) repeat->duplicate = true;
        s.answer = std::move(repeat);
      }
    }
    if (!s.answer) {  // never: a plan answers or appends every command
      s.answer = std::unexpected(
          domain::Error{domain::ErrorKind::kInternal, "internal", "the command was left without an answer", {}});
    }
    batch[i].reply.set_value(*s.answer);  // a copy: a repeat later in the batch may read it
  }
}

}  // namespace ledger::commands
