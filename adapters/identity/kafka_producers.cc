#include "adapters/identity/kafka_producers.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "commands/access/authorization.h"
#include "commands/edge_values.h"

namespace ledger::adapters::identity {
namespace {

domain::Error malformed(std::string message) {
  return domain::Error{domain::ErrorKind::kInvalidArgument, "kafka_producers_malformed", std::move(message), {}};
}

domain::Error unauthenticated(std::string code, std::string message) {
  return domain::Error{domain::ErrorKind::kUnauthenticated, std::move(code), std::move(message), {}};
}

// A value that names something: text with at least one character that is
// neither a space nor a control character. An empty or blank tenant or actor
// id would stamp "nobody" on every event the producer's commands write.
bool naming_text(std::string_view s) {
  return commands::printable_text(s) &&
         std::any_of(s.begin(), s.end(), [](unsigned char c) { return !std::isspace(c); });
}

// Member `field` of `o` when it is naming text, else nullptr.
const std::string* naming_member(const nlohmann::json& o, const char* field) {
  const auto it = o.find(field);
  if (it == o.end() || !it->is_string() || !naming_text(it->get_ref<const std::string&>())) return nullptr;
  return &it->get_ref<const std::string&>();
}

}  // namespace

bool valid_producer_name(std::string_view name) {
  if (name.empty() || name.size() > 100) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; });
}

std::string producer_topics_pattern(std::string_view base) {
  std::string out = "^";
  for (char c : base) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out + "\\.[a-z0-9_-]+$";
}

std::string producer_topic(std::string_view base, std::string_view name) {
  return std::string(base) + "." + std::string(name);
}

domain::Result<KafkaProducers> KafkaProducers::from_json(const nlohmann::json& document) {
  if (!document.is_object() || !document.contains("producers") || !document["producers"].is_array()) {
    return std::unexpected(malformed("the producers file needs a 'producers' array"));
  }
  KafkaProducers out;
  const auto& producers = document["producers"];
  for (std::size_t i = 0; i < producers.size(); ++i) {
    const auto& p = producers[i];
    // Every refusal names the entry (by its position, and by its producer once
    // that is known) and the field, so the operator knows what to mend.
    std::string entry = "producers[" + std::to_string(i) + "]";
    auto refuse = [&](const std::string& field, const std::string& what) {
      domain::Error e = malformed(entry + ": " + field + " " + what);
      e.with("entry", i).with("field", field);
      return std::unexpected(std::move(e));
    };
    if (!p.is_object()) {
      domain::Error e = malformed(entry + " must be an object");
      e.with("entry", i);
      return std::unexpected(std::move(e));
    }
    const auto name = p.find("kafka_principal");
    if (name == p.end() || !name->is_string() || !valid_producer_name(name->get_ref<const std::string&>())) {
      return refuse("kafka_principal", "must be 1 to 100 of [a-z0-9_-]");
    }
    entry += " (" + name->get<std::string>() + ")";
    const std::string* tenant = naming_member(p, "tenant");
    if (tenant == nullptr) return refuse("tenant", "must be a non-blank string");
    const auto actor = p.find("actor");
    if (actor == p.end() || !actor->is_object()) return refuse("actor", "must be an object");
    const std::string* type = naming_member(*actor, "type");
    if (type == nullptr || !commands::is_principal_actor_type(*type)) {
      return refuse("actor.type", "must be user, service_account, api_key or worker");
    }
    const std::string* id = naming_member(*actor, "id");
    if (id == nullptr) return refuse("actor.id", "must be a non-blank string");
    commands::Principal principal;
    principal.tenant = *tenant;
    principal.actor.type = *type;
    principal.actor.id = *id;
    if (const auto roles = actor->find("roles"); roles != actor->end()) {
      if (!roles->is_array()) return refuse("actor.roles", "must be an array of strings");
      for (const auto& r : *roles) {
        if (!r.is_string()) return refuse("actor.roles", "must be an array of strings");
        principal.actor.roles.push_back(r.get<std::string>());
      }
    }
    std::sort(principal.actor.roles.begin(), principal.actor.roles.end());
    if (!out.by_name_.emplace(name->get<std::string>(), std::move(principal)).second) {
      return refuse("kafka_principal", "is listed twice");
    }
  }
  return out;
}

domain::Result<KafkaProducers> KafkaProducers::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return domain::fail(domain::ErrorKind::kInvalidArgument, "kafka_producers_unreadable", "cannot read " + path);
  }
  auto document = nlohmann::json::parse(in, nullptr, false);
  if (document.is_discarded()) return std::unexpected(malformed(path + " is not JSON"));
  return from_json(document);
}

domain::Result<commands::Principal> KafkaProducers::principal_of(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    return std::unexpected(
        unauthenticated("kafka_producer_unknown", "no ledger principal is recorded for this producer"));
  }
  return it->second;
}

domain::Result<commands::Principal> principal_for_record(const adapters::kafka::KafkaMessage& msg,
                                                         std::string_view base, const KafkaProducers& producers) {
  if (msg.header("authorization") != nullptr) {
    return std::unexpected(unauthenticated(
        "kafka_token_header_refused",
        "commands over Kafka act as the producer's Kafka principal; a record must not carry a bearer token"));
  }
  const std::string_view topic = msg.topic;
  if (topic.size() <= base.size() + 1 || !topic.starts_with(base) || topic[base.size()] != '.' ||
      !valid_producer_name(topic.substr(base.size() + 1))) {
    return std::unexpected(unauthenticated("kafka_topic_unknown", "the record's topic is not a producer topic"));
  }
  return producers.principal_of(topic.substr(base.size() + 1));
}

void ProducersFile::refresh() {
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(path_, ec);
  if (ec || (loaded_at_ && *loaded_at_ == mtime)) return;
  const auto now = std::chrono::steady_clock::now();
  const bool refused_before = refused_at_ && *refused_at_ == mtime;
  if (refused_before && now < retry_at_) return;
  auto loaded = KafkaProducers::load(path_);
  if (!loaded) {
    if (!refused_before) {
      spdlog::error("kafka producers: {} ({}); keeping the previous list", loaded.error().message, loaded.error().code);
    }
    refused_at_ = mtime;
    retry_at_ = now + kRetryRefused;
    return;
  }
  producers_ = std::move(*loaded);
  loaded_at_ = mtime;
  refused_at_.reset();
  spdlog::info("kafka producers: {} known from {}", producers_.size(), path_);
}

domain::Result<commands::Principal> ProducersFile::principal_for_record(const adapters::kafka::KafkaMessage& msg,
                                                                        std::string_view base) {
  refresh();
  return adapters::identity::principal_for_record(msg, base, producers_);
}

void upsert_producer(nlohmann::json& document, const std::string& name, const commands::Principal& principal) {
  if (!document.is_object()) document = nlohmann::json::object();
  if (!document.contains("producers") || !document["producers"].is_array())
    document["producers"] = nlohmann::json::array();
  nlohmann::json entry = {
      {"kafka_principal", name},
      {"tenant", principal.tenant},
      {"actor", {{"type", principal.actor.type}, {"id", principal.actor.id}, {"roles", principal.actor.roles}}}};
  for (auto& p : document["producers"]) {
    if (p.is_object() && p.value("kafka_principal", "") == name) {
      p = std::move(entry);
      return;
    }
  }
  document["producers"].push_back(std::move(entry));
}

}  // namespace ledger::adapters::identity
