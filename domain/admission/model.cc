#include "domain/admission/model.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace ledger::domain {

using events::Event;

bool AdmissionModel::handles(const Event& e) {
  // Anchors (events/chain_events.h) belong to the chain, not to admission.
  return !std::holds_alternative<events::PolicyKeyDefined>(e) && !std::holds_alternative<events::PolicyValueSet>(e) &&
         !std::holds_alternative<events::ChainHeadSigned>(e);
}

namespace {

// The size of the index of `places` places: a power of two, at least twice
// their number (at most half full), and at least 16.
std::size_t index_size(std::size_t places) {
  std::size_t size = 16;
  while (size < 2 * places) size *= 2;
  return size;
}

}  // namespace

std::int64_t AdmissionModel::stream_version(const std::string& stream) const {
  auto it = stream_versions_.find(stream);
  return it == stream_versions_.end() ? 0 : it->second;
}

std::int64_t AdmissionModel::rule_version(const QuotaScope& scope, const std::string& rule_id) const {
  const Place* at = place(scope);
  if (!at || !at->held) return 0;
  const auto& versions = at->held->rule_versions;
  auto r = versions.find(rule_id);
  return r == versions.end() ? 0 : r->second;
}

AdmissionModel::Places& AdmissionModel::Places::operator=(const Places& o) {
  if (this != &o) {
    map_ = o.map_;
    reindex();
  }
  return *this;
}

AdmissionModel::Places::Map::value_type* AdmissionModel::Places::entry(const QuotaScope& s, std::size_t hash) const {
  if (index_.empty()) return nullptr;
  const std::size_t mask = index_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = index_[i];
    if (slot.entry == nullptr) return nullptr;
    if (slot.hash == hash && slot.entry->first == s) return slot.entry;
  }
}

AdmissionModel::Place& AdmissionModel::Places::operator[](const QuotaScope& s) {
  const std::size_t hash = ScopeHash{}(s);
  if (auto* e = entry(s, hash)) return e->second;
  // The index grows before the place is added: an allocation that throws
  // leaves the map as it was, and its index finding all of it.
  if (2 * (map_.size() + 1) > index_.size()) grow(index_size(map_.size() + 1));
  auto& added = *map_.try_emplace(s).first;
  added.second.id = static_cast<std::uint32_t>(map_.size());  // places are never erased
  put(hash, &added);
  return added.second;
}

void AdmissionModel::Places::grow(std::size_t size) {
  std::vector<Slot> old(size);
  index_.swap(old);
  for (const Slot& slot : old) {
    if (slot.entry != nullptr) put(slot.hash, slot.entry);
  }
}

void AdmissionModel::Places::put(std::size_t hash, Map::value_type* entry) {
  const std::size_t mask = index_.size() - 1;
  std::size_t i = hash & mask;
  while (index_[i].entry != nullptr) i = (i + 1) & mask;
  index_[i] = Slot{hash, entry};
}

void AdmissionModel::Places::reindex() {
  index_.assign(index_size(map_.size()), Slot{});
  for (auto& entry : map_) put(ScopeHash{}(entry.first), &entry);
  for (auto& [scope, at] : map_) link(at);
}

const AdmissionModel::Place* AdmissionModel::place(const QuotaScope& s) const { return places_.find(s); }

AdmissionModel::Place& AdmissionModel::placed_at(const QuotaScope& s) {
  Place* at = places_.find(s);
  if (at == nullptr || !at->node) throw std::out_of_range("no node at scope " + s.id);
  return *at;
}

const AdmissionModel::Node* AdmissionModel::node(const QuotaScope& s) const {
  const Place* at = place(s);
  return at && at->node ? &*at->node : nullptr;
}

std::vector<ChainNode> AdmissionModel::chain(const QuotaScope& s) const {
  std::vector<ChainNode> out;
  if (s.level == QuotaLevel::kGlobal) return {ChainNode{s, 0}};
  if (s.level == QuotaLevel::kPlan) return {ChainNode{s, 0}, ChainNode{{QuotaLevel::kGlobal, ""}, 0}};
  const Node* n = node(s);
  if (n) out.reserve(8);  // principal .. global: a handful of nodes
  while (n) {
    out.push_back(ChainNode{n->scope, n->version});
    if (n->scope.level == QuotaLevel::kOrganization) {
      out.push_back(ChainNode{{QuotaLevel::kPlan, n->plan_id}, 0});
      out.push_back(ChainNode{{QuotaLevel::kGlobal, ""}, 0});
      return out;
    }
    n = node(n->parent);
  }
  return {};  // unknown, or a broken parent link
}

