// The admission model (seed 001): the hierarchy, registry, ceilings,
// delegations and reservations as state, plus the applications of seed 002,
// built only from events. Commands are decided against it (commands.h) and
// decisions read their snapshot from it (snapshot_for).
//
//   AdmissionModel m;
//   for (const auto& [stream, event] : history) m.apply(stream, event);
//   auto chain = m.chain({QuotaLevel::kProject, "p1"});
//
// No locking of its own: const members may be read from several threads
// while nothing applies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "domain/admission/ceiling_rules.h"
#include "domain/admission/decision.h"
#include "domain/admission/hierarchy.h"
#include "domain/admission/registry.h"
#include "domain/admission/reservations.h"
#include "domain/app_policy/model.h"
#include "domain/shared.h"
#include "events/admission_events.h"
#include "events/event.h"

namespace ledger::domain {

// Everything the admission commands are decided against, evolved from the
// admission events in global order. The command service keeps one while it
// is the writer; tests and the as-of tools build one from history.
class AdmissionModel {
 public:
  // What a decision's walk up the chain reads comes first (scope, version,
  // parent, plan): one or two cache lines per node in a large model.
  struct Node {
    QuotaScope scope;
    std::int64_t version = 0;
    QuotaScope parent;    // global's parent is itself
    std::string plan_id;  // organizations only
    std::string organization_id;
    std::string name;
    std::string principal_type;
    std::optional<Instant> expires_at;
    std::string default_department_id;  // organizations only
  };
  struct Reservation {
    events::ReservationDrafted drafted;
    std::string state = "draft";
    std::int64_t consumed = 0;
    std::int64_t version = 0;
    std::string stream_id;  // the stream it was drafted on (legacy or scoped)
    // What decisions and capacity checks read, kept current by apply(): its
    // owner chain is rebuilt when the hierarchy of its organization moves,
    // not on every read (a decision reads every reservation of the
    // organization in the dimension). Shared with the snapshots that read
    // it; a change makes a new one.
    Shared<ReservationView> view;
  };

  // Applies one event of `stream_id` (any event type: non-admission events
  // only move the stream's version).
  void apply(const std::string& stream_id, const events::Event& e);
  // The same, telling the per-application chains where the event sits
  // (the query service's models know; the writer's tentative apply does not).
  void apply(const std::string& stream_id, const events::Event& e, const app_policy::Stamp& stamp);
  static bool handles(const events::Event& e);

  // Applications and their policy chains (seed 002), kept with the
  // organizations they belong to.
  const app_policy::AppPolicyModel& apps() const { return apps_; }

  // Stream bookkeeping for expected versions and empty outcomes.
  std::int64_t stream_version(const std::string& stream) const;

  const Node* node(const QuotaScope& s) const;
  // Requester .. global. Empty when `s` is unknown (global and plans always exist).
  std::vector<ChainNode> chain(const QuotaScope& s) const;
  bool is_ancestor_or_self(const QuotaScope& ancestor, const QuotaScope& s) const;
  std::vector<CeilingRule> rules_on(std::span<const ChainNode> chain, const std::string& dimension) const;
  std::vector<Delegation> delegations_on(std::span<const ChainNode> chain, const std::string& dimension) const;
  // The last version of a ceiling rule at a scope, cleared ones included (0: never set).
  std::int64_t rule_version(const QuotaScope& scope, const std::string& rule_id) const;
  const RegistryEntry* registry(const std::string& kind, const std::string& id) const;
  // Ids are unique per organization: (organization_id, reservation_id).
  const Reservation* reservation(const std::string& organization_id, const std::string& id) const;
  // The organizations that have a reservation `id` (for the auditor's tools,
  // which may be asked about an id alone), ascending.
  std::vector<std::string> organizations_with_reservation(const std::string& id) const;
  std::vector<ReservationView> reservations_of(const std::string& organization_id, const std::string& dimension) const;
  // Every reservation of the organization, any dimension and state.
  std::vector<ReservationView> all_reservations_of(const std::string& organization_id) const;
  const ReservationView& view_of(const Reservation& r) const { return *r.view; }
  // Every reservation of `dimension` whose owner is `s` or below it (plan
  // and global: of every organization on them), any state.
  std::vector<ReservationView> reservations_under(const QuotaScope& s, const std::string& dimension) const;
  DecisionSnapshot snapshot_for(const DecisionInput& in) const;
  // Shares each organization's reservation list of a dimension that changed
  // since the last call whole, so the decisions after it copy one reference
  // count for it (ReservationList) instead of a list. Answers never depend
  // on it: snapshot_for copies a list changed since. The query service's
  // store calls it once per applied batch, before it publishes the copy.
  void seal();
  // Active reservations whose window ended at or before `now` (the
  // sweeper's work), as (organization_id, reservation_id).
  std::vector<std::pair<std::string, std::string>> reservations_to_expire(Instant now) const;

