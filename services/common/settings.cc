#include "services/common/settings.h"
#include "adapters/http/log_context.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <spdlog/spdlog.h>
#include <cerrno>  // program_invocation_short_name (GNU)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string_view>

#include <unistd.h>

#include <CLI/CLI.hpp>

namespace ledger::services {

namespace {

struct ProgramRole {
  std::string_view program;
  std::string_view role;
  std::string_view url_env;  // "" : LEDGER_PG_URL only
};

constexpr ProgramRole kProgramRoles[] = {
    {"ledger-command", "ledger_command", "LEDGER_COMMAND_PG_URL"},
    {"ledger-relay", "ledger_relay", "LEDGER_RELAY_PG_URL"},
    {"ledger-projector", "ledger_projector", "LEDGER_PROJECTOR_PG_URL"},
    {"ledger-query", "ledger_query", "LEDGER_QUERY_PG_URL"},
    {"ledger-audit", "ledger_auditor", ""},
    {"ledger-admin", "ledger_auditor", ""},
};

thread_local std::string acting_as;  // act_as_program(); "" : the process's own name

const ProgramRole* this_program() {
  const std::string_view name = !acting_as.empty()                         ? std::string_view(acting_as)
                                : program_invocation_short_name != nullptr ? program_invocation_short_name
                                                                           : "";
  for (const auto& p : kProgramRoles) {
    if (p.program == name) return &p;
  }
  return nullptr;
}

}  // namespace

void act_as_program(std::string_view program) { acting_as = std::string(program); }

std::string default_pg_role() {
  const auto* p = this_program();
  return p != nullptr ? std::string(p->role) : "ledger_app";
}

std::string default_kafka_username() {
  const auto* p = this_program();
  return p != nullptr ? std::string(p->program) : std::string();
}

std::string default_pg_url() { return "postgresql://" + default_pg_role() + "@127.0.0.1:54329/ledger"; }

std::string service_pg_url_env() {
  const auto* p = this_program();
  return p != nullptr ? std::string(p->url_env) : std::string();
}

void add_kafka_flags(CLI::App& app, Settings& s) {
  app.add_option("--kafka-brokers", s.kafka_brokers, "Kafka bootstrap servers")
      ->envname("LEDGER_KAFKA_BROKERS")
      ->capture_default_str();
  app.add_option("--kafka-security-protocol", s.kafka_security_protocol, "plaintext, ssl, sasl_plaintext or sasl_ssl")
      ->envname("LEDGER_KAFKA_SECURITY_PROTOCOL")
      ->capture_default_str();
  app.add_option("--kafka-sasl-mechanism", s.kafka_sasl_mechanism, "SASL mechanism")
      ->envname("LEDGER_KAFKA_SASL_MECHANISM")
      ->capture_default_str();
  app.add_option("--kafka-username", s.kafka_username, "this program's Kafka principal")
      ->envname("LEDGER_KAFKA_USERNAME")
      ->capture_default_str();
  app.add_option("--kafka-password-file", s.kafka_password_file, "file holding the Kafka password")
      ->envname("LEDGER_KAFKA_PASSWORD_FILE");
  // No flag for the password itself: it would show in the process list.
  // NOLINTNEXTLINE(concurrency-mt-unsafe): flags are read at startup, before any thread
  if (const char* pw = std::getenv("LEDGER_KAFKA_PASSWORD"); pw != nullptr) s.kafka_password = pw;
  app.add_option("--kafka-ca", s.kafka_ca, "PEM file of the CA that signed the broker's certificate")
      ->envname("LEDGER_KAFKA_CA");
}

void add_common_flags(CLI::App& app, Settings& s) {
  // The service's own variable wins over the shared one when it is set.
  const std::string own_env = service_pg_url_env();
  // NOLINTNEXTLINE(concurrency-mt-unsafe): flags are read at startup, before any thread
  const char* own = own_env.empty() ? nullptr : std::getenv(own_env.c_str());
  const std::string pg_env = own != nullptr && *own != '\0' ? own_env : "LEDGER_PG_URL";
  app.add_option("--pg-url", s.pg_url,
                 "PostgreSQL URL of this service's own role" +
                     (own_env.empty() ? std::string() : " (env " + own_env + ", else LEDGER_PG_URL)"))
      ->envname(pg_env)
      ->capture_default_str();
  app.add_option("--pg-admin-url", s.pg_admin_url, "PostgreSQL URL of a superuser, for migrations")
      ->envname("LEDGER_PG_ADMIN_URL")
      ->capture_default_str();
  add_kafka_flags(app, s);
  app.add_option("--events-topic", s.events_topic, "topic of committed events")
      ->envname("LEDGER_EVENTS_TOPIC")
      ->capture_default_str();
  app.add_option("--commands-topic", s.commands_topic, "base of the command producers' topics (<base>.<producer>)")
      ->envname("LEDGER_COMMANDS_TOPIC")
      ->capture_default_str();
  app.add_option("--kafka-producers-file", s.kafka_producers_file,
                 "JSON file mapping each command producer's Kafka principal to its ledger principal")
      ->envname("LEDGER_KAFKA_PRODUCERS_FILE")
      ->capture_default_str();
  app.add_option("--results-topic", s.results_topic, "topic of command outcomes")
      ->envname("LEDGER_RESULTS_TOPIC")
      ->capture_default_str();
  app.add_option("--dead-letter-topic", s.dead_letter_topic, "raw copies of command records that cannot be handled")
      ->envname("LEDGER_COMMANDS_DLQ_TOPIC")
      ->capture_default_str();
  app.add_option("--decisions-topic", s.decisions_topic, "topic of the decision log")
      ->envname("LEDGER_DECISIONS_TOPIC")
      ->capture_default_str();
  app.add_option("--decision-log-retention-ms", s.decision_log_retention_ms,
                 "retention of the decision log's topic when it is created (-1: forever)")
      ->envname("LEDGER_DECISION_LOG_RETENTION_MS")
      ->capture_default_str();
  app.add_option("--read-model-schema", s.read_model_schema, "PostgreSQL schema of the live read models")
      ->envname("LEDGER_READ_MODEL_SCHEMA")
      ->capture_default_str();
  app.add_option("--tokens-file", s.tokens_file, "bearer-token file (JSON)")
      ->envname("LEDGER_TOKENS_FILE")
      ->capture_default_str();
  app.add_option("--profile", s.profile, "dev | test | anything else: production (strict token file checks)")
      ->envname("LEDGER_PROFILE")
      ->capture_default_str();
  app.add_option("--log-level", s.log_level, "trace, debug, info, warn, error")
      ->envname("LEDGER_LOG_LEVEL")
      ->capture_default_str();
}

namespace {

// `text` as the inside of a JSON string.
void append_json_escaped(std::string_view text, spdlog::memory_buf_t& dest) {
  for (char c : text) {
    switch (c) {
      case '"':
        dest.append(std::string_view("\\\""));
        break;
      case '\\':
        dest.append(std::string_view("\\\\"));
        break;
      case '\n':
        dest.append(std::string_view("\\n"));
        break;
      case '\r':
        dest.append(std::string_view("\\r"));
        break;
      case '\t':
        dest.append(std::string_view("\\t"));
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          dest.append(std::string_view(buf));
        } else {
          dest.push_back(c);
        }
    }
  }
}

// The message as the inside of a JSON string, so every log line stays valid
// JSON whatever the message holds.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    append_json_escaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonEscapedMessage>(); }
};