bool AdmissionModel::is_ancestor_or_self(const QuotaScope& ancestor, const QuotaScope& s) const {
  for (const auto& c : chain(s)) {
    if (c.scope == ancestor) return true;
  }
  return false;
}

void AdmissionModel::refer_rules(const Place& at, const std::string& dimension, std::vector<const CeilingRule*>& out) {
  for (const auto& r : at.ceilings) {
    if (r.target.dimension == dimension) out.push_back(&r);
  }
}

void AdmissionModel::take_delegation(const Place& at, const std::string& dimension, std::vector<Delegation>& out) {
  for (const auto& d : at.delegations) {
    if (d.dimension == dimension) {
      out.push_back(d);
      return;
    }
  }
}

namespace {

// Where `key` is or belongs in `list`, kept in `key_of` order.
template <class T, class Key>
auto sorted_slot(std::vector<T>& list, const std::string& key, Key key_of) {
  return std::lower_bound(list.begin(), list.end(), key,
                          [&](const T& item, const std::string& k) { return key_of(item) < k; });
}

// Puts `item` at its key in `list` (replacing the one there); whether it was added.
template <class T, class Key>
bool put_sorted(std::vector<T>& list, T item, Key key_of) {
  auto it = sorted_slot(list, key_of(item), key_of);
  if (it != list.end() && key_of(*it) == key_of(item)) {
    *it = std::move(item);
    return false;
  }
  list.insert(it, std::move(item));
  return true;
}

// Takes the item at `key` out of `list`; whether there was one.
template <class T, class Key>
bool erase_sorted(std::vector<T>& list, const std::string& key, Key key_of) {
  auto it = sorted_slot(list, key, key_of);
  if (it == list.end() || key_of(*it) != key) return false;
  list.erase(it);
  return true;
}

const std::string& rule_id_of(const CeilingRule& r) { return r.rule_id; }
const std::string& dimension_of(const Delegation& d) { return d.dimension; }

}  // namespace

void AdmissionModel::walk_chain(const Place* requester, const std::string& dimension, DecisionSnapshot& s) const {
  // chain(), rules_on() and delegations_on() in one pass.
  s.chain.reserve(8);
  s.rule_refs.reserve(16);
  auto& ids = s.chain_places;
  auto place_id = [&ids](const Place* p) {
    if (ids.size < DecisionSnapshot::ChainPlaces::kMax) ids.ids[ids.size] = p != nullptr ? p->id : 0;
    ++ids.size;
  };
  const Place* at = requester;
  while (at != nullptr && at->node) {
    // The place above is read next: its first line and its node are
    // fetched while this one's rules are read.
    if (at->up != nullptr) {
      __builtin_prefetch(at->up);
      __builtin_prefetch(&at->up->node);
    }
    const Node& n = *at->node;
    s.chain.push_back(ChainNode{n.scope, n.version});
    place_id(at);
    refer_rules(*at, dimension, s.rule_refs);
    take_delegation(*at, dimension, s.delegations);
    if (n.scope.level == QuotaLevel::kOrganization) {
      // An organization's parent is its plan (OrganizationCreated,
      // OrganizationPlanChanged).
      const Place* plan = at->up != nullptr ? at->up : place(n.parent);
      const Place* global = place({QuotaLevel::kGlobal, ""});
      for (const auto& [above, top] : {std::pair{plan, QuotaScope{QuotaLevel::kPlan, n.plan_id}},
                                       std::pair{global, QuotaScope{QuotaLevel::kGlobal, ""}}}) {
        if (above != nullptr) {
          refer_rules(*above, dimension, s.rule_refs);
          take_delegation(*above, dimension, s.delegations);
        }
        s.chain.push_back(ChainNode{top, 0});
        place_id(above);
      }
      if (ids.size > DecisionSnapshot::ChainPlaces::kMax) ids.size = 0;  // too long: compared by name
      return;
    }
    at = at->up != nullptr ? at->up : place(n.parent);
  }
  // Unknown, or a broken parent link: no chain, so nothing on it.
  s.chain.clear();
  s.chain_places.size = 0;
  s.rule_refs.clear();
  s.delegations.clear();
}