  std::size_t node_count() const { return node_count_; }
  std::size_t ceiling_rule_count() const { return ceiling_rule_count_; }
  std::size_t reservation_count() const {
    std::size_t n = 0;
    for (const auto& [org, of_org] : reservations_) n += of_org.size();
    return n;
  }

 private:
  friend struct AdmissionAccess;
  // r.view from r and the hierarchy as it is now.
  void rebuild_view(const std::pair<std::string, std::string>& key, Reservation& r);
  // After a move in `organization_id`: every view of its reservations.
  void rebuild_views_of(const std::string& organization_id);
  // r.view into views_ (in its dimension's list, by id), or out of
  // `dimension`'s list.
  void index_view(const std::string& organization_id, const Reservation& r);
  void unindex_view(const std::string& organization_id, const std::string& dimension, const std::string& id);
  app_policy::AppPolicyModel apps_;
  // Everything held at one scope: its node (plans and global have none),
  // and the ceiling rules and delegations set on it. Together, so a
  // decision looks up each scope of its chain once, not three times.
  struct Place {
    struct Held {
      std::map<std::string, std::int64_t> rule_versions;  // by rule id, cleared rules included
    };
    // The place of node->parent, when there was one as the node was placed,
    // moved or copied (Places); a decision's walk up the chain follows it
    // instead of looking each parent up. Null: look it up. The hash map
    // never moves its elements, and places are never erased.
    const Place* up = nullptr;
    // Its number, from 1 in the order places were added (Places): the same
    // scope has the same id in every copy of the model, since copies apply
    // the same events. Reservation slots and decision snapshots name places
    // by it (ReservationSlot).
    std::uint32_t id = 0;
    // Whether a principal was ever created under this scope (a project):
    // only then may a decision's requester be a principal here, so the
    // decisions of every other project skip looking one up.
    bool had_principals = false;
    // The ceiling rules set here, by rule id, and the delegations, by
    // dimension: each one contiguous block a decision reads where it finds
    // the place (in a map of its own behind a pointer, a large model missed
    // the cache on the pointer, then on each rule's node).
    std::vector<CeilingRule> ceilings;
    std::vector<Delegation> delegations;
    // After what a decision reads of every place above (up .. delegations)
    // and its key, so a decision's walk reads the first lines of each.
    std::optional<Node> node;
    // Only at scopes that ever held a rule: most projects hold none, and
    // pay a pointer, not an empty map.
    std::unique_ptr<Held> held;

    Place() = default;
    // `up` is the copying map's to set (Places).
    Place(const Place& o)
        : id(o.id),
          had_principals(o.had_principals),
          ceilings(o.ceilings),
          delegations(o.delegations),
          node(o.node),
          held(o.held ? std::make_unique<Held>(*o.held) : nullptr) {}
    Place& operator=(const Place& o) {
      if (this != &o) *this = Place(o);
      return *this;
    }
    Place(Place&&) noexcept = default;
    Place& operator=(Place&&) noexcept = default;
    ~Place() = default;
    Held& hold() {
      if (!held) held = std::make_unique<Held>();
      return *held;
    }
  };
  const Place* place(const QuotaScope& s) const;
  // The place of the node at `s`; throws std::out_of_range when there is none.
  Place& placed_at(const QuotaScope& s);
  // The rules of `dimension` at a place, in rule id order, referred to where
  // the place keeps them; its delegation of `dimension`.
  static void refer_rules(const Place& at, const std::string& dimension, std::vector<const CeilingRule*>& out);
  static void take_delegation(const Place& at, const std::string& dimension, std::vector<Delegation>& out);
  // What snapshot_for reads of the requester's chain: its scopes (none when
  // the chain is broken or unknown) and their rules and delegations of
  // `dimension`, each scope looked up once.
  void walk_chain(const Place* requester, const std::string& dimension, DecisionSnapshot& s) const;
  // What a decision reads of `v`, its owner chain as place ids (seal()).
  ReservationSlot slot_of(const ReservationView& v) const;
  // Scopes are only ever looked up, never walked in order: hashed, so a
  // lookup costs the same at a million nodes as at ten.
  struct ScopeHash {
    std::size_t operator()(const QuotaScope& s) const noexcept {
      return std::hash<std::string>{}(s.id) ^ (static_cast<std::size_t>(s.level) * 0x9e3779b97f4a7c15ULL);
    }
  };
  // The places by scope. The map owns them: a place never moves (the map's
  // nodes stay where they are through rehashing and moves) and is never
  // erased. The index finds them: a lookup in the map alone reads its
  // bucket, the node before, the node, and the next node's key to see
  // where the bucket ends (three or four cache misses in a large model); in
  // the index it reads one slot, which holds the hash, then the place's
  // key. Open addressing with linear probing, a power-of-two size, at most
  // half full. A copy points its places' `up` and its index into itself.
  class Places {
   public:
    Places() = default;
    Places(const Places& o) : map_(o.map_) { reindex(); }
    Places& operator=(const Places& o);
    Places(Places&&) noexcept = default;
    Places& operator=(Places&&) noexcept = default;
    ~Places() = default;