// `,"correlation_id":"..."` while the thread handles a request that named
// one (adapters/http/log_context.h), nothing otherwise.
class CorrelationField final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string_view id = adapters::http::log_correlation_id();
    if (id.empty()) return;
    dest.append(std::string_view(R"(,"correlation_id":")"));
    append_json_escaped(id, dest);
    dest.push_back('"');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<CorrelationField>(); }
};

// The access log's sink on stdout: its lines are gathered here and written
// together, at least once a second (setup_logging's flush_every), when
// 16 KiB have gathered and at exit, not by a write(2) for every answer
// (what nginx's `access_log ... buffer= flush=` does). Whole lines in one
// write(2), so a reader of the log never meets half a line. A crash loses
// at most the last second of access lines; every other line is still
// written as it is logged.
class BufferedStdoutSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  BufferedStdoutSink() = default;
  BufferedStdoutSink(const BufferedStdoutSink&) = delete;
  BufferedStdoutSink& operator=(const BufferedStdoutSink&) = delete;
  ~BufferedStdoutSink() override { write_out(); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    formatter_->format(msg, pending_);
    if (pending_.size() >= kWriteAt) write_out();
  }
  void flush_() override { write_out(); }

 private:
  static constexpr std::size_t kWriteAt = std::size_t{16} * 1024;

  void write_out() {
    std::size_t done = 0;
    while (done < pending_.size()) {
      const ssize_t n = ::write(STDOUT_FILENO, pending_.data() + done, pending_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stdout gone or full: the lines are dropped, as a failed fflush drops them
      done += static_cast<std::size_t>(n);
    }
    pending_.clear();
  }

  spdlog::memory_buf_t pending_;
};

// Set by setup_logging, read by every access_log call.
std::mutex access_mu;
std::shared_ptr<spdlog::logger> access_logger;

}  // namespace

void setup_logging(const std::string& service, const std::string& level, bool to_stderr) {
  if (to_stderr) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
  }
  spdlog::set_level(spdlog::level::from_str(level));
  // One JSON object per line; messages never carry request bodies or tokens.
  // The pid is written into the pattern once: spdlog's %P asks getpid(2) for
  // every line, a system call for each answer's access line.
  const std::string pid = std::to_string(::getpid());
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonEscapedMessage>('*');
  formatter->add_flag<CorrelationField>('Q').set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","service":")" +
                                                         service + R"(","pid":)" + pid + R"(,"msg":"%*"%Q})");
  spdlog::set_formatter(std::move(formatter));
  // The access log: the same stream, its fields spliced in as they come
  // (already JSON members; HttpObservability::on_answer). A sink of its
  // own: a logger's formatter is its sinks', so sharing the default
  // logger's sinks would give every other line the access pattern.
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (to_stderr) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    sink = std::make_shared<BufferedStdoutSink>();
  }
  auto access = std::make_shared<spdlog::logger>("access", std::move(sink));
  access->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","service":")" +
                                                      service + R"(","pid":)" + pid + R"(,"msg":"access",%v})",
                                                  spdlog::pattern_time_type::utc));
  access->set_level(spdlog::level::info);
  spdlog::drop("access");
  spdlog::register_logger(access);
  spdlog::flush_every(std::chrono::seconds(1));
  std::lock_guard lock(access_mu);
  access_logger = std::move(access);
}

std::string version() { return std::string("policy-ledger ") + LEDGER_VERSION; }

void add_version_flag(CLI::App& app) { app.set_version_flag("--version", version()); }

void access_log(std::string_view members) {
  std::shared_ptr<spdlog::logger> logger;
  {
    std::lock_guard lock(access_mu);
    logger = access_logger;
  }
  if (logger) logger->info("{}", members);
}

}  // namespace ledger::services
