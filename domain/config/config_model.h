// The configuration model: every persisted layer document at one position,
// with its history, per-key "last updated by/at", and the resolved view of
// the seed's precedence (domain/config/layers.h). Built from
// ConfigLayerSet events in global order; the writer decides commands
// against one layer's state, the query service answers from a whole model.
// Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "domain/config/layers.h"
#include "domain/config/precedence.h"
#include "domain/error.h"
#include "events/event.h"

namespace ledger::domain::config {

// Who last changed a top-level key of a layer document, and when.
struct KeyUpdate {
  std::string actor_type;
  std::string actor_id;
  events::Instant at;
  std::int64_t position = 0;
};

struct HistoryEntry {
  std::int64_t position = 0;
  std::int64_t version = 0;
  events::Instant at;
  events::Actor actor;
  Json before;  // null: the layer had no document
  Json after;
  std::string reason;
};

struct LayerState {
  LayerRef ref;
  std::int64_t version = 0;   // stream version
  std::int64_t position = 0;  // global position of its last event
  Json doc;                   // null until set
  bool is_public = false;
  bool requires_restart = false;
  std::map<std::string, KeyUpdate> updated;  // per top-level key (global: "" for the value)
  std::vector<HistoryEntry> history;         // oldest first
};

// Where a resolved key came from.
struct KeySource {
  Layer layer = Layer::kProcess;
  int precedence = 0;         // index in kResolutionOrder (0 = highest)
  std::string stream_id;      // empty for the process layer
  std::int64_t position = 0;  // global position of the event that last set the key there
  std::optional<KeyUpdate> updated;
  bool requires_restart = false;  // a requires_restart global key
};

struct ResolveQuery {
  std::string tenant;
  std::string agent_type;    // empty: no agent layer
  std::string service_type;  // empty: no service-type layer
  std::string service_id;    // empty: no service-instance layer
  std::string project_id;    // empty: no project document beside it
};

struct Resolved {
  Json config = Json::object();
  std::map<std::string, KeySource> sources;
  Json project;                       // the project document (null when none or not asked)
  std::vector<LayerRef> layers_used;  // what the view depends on (precise invalidation)
};

class ConfigModel {
 public:
  // Applies one event of any type (ignores all but ConfigLayerSet).
  void apply(const events::EventMeta& meta, const events::Event& e);
  static bool handles(const events::Event& e);

  const LayerState* find(const LayerRef& r) const;
  std::int64_t stream_version(const LayerRef& r) const {
    const auto* s = find(r);
    return s ? s->version : 0;
  }
  // The layers of `layer` a tenant has (service instances, agents, projects).
  std::vector<const LayerState*> list(Layer layer, const std::string& tenant) const;
  // Every global key (public and not).
  std::vector<const LayerState*> globals() const { return list(Layer::kGlobal, "platform"); }

  // The seed's precedence over the layers `q` names; `process` is the
  // process-settings layer (an object). Global keys take part only when
  // public.
  Resolved resolve(const ResolveQuery& q, const Json& process) const;

  // The position of the last event that changed what the seed's cache key
  // `tag` (cache_key()) stands for; 0 when never. "global_keys" moves when a
  // global key is set for the first time (every resolved view lists them).
  // The last operator reload (position 0: none yet).
  std::int64_t last_reload_position() const { return last_reload_position_; }
  const events::ConfigReloaded& last_reload() const { return last_reload_; }

  // A data key deleted by ConfigSecretsShredded: secrets sealed under it
  // read "<shredded>".
  bool is_shredded(const std::string& key_id) const { return shredded_keys_.contains(key_id); }

  std::int64_t last_change(const std::string& tag) const {
    auto it = changes_.find(tag);
    return it == changes_.end() ? 0 : it->second;
  }

 private:
  std::map<std::string, LayerState> layers_;     // by stream id
  std::map<std::string, std::int64_t> changes_;  // by cache key
  std::int64_t last_reload_position_ = 0;
  events::ConfigReloaded last_reload_;
  std::set<std::string> shredded_keys_;
};

// The command that writes one layer document (config.<layer>.set).
struct SetConfigLayer {
  LayerRef ref;
  std::string value;  // canonical JSON (an object; a global key's value may be any JSON)
  std::string reason;
  bool is_public = false;         // global only
  bool requires_restart = false;  // global only
  // The tenant it writes to ("" for the platform layers): the admission
  // code's declared_tenant() reads it.
  std::string organization_id;
  friend bool operator==(const SetConfigLayer&, const SetConfigLayer&) = default;
};

// The operator reload (config.reload): the event names what was asked
// and what the writer already knows failed (`errors`). dry_run: nothing is
// written (decided by the caller: no event).
struct ReloadConfig {
  bool reload_env = false;
  bool invalidate_all = false;
  std::vector<std::string> tenant_ids;
  std::vector<std::string> reinit;
  bool dry_run = false;
  std::vector<std::string> errors;
  friend bool operator==(const ReloadConfig&, const ReloadConfig&) = default;
};
inline constexpr const char* kReloadStream = "config:reloads";

// Crypto-shredding of a tenant's configuration secrets
// (config.secrets.shred, platform_admin): the writer deletes the tenant's
// data keys (domain/config/secrets.h) and records ConfigSecretsShredded on
// kShredStream with the ids deleted.
struct ShredConfigSecrets {
  std::string tenant_id;
  std::string reason;
  friend bool operator==(const ShredConfigSecrets&, const ShredConfigSecrets&) = default;
};
inline constexpr const char* kShredStream = "config:shreds";
std::vector<events::Event> decide(const ReloadConfig& c);

// The events for `c` against the layer's current state (nullptr: never
// set): none when the document and flags are already so (no_change).
Result<std::vector<events::Event>> decide(const LayerState* current, const SetConfigLayer& c);

// The event types the model is built from.
const std::vector<std::string>& config_event_types();

}  // namespace ledger::domain::config