    const Place* find(const QuotaScope& s) const { return find(s, hash(s)); }
    Place* find(const QuotaScope& s) {
      auto* e = entry(s, hash(s));
      return e != nullptr ? &e->second : nullptr;
    }
    // A lookup in two steps, for a caller with other work to do while the
    // index slot comes from memory (a miss in a large model): its hash, a
    // hint to fetch the slot, then find(s, hash) reads it.
    static std::size_t hash(const QuotaScope& s) noexcept { return ScopeHash{}(s); }
    void prefetch(std::size_t hash) const noexcept {
      if (!index_.empty()) __builtin_prefetch(&index_[hash & (index_.size() - 1)]);
    }
    const Place* find(const QuotaScope& s, std::size_t hash) const {
      const auto* e = entry(s, hash);
      return e != nullptr ? &e->second : nullptr;
    }
    // The place at `s`, an empty one added when there is none.
    Place& operator[](const QuotaScope& s);
    // Sets `at.up` from its node's parent, as the map holds it now.
    void link(Place& at) const { at.up = at.node ? find(at.node->parent) : nullptr; }

   private:
    using Map = std::unordered_map<QuotaScope, Place, ScopeHash>;
    struct Slot {
      std::size_t hash = 0;
      Map::value_type* entry = nullptr;  // null: empty
    };
    Map::value_type* entry(const QuotaScope& s, std::size_t hash) const;
    void put(std::size_t hash, Map::value_type* entry);
    // An index of `size` slots holding what this one holds, refilled from
    // its slots (their hashes kept): no key is hashed again.
    void grow(std::size_t size);
    // The index (twice the map's size, rounded up to a power of two) and
    // every place's `up`, from the map (a copy's nodes are new).
    void reindex();

    Map map_;
    std::vector<Slot> index_;
  };
  Places places_;
  std::size_t node_count_ = 0;
  std::size_t ceiling_rule_count_ = 0;  // kept by apply: /metrics reads it on every scrape
  // By (kind, id), found from views of both: a decision's snapshot takes
  // up to four entries (shared), each a hash of its id and a comparison, without
  // building a key of strings (an ordered map compared strings a few times
  // per entry). Nothing lists the registry in order.
  struct RegistryKey {
    using is_transparent = void;
    using View = std::pair<std::string_view, std::string_view>;
    static View view(const std::pair<std::string, std::string>& k) { return {k.first, k.second}; }
    static View view(const View& k) { return k; }
    // By id alone: kinds are four, and an id two kinds share is one more
    // comparison in its bucket.
    template <class K>
    std::size_t operator()(const K& k) const {
      return std::hash<std::string_view>{}(view(k).second);
    }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return view(a) == view(b);
    }
  };
  std::unordered_map<std::pair<std::string, std::string>, Shared<RegistryEntry>, RegistryKey, RegistryKey> registry_;
  std::map<std::string, std::int64_t> delegation_versions_;  // by delegation id
  // By organization, then id: a decision walks the reservations of one
  // organization, and only those.
  std::map<std::string, std::map<std::string, Reservation>> reservations_;
  // The same reservations' views by organization, then dimension, in id
  // order: what a decision reads (snapshot_for), one contiguous list
  // without walking the reservations of other dimensions. Kept with every
  // change of a view.
  struct DimensionViews {
    std::vector<Shared<ReservationView>> list;
    ReservationList sealed;  // `list` as of the last seal(), when !changed
    bool changed = true;
  };
  std::unordered_map<std::string, std::map<std::string, DimensionViews>> views_;
  // The (organization, dimension) lists changed since the last seal().
  std::set<std::pair<std::string, std::string>> unsealed_;
  // Reservations whose owner had no chain when their view was built (an
  // owner or ancestor not created yet: never in a history the commands
  // wrote, but replay takes what the store holds); rebuilt on the next node.
  std::set<std::pair<std::string, std::string>> unplaced_reservations_;
  std::map<std::string, std::int64_t> stream_versions_;
};

// The type names of every admission event (what the model is built from).
const std::vector<std::string>& admission_event_types();

// The organization (tenant) a command's events belong to, or "platform".
// The command must be valid against `m` for the answer to be meaningful.
std::string admission_tenant(const AdmissionModel& m, const QuotaScope& scope);

}  // namespace ledger::domain