ReservationSlot AdmissionModel::slot_of(const ReservationView& v) const {
  ReservationSlot slot;
  slot.window_start = v.window_start.micros;
  slot.window_end = v.window_end.micros;
  slot.quantity = v.quantity;
  slot.holds = state_holds_capacity(v.state);
  slot.any_region = v.region.empty();
  slot.any_sku = v.sku_or_model.empty();
  if (v.owner_chain.empty() || v.owner_chain.size() > ReservationSlot::kMaxOwners) return slot;
  for (std::size_t i = 0; i < v.owner_chain.size(); ++i) {
    const Place* at = place(v.owner_chain[i]);
    if (at == nullptr) return slot;  // owner_count stays 0: read the view
    slot.owners[i] = at->id;
  }
  slot.owner_count = static_cast<std::uint8_t>(v.owner_chain.size());
  return slot;
}

std::vector<CeilingRule> AdmissionModel::rules_on(std::span<const ChainNode> chain,
                                                  const std::string& dimension) const {
  std::vector<const CeilingRule*> refs;
  refs.reserve(2 * chain.size());
  for (const auto& c : chain) {
    if (const Place* at = place(c.scope)) refer_rules(*at, dimension, refs);
  }
  std::vector<CeilingRule> out;
  out.reserve(refs.size());
  for (const CeilingRule* r : refs) out.push_back(*r);
  return out;
}

std::vector<Delegation> AdmissionModel::delegations_on(std::span<const ChainNode> chain,
                                                       const std::string& dimension) const {
  std::vector<Delegation> out;
  for (const auto& c : chain) {
    if (const Place* at = place(c.scope)) take_delegation(*at, dimension, out);
  }
  return out;
}

const RegistryEntry* AdmissionModel::registry(const std::string& kind, const std::string& id) const {
  auto it = registry_.find(RegistryKey::View{kind, id});
  return it == registry_.end() ? nullptr : it->second.get();
}

const AdmissionModel::Reservation* AdmissionModel::reservation(const std::string& organization_id,
                                                               const std::string& id) const {
  auto org = reservations_.find(organization_id);
  if (org == reservations_.end()) return nullptr;
  auto it = org->second.find(id);
  return it == org->second.end() ? nullptr : &it->second;
}

std::vector<std::string> AdmissionModel::organizations_with_reservation(const std::string& id) const {
  std::vector<std::string> out;
  for (const auto& [org, of_org] : reservations_) {
    if (of_org.contains(id)) out.push_back(org);
  }
  return out;
}

void AdmissionModel::rebuild_view(const std::pair<std::string, std::string>& key, Reservation& r) {
  ReservationView v;
  const auto& d = r.drafted;
  v.reservation_id = d.reservation_id;
  v.owner = d.owner;
  for (const auto& c : chain(d.owner)) {
    if (c.scope.level == QuotaLevel::kPlan || c.scope.level == QuotaLevel::kGlobal) break;
    v.owner_chain.push_back(c.scope);
  }
  v.dimension = d.dimension;
  v.region = d.region;
  v.sku_or_model = d.sku_or_model;
  v.quantity = d.quantity;
  v.consumed = r.consumed;
  v.state = r.state;
  v.window_start = d.window_start;
  v.window_end = d.window_end;
  if (v.owner_chain.empty()) {
    unplaced_reservations_.insert(key);
  } else {
    unplaced_reservations_.erase(key);
  }
  r.view = Shared<ReservationView>(std::move(v));
  index_view(key.first, r);
}

namespace {

// Where `id` is or belongs in a list of views in id order.
auto view_slot(std::vector<Shared<ReservationView>>& list, const std::string& id) {
  return std::lower_bound(list.begin(), list.end(), id,
                          [](const Shared<ReservationView>& v, const std::string& x) { return v->reservation_id < x; });
}

}  // namespace

void AdmissionModel::index_view(const std::string& organization_id, const Reservation& r) {
  auto& views = views_[organization_id][r.drafted.dimension];
  views.changed = true;
  unsealed_.emplace(organization_id, r.drafted.dimension);
  auto& list = views.list;
  const std::string& id = r.drafted.reservation_id;
  auto it = view_slot(list, id);
  if (it != list.end() && (*it)->reservation_id == id) {
    *it = r.view;
  } else {
    list.insert(it, r.view);
  }
}

