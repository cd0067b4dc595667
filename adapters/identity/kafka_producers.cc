#include "adapters/identity/kafka_producers.h"

#include <algorithm>
#include <fstream>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace ledger::adapters::identity {
namespace {

domain::Error malformed(std::string message) {
  return domain::Error{domain::ErrorKind::kInvalidArgument, "kafka_producers_malformed", std::move(message), {}};
}

domain::Error unauthenticated(std::string code, std::string message) {
  return domain::Error{domain::ErrorKind::kUnauthenticated, std::move(code), std::move(message), {}};
}

const nlohmann::json* string_member(const nlohmann::json& o, const char* name) {
  auto it = o.find(name);
  return it != o.end() && it->is_string() && !it->get_ref<const std::string&>().empty() ? &*it : nullptr;
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
  for (const auto& p : document["producers"]) {
    if (!p.is_object()) return std::unexpected(malformed("each producer must be an object"));
    const auto* name = string_member(p, "kafka_principal");
    if (name == nullptr || !valid_producer_name(name->get_ref<const std::string&>())) {
      return std::unexpected(malformed("each producer needs a kafka_principal of [a-z0-9_-]"));
    }
    const auto* tenant = string_member(p, "tenant");
    if (tenant == nullptr) return std::unexpected(malformed("each producer needs a tenant"));
    if (!p.contains("actor") || !p["actor"].is_object())
      return std::unexpected(malformed("each producer needs an actor"));
    const auto& a = p["actor"];
    const auto* type = string_member(a, "type");
    const auto* id = string_member(a, "id");
    if (type == nullptr || id == nullptr) return std::unexpected(malformed("each actor needs a type and an id"));
    commands::Principal principal;
    principal.tenant = tenant->get<std::string>();
    principal.actor.type = type->get<std::string>();
    principal.actor.id = id->get<std::string>();
    if (a.contains("roles")) {
      if (!a["roles"].is_array()) return std::unexpected(malformed("actor roles must be an array"));
      for (const auto& r : a["roles"]) {
        if (!r.is_string()) return std::unexpected(malformed("actor roles must be strings"));
        principal.actor.roles.push_back(r.get<std::string>());
      }
    }
    std::sort(principal.actor.roles.begin(), principal.actor.roles.end());
    if (!out.by_name_.emplace(name->get<std::string>(), std::move(principal)).second) {
      return std::unexpected(malformed("producer " + name->get<std::string>() + " is listed twice"));
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
  auto loaded = KafkaProducers::load(path_);
  if (!loaded) {
    spdlog::error("kafka producers: {} ({}); keeping the previous list", loaded.error().message, loaded.error().code);
    return;
  }
  producers_ = std::move(*loaded);
  loaded_at_ = mtime;
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
