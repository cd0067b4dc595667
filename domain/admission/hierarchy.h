// The scope hierarchy of the admission core (seed 001): how a scope is
// named, which ids are well formed, and one node of a requester's chain.
//
//   global <- plan <- organization <- department(s) <- project <- principal
//
// A chain runs from the requester up to global; global and plans always
// exist, the rest is built by the hierarchy commands (commands.h, decided in
// hierarchy.cc) and kept in AdmissionModel (model.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "events/admission_events.h"
#include "events/event.h"

namespace ledger::domain {

using events::Instant;
using events::QuotaLevel;
using events::QuotaScope;

using events::parse_quota_level;
using events::quota_level_name;
std::string scope_text(const QuotaScope& s);  // "project:p1", "global"

bool valid_entity_id(std::string_view id);  // 1..128 of [A-Za-z0-9._:-]

// One scope on the requester's chain, requester first, global last.
struct ChainNode {
  QuotaScope scope;
  std::int64_t version = 0;  // stream version of the node (0 for global / plan)
};

}  // namespace ledger::domain