void AdmissionModel::unindex_view(const std::string& organization_id, const std::string& dimension,
                                  const std::string& id) {
  auto org = views_.find(organization_id);
  if (org == views_.end()) return;
  auto dim = org->second.find(dimension);
  if (dim == org->second.end()) return;
  auto& list = dim->second.list;
  auto it = view_slot(list, id);
  if (it == list.end() || (*it)->reservation_id != id) return;
  list.erase(it);
  dim->second.changed = true;
  unsealed_.emplace(organization_id, dimension);
}

void AdmissionModel::seal() {
  for (const auto& [organization_id, dimension] : unsealed_) {
    auto& views = views_.at(organization_id).at(dimension);
    std::vector<ReservationSlot> slots;
    slots.reserve(views.list.size());
    for (const auto& v : views.list) slots.push_back(slot_of(*v));
    views.sealed = ReservationList(views.list, std::move(slots));
    views.changed = false;
  }
  unsealed_.clear();
}

// A move changes the chains under the moved node, all inside its
// organization; reservations are keyed by their owner's organization
// (decide() of DraftReservation), so its reservations are all there are to
// rebuild.
void AdmissionModel::rebuild_views_of(const std::string& organization_id) {
  auto it = reservations_.find(organization_id);
  if (it == reservations_.end()) return;
  for (auto& [id, r] : it->second) rebuild_view({organization_id, id}, r);
}

std::vector<ReservationView> AdmissionModel::reservations_of(const std::string& organization_id,
                                                             const std::string& dimension) const {
  std::vector<ReservationView> out;
  auto it = reservations_.find(organization_id);
  if (it == reservations_.end()) return out;
  for (const auto& [id, r] : it->second) {
    if (r.drafted.dimension == dimension) out.push_back(*r.view);
  }
  return out;
}

std::vector<ReservationView> AdmissionModel::all_reservations_of(const std::string& organization_id) const {
  std::vector<ReservationView> out;
  auto it = reservations_.find(organization_id);
  if (it == reservations_.end()) return out;
  for (const auto& [id, r] : it->second) out.push_back(*r.view);
  return out;
}

std::vector<ReservationView> AdmissionModel::reservations_under(const QuotaScope& s,
                                                                const std::string& dimension) const {
  std::vector<ReservationView> out;
  auto take = [&](const Reservation& r) {
    if (r.drafted.dimension == dimension && is_ancestor_or_self(s, r.drafted.owner)) out.push_back(*r.view);
  };
  if (s.level == QuotaLevel::kGlobal || s.level == QuotaLevel::kPlan) {
    for (const auto& [org, of_org] : reservations_) {
      for (const auto& [id, r] : of_org) take(r);
    }
    return out;
  }
  const Node* n = node(s);
  if (!n) return out;
  auto it = reservations_.find(n->organization_id);
  if (it == reservations_.end()) return out;
  for (const auto& [id, r] : it->second) take(r);
  return out;
}

DecisionSnapshot AdmissionModel::snapshot_for(const DecisionInput& in) const {
  DecisionSnapshot s;
  // The requester's index slot is asked for first and read last: in a large
  // model it is a miss, taken while the lookups that need nothing of it run.
  const QuotaScope project{QuotaLevel::kProject, in.hierarchy.project_id};
  const std::size_t project_hash = Places::hash(project);
  places_.prefetch(project_hash);
  if (auto org = views_.find(in.hierarchy.organization_id); org != views_.end()) {
    if (auto dim = org->second.find(in.request.dimension); dim != org->second.end()) {
      const DimensionViews& views = dim->second;
      s.reservations = views.changed ? ReservationList(views.list) : views.sealed;
    }
  }
  auto entry = [&](std::string_view kind, const std::string& id) -> Shared<RegistryEntry> {
    auto it = registry_.find(RegistryKey::View{kind, id});
    return it == registry_.end() ? Shared<RegistryEntry>() : it->second;
  };
  s.dimension = entry("quota_dimension", in.request.dimension);
  if (!in.product.product_id.empty()) s.product = entry("product", in.product.product_id);
  if (!in.product.resource_type.empty()) s.resource_type = entry("resource_type", in.product.resource_type);
  if (s.dimension) {
    const auto& attributes = s.dimension->attributes;
    if (auto unit = attributes.find("unit"); unit != attributes.end()) s.usage_unit = entry("usage_unit", unit->second);
  }
  const Place* requester = places_.find(project, project_hash);
  // The actor is the requester when it is a principal of the project; a
  // project that never had one skips the lookup (in a large model, a miss).
  if (requester != nullptr && requester->had_principals) {
    const Place* principal = place({QuotaLevel::kPrincipal, in.actor.actor_id});
    if (principal != nullptr && principal->node && principal->node->parent == project) {
      requester = principal;
      s.requester_expires_at = principal->node->expires_at;
    }
  }
  walk_chain(requester, in.request.dimension, s);
  return s;
}

