#include "domain/config/config_model.h"

namespace ledger::domain::config {

namespace {

Json parse_or_null(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json(nullptr) : j;
}

void overlay(Resolved& out, const Json& doc, const KeySource& source) {
  if (!doc.is_object()) return;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    out.config[it.key()] = it.value();  // shallow, as layered_merge
    out.sources[it.key()] = source;
  }
}

KeySource source_of(const LayerState& s) {
  KeySource k;
  k.layer = s.ref.layer;
  k.precedence = precedence_of(s.ref.layer).value_or(-1);
  k.stream_id = stream_id(s.ref);
  k.position = s.position;
  k.requires_restart = s.requires_restart;
  return k;
}

}  // namespace

bool ConfigModel::handles(const events::Event& e) {
  return std::holds_alternative<events::ConfigLayerSet>(e) || std::holds_alternative<events::ConfigReloaded>(e) ||
         std::holds_alternative<events::ConfigSecretsShredded>(e);
}

std::vector<events::Event> decide(const ReloadConfig& c) {
  if (c.dry_run) return {};
  return {events::ConfigReloaded{c.reload_env, c.invalidate_all, c.tenant_ids, c.reinit, c.errors}};
}

void ConfigModel::apply(const events::EventMeta& meta, const events::Event& e) {
  if (const auto* r = std::get_if<events::ConfigReloaded>(&e)) {
    last_reload_position_ = meta.global_position.value;
    last_reload_ = *r;
    return;
  }
  if (const auto* x = std::get_if<events::ConfigSecretsShredded>(&e)) {
    shredded_keys_.insert(x->key_ids.begin(), x->key_ids.end());
    return;
  }
  const auto* c = std::get_if<events::ConfigLayerSet>(&e);
  if (!c) return;
  auto layer = parse_layer(c->layer);
  if (!layer) return;
  LayerRef ref{*layer, c->tenant_id, c->subject};
  const std::string id = stream_id(ref);
  if (*layer == Layer::kGlobal && !layers_.contains(id)) changes_["global_keys"] = meta.global_position.value;
  changes_[cache_key(ref)] = meta.global_position.value;
  LayerState& s = layers_[id];
  s.ref = ref;
  s.version = meta.stream_version.value > 0 ? meta.stream_version.value : s.version + 1;
  s.position = meta.global_position.value;
  Json before = parse_or_null(c->before);
  Json after = parse_or_null(c->after);
  const KeyUpdate who{meta.actor.type, meta.actor.id, meta.recorded_at, meta.global_position.value};
  if (*layer == Layer::kGlobal) {
    s.updated[c->subject] = who;
  } else {
    const Json empty = Json::object();
    const Json& b = before.is_object() ? before : empty;
    const Json& a = after.is_object() ? after : empty;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto old = b.find(it.key());
      if (old == b.end() || *old != it.value()) s.updated[it.key()] = who;
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (!a.contains(it.key())) s.updated.erase(it.key());
    }
  }
  s.doc = after;
  s.is_public = c->is_public;
  s.requires_restart = c->requires_restart;
  s.history.push_back(HistoryEntry{meta.global_position.value, s.version, meta.recorded_at, meta.actor,
                                   std::move(before), std::move(after), c->reason});
}

const LayerState* ConfigModel::find(const LayerRef& r) const {
  auto it = layers_.find(stream_id(r));
  return it == layers_.end() ? nullptr : &it->second;
}

std::vector<const LayerState*> ConfigModel::list(Layer layer, const std::string& tenant) const {
  std::vector<const LayerState*> out;
  const std::string prefix =
      "config:" + std::string(layer_name(layer)) + ":" + (platform_owned(layer) ? std::string() : tenant + "/");
  for (auto it = layers_.lower_bound(prefix); it != layers_.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(&it->second);
  }
  return out;
}

Resolved ConfigModel::resolve(const ResolveQuery& q, const Json& process) const {
  Resolved out;
  // Lowest precedence first: later layers win (layered_merge).
  KeySource proc;
  proc.layer = Layer::kProcess;
  // NOLINTNEXTLINE(bugprone-unchecked-optional-access): every layer has a precedence
  proc.precedence = *precedence_of(Layer::kProcess);
  overlay(out, process, proc);
  for (const LayerState* g : globals()) {
    out.layers_used.push_back(g->ref);
    if (!g->is_public || g->doc.is_null()) continue;
    KeySource src = source_of(*g);
    if (auto u = g->updated.find(g->ref.subject); u != g->updated.end()) src.updated = u->second;
    out.config[g->ref.subject] = g->doc;
    out.sources[g->ref.subject] = src;
  }
  auto layer = [&](Layer l, const std::string& tenant, const std::string& subject) {
    const LayerRef ref{l, tenant, subject};
    out.layers_used.push_back(ref);
    const LayerState* s = find(ref);
    if (!s || !s->doc.is_object()) return;
    KeySource src = source_of(*s);
    for (auto it = s->doc.begin(); it != s->doc.end(); ++it) {
      out.config[it.key()] = it.value();
      KeySource k = src;
      if (auto u = s->updated.find(it.key()); u != s->updated.end()) k.updated = u->second;
      out.sources[it.key()] = std::move(k);
    }
  };
  if (!q.service_type.empty()) layer(Layer::kServiceType, "platform", q.service_type);
  layer(Layer::kTenantRisk, q.tenant, "");
  if (!q.agent_type.empty()) layer(Layer::kAgent, q.tenant, q.agent_type);
  if (!q.service_id.empty()) layer(Layer::kService, q.tenant, q.service_id);
  if (!q.project_id.empty()) {
    const LayerRef ref{Layer::kProject, q.tenant, q.project_id};
    out.layers_used.push_back(ref);
    if (const LayerState* p = find(ref)) out.project = p->doc;
  }
  return out;
}

Result<std::vector<events::Event>> decide(const LayerState* current, const SetConfigLayer& c) {
  Json after = Json::parse(c.value, nullptr, /*allow_exceptions=*/false);
  if (after.is_discarded()) return fail(ErrorKind::kInvalidArgument, "invalid_field", "value is not JSON");
  if (c.ref.layer != Layer::kGlobal && !after.is_object()) {
    Error e{ErrorKind::kInvalidArgument, "invalid_field", "a layer document must be a JSON object", {}};
    e.with("field", "value");
    return std::unexpected(std::move(e));
  }
  if (c.ref.layer != Layer::kGlobal && (c.is_public || c.requires_restart)) {
    Error e{ErrorKind::kInvalidArgument, "invalid_field", "is_public and requires_restart are global keys' flags", {}};
    e.with("field", c.is_public ? "is_public" : "requires_restart");
    return std::unexpected(std::move(e));
  }
  if (current && current->doc == after && current->is_public == c.is_public &&
      current->requires_restart == c.requires_restart) {
    return std::vector<events::Event>{};  // already so
  }
  events::ConfigLayerSet e;
  e.layer = std::string(layer_name(c.ref.layer));
  e.tenant_id = c.ref.tenant;
  e.subject = c.ref.subject;
  e.before = current ? current->doc.dump() : "null";
  e.after = after.dump();
  e.is_public = c.is_public;
  e.requires_restart = c.requires_restart;
  e.reason = c.reason;
  return std::vector<events::Event>{std::move(e)};
}

const std::vector<std::string>& config_event_types() {
  static const std::vector<std::string> types = {events::ConfigLayerSet::kType, events::ConfigReloaded::kType,
                                                 events::ConfigSecretsShredded::kType};
  return types;
}

}  // namespace ledger::domain::config