std::vector<std::pair<std::string, std::string>> AdmissionModel::reservations_to_expire(Instant now) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [org, of_org] : reservations_) {
    for (const auto& [id, r] : of_org) {
      if ((r.state == "active" || r.state == "exhausted" || r.state == "suspended") && now >= r.drafted.window_end) {
        out.emplace_back(org, id);
      }
    }
  }
  return out;
}

void AdmissionModel::apply(const std::string& stream_id, const Event& ev) { apply(stream_id, ev, {}); }

void AdmissionModel::apply(const std::string& stream_id, const Event& ev, const app_policy::Stamp& stamp) {
  if (app_policy::AppPolicyModel::handles(ev)) {
    ++stream_versions_[stream_id];
    apps_.apply(ev, stamp);
    return;
  }
  const std::int64_t version = ++stream_versions_[stream_id];
  // A node below an organization (departments, projects, principals).
  auto node_under = [](QuotaScope scope, QuotaScope parent, const std::string& organization_id,
                       const std::string& name) {
    return Node{.scope = std::move(scope),
                .version = 0,
                .parent = std::move(parent),
                .plan_id = "",
                .organization_id = organization_id,
                .name = name,
                .principal_type = "",
                .expires_at = std::nullopt,
                .default_department_id = ""};
  };
  auto add_node = [&](Node n) {
    n.version = version;
    auto& at = places_[n.scope];
    if (!at.node) ++node_count_;
    at.node = std::move(n);
    places_.link(at);
    // A reservation that named this node before it existed now has a place
    // (a copy: rebuilding takes the placed ones out of the set).
    if (!unplaced_reservations_.empty()) {
      for (const auto unplaced = unplaced_reservations_; const auto& key : unplaced) {
        rebuild_view(key, reservations_.at(key.first).at(key.second));
      }
    }
  };
  // A view is shared with snapshots already handed out: a change makes a new one.
  auto restamp = [this](const std::string& organization_id, Reservation& r, const auto& change) {
    ReservationView v = *r.view;
    change(v);
    r.view = Shared<ReservationView>(std::move(v));
    index_view(organization_id, r);
  };
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, events::RegistryEntryRegistered>) {
          registry_[{e.kind, e.entry_id}] =
              Shared<RegistryEntry>(RegistryEntry{e.kind, e.entry_id, e.version, e.description, e.attributes});
        } else if constexpr (std::is_same_v<T, events::OrganizationCreated>) {
          const QuotaScope org{QuotaLevel::kOrganization, e.organization_id};
          add_node(Node{.scope = org,
                        .version = 0,
                        .parent = {QuotaLevel::kPlan, e.plan_id},
                        .plan_id = e.plan_id,
                        .organization_id = e.organization_id,
                        .name = e.name,
                        .principal_type = "",
                        .expires_at = std::nullopt,
                        .default_department_id = e.default_department_id});
          add_node(node_under({QuotaLevel::kDepartment, e.default_department_id}, org, e.organization_id, "default"));
        } else if constexpr (std::is_same_v<T, events::OrganizationPlanChanged>) {
          Place& at = placed_at({QuotaLevel::kOrganization, e.organization_id});
          Node& n = *at.node;
          n.plan_id = e.plan_id;
          n.parent = {QuotaLevel::kPlan, e.plan_id};
          n.version = version;
          places_.link(at);
        } else if constexpr (std::is_same_v<T, events::DepartmentCreated>) {
          QuotaScope parent = e.parent_department_id.empty()
                                  ? QuotaScope{QuotaLevel::kOrganization, e.organization_id}
                                  : QuotaScope{QuotaLevel::kDepartment, e.parent_department_id};
          add_node(node_under({QuotaLevel::kDepartment, e.department_id}, parent, e.organization_id, e.name));
        } else if constexpr (std::is_same_v<T, events::DepartmentMoved>) {
          Place& at = placed_at({QuotaLevel::kDepartment, e.department_id});
          Node& n = *at.node;
          n.parent = e.parent_department_id.empty() ? QuotaScope{QuotaLevel::kOrganization, e.organization_id}
                                                    : QuotaScope{QuotaLevel::kDepartment, e.parent_department_id};
          n.version = version;
          places_.link(at);
          rebuild_views_of(n.organization_id);
        } else if constexpr (std::is_same_v<T, events::ProjectCreated>) {
          add_node(node_under({QuotaLevel::kProject, e.project_id}, {QuotaLevel::kDepartment, e.department_id},
                              e.organization_id, e.name));
        } else if constexpr (std::is_same_v<T, events::ProjectMoved>) {
          Place& at = placed_at({QuotaLevel::kProject, e.project_id});
          Node& n = *at.node;
          n.parent = {QuotaLevel::kDepartment, e.department_id};
          n.version = version;
          places_.link(at);
          rebuild_views_of(n.organization_id);
        } else if constexpr (std::is_same_v<T, events::PrincipalCreated>) {
          places_[{QuotaLevel::kProject, e.project_id}].had_principals = true;
          Node principal = node_under({QuotaLevel::kPrincipal, e.principal_id}, {QuotaLevel::kProject, e.project_id},
                                      e.organization_id, e.name);
          principal.principal_type = e.principal_type;
          principal.expires_at = e.expires_at;
          add_node(std::move(principal));
        } else if constexpr (std::is_same_v<T, events::CeilingSet>) {
          auto& at = places_[e.scope];
          if (put_sorted(at.ceilings, CeilingRule{e.scope, e.rule_id, e.rule_version, e.target, e.quantity, e.unit},
                         rule_id_of)) {
            ++ceiling_rule_count_;
          }
          at.hold().rule_versions[e.rule_id] = e.rule_version;
        } else if constexpr (std::is_same_v<T, events::CeilingCleared>) {
          auto& at = places_[e.scope];
          if (erase_sorted(at.ceilings, e.rule_id, rule_id_of)) --ceiling_rule_count_;
          at.hold().rule_versions[e.rule_id] = e.rule_version;
        } else if constexpr (std::is_same_v<T, events::CeilingDelegated>) {
          const std::int64_t v = ++delegation_versions_[e.delegation_id];
          put_sorted(places_[e.scope].delegations, Delegation{e.scope, e.delegation_id, e.dimension, e.max_quantity, v},
                     dimension_of);
        } else if constexpr (std::is_same_v<T, events::CeilingDelegationRevoked>) {
          ++delegation_versions_[e.delegation_id];
          erase_sorted(places_[e.scope].delegations, e.dimension, dimension_of);
        } else if constexpr (std::is_same_v<T, events::ReservationDrafted>) {
          // Keyed by the organization the event carries, so events from
          // before ids were scoped (stream "reservation:<id>") replay alike.
          auto& of_org = reservations_[e.organization_id];
          if (auto before = of_org.find(e.reservation_id); before != of_org.end()) {
            unindex_view(e.organization_id, before->second.drafted.dimension, e.reservation_id);
          }
          Reservation& r = of_org[e.reservation_id] = Reservation{e, "draft", 0, version, stream_id, {}};
          rebuild_view({e.organization_id, e.reservation_id}, r);
        } else if constexpr (std::is_same_v<T, events::ReservationStateChanged>) {
          Reservation& r = reservations_.at(e.organization_id).at(e.reservation_id);
          r.state = e.state;
          restamp(e.organization_id, r, [&](ReservationView& v) { v.state = e.state; });
          r.version = version;
        } else if constexpr (std::is_same_v<T, events::ReservationConsumed> ||
                             std::is_same_v<T, events::ReservationReleased>) {
          Reservation& r = reservations_.at(e.organization_id).at(e.reservation_id);
          r.consumed = e.consumed;
          restamp(e.organization_id, r, [&](ReservationView& v) { v.consumed = e.consumed; });
          r.version = version;
        }
      },
      ev);
}

namespace {
template <class... Ts>
std::vector<std::string> type_names(std::variant<Ts...>*) {
  std::vector<std::string> out;
  ((AdmissionModel::handles(Event(Ts{})) ? out.push_back(Ts::kType) : void()), ...);
  return out;
}
}  // namespace

const std::vector<std::string>& admission_event_types() {
  static const std::vector<std::string> names = type_names(static_cast<Event*>(nullptr));
  return names;
}

std::string admission_tenant(const AdmissionModel& m, const QuotaScope& scope) {
  if (scope.level == QuotaLevel::kGlobal || scope.level == QuotaLevel::kPlan) return "platform";
  if (const auto* n = m.node(scope)) return n->organization_id;
  return "platform";
}

}  // namespace ledger::domain
