#include "adapters/http/routes/decision_input.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "commands/decode.h"
#include "domain/text.h"
#include "events/codec/bytes8.h"

namespace ledger::routes {

using Json = nlohmann::json;
using namespace std::string_view_literals;

domain::Error invalid_input(const std::string& field, std::string message) {
  domain::Error e{domain::ErrorKind::kInvalidArgument, "invalid_decision_input", std::move(message), {}};
  e.with("field", field);
  return e;
}

namespace {

// Reads one JSON object strictly: known fields only, exact types.
class InputReader {
 public:
  InputReader(const Json& j, std::string path) : j_(j), path_(std::move(path)) {}

  std::optional<domain::Error> error;

  // Sets `error` unless the JSON is an object.
  void object() {
    if (!j_.is_object()) fail(path_.empty() ? "body" : path_, "must be a JSON object");
  }
  void str(const char* name, std::string& out) {
    if (const Json* v = get(name)) {
      if (!v->is_string()) return fail(at(name), "must be a string");
      out = v->get<std::string>();
    }
  }
  void strings(const char* name, std::vector<std::string>& out) {
    if (const Json* v = get(name)) {
      if (!v->is_array()) return fail(at(name), "must be an array of strings");
      for (const auto& x : *v) {
        if (!x.is_string()) return fail(at(name), "must be an array of strings");
        out.push_back(x.get<std::string>());
      }
    }
  }
  // Quantities: non-negative JSON integers only (no floats, no strings).
  void quantity(const char* name, std::int64_t& out) {
    if (const Json* v = get(name)) {
      if (!v->is_number_integer() || (v->is_number_unsigned() && v->get<std::uint64_t>() > std::uint64_t(INT64_MAX)) ||
          (!v->is_number_unsigned() && v->get<std::int64_t>() < 0)) {
        return fail(at(name), "must be a non-negative integer");
      }
      out = v->get<std::int64_t>();
    }
  }
  // A sub-object; nullptr when absent (or on error).
  const Json* child(const char* name) {
    const Json* v = get(name);
    if (v && !v->is_object()) {
      fail(at(name), "must be a JSON object");
      return nullptr;
    }
    return v;
  }
  void versions(const char* name, std::map<std::string, std::string>& out) {
    const Json* v = child(name);
    if (!v) return;
    for (const auto& [k, x] : v->items()) {
      if (x.is_string()) {
        out[k] = x.get<std::string>();
      } else if (x.is_number_unsigned() && x.get<std::uint64_t>() <= std::numeric_limits<std::int64_t>::max()) {
        out[k] = std::to_string(x.get<std::uint64_t>());
      } else if (x.is_number_integer() && x.get<std::int64_t>() == 0) {
        out[k] = "0";  // -0, which the parser reads as a signed zero
      } else {
        return fail(at(name) + "." + k, "must be a string or an integer from 0 to 9223372036854775807");
      }
    }
  }
  // After reading: any field not asked for is refused.
  void no_others() {
    if (error || !j_.is_object()) return;
    for (const auto& [k, x] : j_.items()) {
      if (std::find(seen_.begin(), seen_.end(), k) == seen_.end()) {
        return fail(at(k.c_str()), "is not a field of policy_decision_input");
      }
    }
  }
  std::string at(const std::string& name) const { return path_.empty() ? name : path_ + "." + name; }

 private:
  const Json* get(const char* name) {
    seen_.emplace_back(name);
    if (error || !j_.is_object()) return nullptr;
    auto it = j_.find(name);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void fail(const std::string& field, const std::string& what) {
    if (!error) error = invalid_input(field, field + " " + what);
  }

  const Json& j_;
  std::string path_;
  std::vector<std::string_view> seen_;  // the names asked for (literals; a few per object)
};

// What the API asks of an application beyond its fields' types.
std::optional<domain::Error> check_application(const ApplicationCheck& a) {
  if (a.app_id.empty() || domain::code_points(a.app_id) > 128 || a.app_id.find('/') != std::string::npos) {
    return invalid_input("application.app_id",
                         "application.app_id must be an application id (1-128 characters, no '/')");
  }
  if (domain::code_points(a.model) > 256) {
    return invalid_input("application.model", "application.model must be at most 256 characters");
  }
  return std::nullopt;
}

}  // namespace

domain::Result<domain::DecisionInput> parse_decision_input(const Json& body, const std::string& fallback_correlation_id,
                                                           std::optional<ApplicationCheck>& application) {
  domain::DecisionInput in;
  application.reset();
  InputReader top(body, "");
  top.object();
  if (top.error) return std::unexpected(*top.error);
  std::optional<domain::Error> error;
  auto sub = [&](const char* name, const auto& read) {
    if (error) return;
    const Json* j = top.child(name);
    if (top.error) {
      error = top.error;
      return;
    }
    if (!j) return;
    InputReader r(*j, name);
    read(r);
    r.no_others();
    if (r.error) error = r.error;
  };
  sub("actor", [&](InputReader& r) {
    r.str("actor_type", in.actor.actor_type);
    r.str("actor_id", in.actor.actor_id);
    r.strings("roles", in.actor.roles);
    r.strings("scopes", in.actor.scopes);
  });
  sub("hierarchy", [&](InputReader& r) {
    r.str("organization_id", in.hierarchy.organization_id);
    r.str("department_id", in.hierarchy.department_id);
    r.str("project_id", in.hierarchy.project_id);
  });
  sub("product", [&](InputReader& r) {
    r.str("product_id", in.product.product_id);
    r.str("resource_type", in.product.resource_type);
    r.str("resource_id", in.product.resource_id);
    r.str("action", in.product.action);
  });
  sub("request", [&](InputReader& r) {
    r.str("dimension", in.request.dimension);
    r.quantity("requested_delta", in.request.requested_delta);
    r.str("unit", in.request.unit);
    r.str("region", in.request.region);
    r.str("sku_or_model", in.request.sku_or_model);
  });
  sub("current_usage", [&](InputReader& r) {
    r.str("scope_window", in.current_usage.scope_window);
    r.quantity("quantity", in.current_usage.quantity);
    r.str("unit", in.current_usage.unit);
  });
  sub("application", [&](InputReader& r) {
    ApplicationCheck a;
    r.str("app_id", a.app_id);
    r.str("model", a.model);
    r.quantity("size_bytes", a.size_bytes);
    r.quantity("estimated_tokens", a.estimated_tokens);
    if (!r.error) error = check_application(a);
    application = std::move(a);
  });
  if (error) return std::unexpected(*error);
  top.versions("registry_versions", in.registry_versions);
  top.str("correlation_id", in.correlation_id);
  top.no_others();
  if (top.error) return std::unexpected(*top.error);
  if (in.correlation_id.empty()) in.correlation_id = fallback_correlation_id;
  if (auto ok = domain::validate_decision_input(in); !ok) return std::unexpected(ok.error());
  return in;
}

// ------------------------------------------------------ the direct reader

namespace {

namespace dom = simdjson::dom;

// Bodies the direct reader takes: printable ASCII and JSON whitespace, no
// backslash (so no escape and no \u0000). The tree parser reads such a body
// exactly as simdjson does, and dumps its strings back unchanged.
bool plain_bytes(std::string_view body) {
  static constexpr std::array<bool, 256> kPlain = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 0x80; ++c) t[static_cast<std::size_t>(c)] = c != '\\';
    t['\t'] = t['\n'] = t['\r'] = true;
    return t;
  }();
  using namespace codec::bytes8;
  return all_words(body, ' ', [](std::uint64_t w) {
    // Most words hold no control byte at all; one that does (whitespace,
    // say) is looked at byte by byte.
    if ((any_below(w, 0x20) | any_high(w) | any_equal(w, '\\')) == 0) return true;
    for (int k = 0; k < 8; ++k) {
      if (!kPlain[(w >> (8 * k)) & 0xffu]) return false;
    }
    return true;
  });
}

bool read_string(dom::element v, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) return false;
  out.assign(s);
  return true;
}

// A JSON integer 0..INT64_MAX (simdjson types those INT64; anything else is
// the tree reader's to judge).
bool read_quantity(dom::element v, std::int64_t& out) {
  std::int64_t q = 0;
  if (v.type() != dom::element_type::INT64 || v.get_int64().get(q) != simdjson::SUCCESS || q < 0) return false;
  out = q;
  return true;
}

bool read_strings(dom::element v, std::vector<std::string>& out) {
  dom::array a;
  if (v.get_array().get(a) != simdjson::SUCCESS) return false;
  for (dom::element x : a) {
    std::string_view s;
    if (x.get_string().get(s) != simdjson::SUCCESS) return false;
    out.emplace_back(s);
  }
  return true;
}

// take(index in `names`, value) for each field of the object `v`; false
// unless every field is one of `names`, none twice and none null.
template <class Take>
bool read_fields(dom::element v, std::initializer_list<std::string_view> names, const Take& take) {
  dom::object o;
  if (v.get_object().get(o) != simdjson::SUCCESS) return false;
  std::uint32_t seen = 0;
  for (dom::key_value_pair field : o) {
    const auto* it = std::find(names.begin(), names.end(), field.key);
    if (it == names.end()) return false;
    const auto index = static_cast<std::size_t>(it - names.begin());
    const std::uint32_t bit = std::uint32_t{1} << index;
    if ((seen & bit) != 0 || field.value.is_null()) return false;
    seen |= bit;
    if (!take(index, field.value)) return false;
  }
  return true;
}

// registry_versions: string values only (the tree reader also takes
// non-negative integers, "-0" as "0").
bool read_versions(dom::element v, std::map<std::string, std::string>& out) {
  dom::object o;
  if (v.get_object().get(o) != simdjson::SUCCESS) return false;
  for (dom::key_value_pair field : o) {
    std::string_view s;
    if (field.value.get_string().get(s) != simdjson::SUCCESS) return false;
    if (!out.emplace(field.key, s).second) return false;  // twice: the tree parser's duplicate_key
  }
  return true;
}

// Appends to a string through a cursor into room made ahead, in steps:
// appended a few bytes at a time, std::string checks its room and calls
// out of line for every piece. The string has its final size once the
// cursor is gone.
class Cursor {
 public:
  explicit Cursor(std::string& out) : out_(out), at_(out.size()) {}
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() { out_.resize(at_); }

  // `open`, `text` and `close` in a row, their room checked once; `open`
  // and `close` are a few bytes of punctuation.
  [[gnu::always_inline]] void put(std::string_view open, std::string_view text = {}, std::string_view close = {}) {
    const std::size_t n = open.size() + text.size() + close.size();
    if (out_.size() - at_ < n) grow(n);
    char* p = out_.data() + at_;
    for (const char c : open) *p++ = c;
    if (!text.empty()) std::memcpy(p, text.data(), text.size());
    p += text.size();
    for (const char c : close) *p++ = c;
    at_ += n;
  }

 private:
  [[gnu::noinline]] void grow(std::size_t n) { out_.resize(std::max(2 * out_.size(), at_ + n + 512)); }

  std::string& out_;
  std::size_t at_;
};

// What dumping the body's tree gives (nlohmann::json keeps keys sorted),
// for the values a plain body holds: objects, arrays, strings with nothing
// to escape, integers. The members of an object are few (but for
// registry_versions) and mostly in order already: sorted by insertion, in
// place on the stack, when they fit there.
bool dump_sorted(dom::element v, Cursor& out) {
  switch (v.type()) {
    case dom::element_type::OBJECT: {
      using Field = std::pair<std::string_view, dom::element>;
      const dom::object o(v);
      std::array<Field, 16> few;
      std::vector<Field> many;
      const std::size_t n = o.size();  // no more than a plain body can hold: it is bounded
      if (n > few.size()) many.resize(n);
      const std::span<Field> fields = n > few.size() ? std::span<Field>(many) : std::span<Field>(few.data(), n);
      std::size_t i = 0;
      for (dom::key_value_pair f : o) {
        if (i == n) return false;
        Field field{f.key, f.value};
        std::size_t j = i++;
        // Only the few are sorted by insertion: a body may hold thousands
        // of registry versions, in any order.
        for (; n <= few.size() && j > 0 && field.first < fields[j - 1].first; --j) fields[j] = fields[j - 1];
        fields[j] = field;
      }
      if (i != n) return false;
      if (n > few.size()) {
        std::sort(fields.begin(), fields.end(), [](const Field& a, const Field& b) { return a.first < b.first; });
      }
      out.put("{");
      for (std::size_t k = 0; k < n; ++k) {
        out.put(k > 0 ? R"(,")"sv : R"(")"sv, fields[k].first, R"(":)"sv);
        if (!dump_sorted(fields[k].second, out)) return false;
      }
      out.put("}");
      return true;
    }
    case dom::element_type::ARRAY: {
      out.put("[");
      bool first = true;
      for (dom::element x : dom::array(v)) {
        if (!first) out.put(",");
        first = false;
        if (!dump_sorted(x, out)) return false;
      }
      out.put("]");
      return true;
    }
    case dom::element_type::STRING:
      out.put("\"", std::string_view(v), "\"");
      return true;
    case dom::element_type::INT64: {
      std::array<char, 24> digits;
      const auto end = std::to_chars(digits.begin(), digits.end(), std::int64_t(v)).ptr;
      out.put({}, std::string_view(digits.data(), static_cast<std::size_t>(end - digits.begin())));
      return true;
    }
    default:
      return false;
  }
}

// One input from its parsed element into `plain` (made where it is kept:
// an input holds some twenty strings, and each move moves them all), or
// false.
bool read_plain_element(dom::element doc, const std::string& fallback_correlation_id, bool with_logged,
                        PlainDecisionInput& plain) {
  domain::DecisionInput& in = plain.input;
  const bool read = read_fields(
      doc,
      {"actor", "hierarchy", "product", "request", "current_usage", "application", "registry_versions",
       "correlation_id"},
      [&](std::size_t field, dom::element v) {
        switch (field) {
          case 0:
            return read_fields(v, {"actor_type", "actor_id", "roles", "scopes"}, [&](std::size_t f, dom::element x) {
              if (f == 0) return read_string(x, in.actor.actor_type);
              if (f == 1) return read_string(x, in.actor.actor_id);
              return read_strings(x, f == 2 ? in.actor.roles : in.actor.scopes);
            });
          case 1:
            return read_fields(v, {"organization_id", "department_id", "project_id"},
                               [&](std::size_t f, dom::element x) {
                                 return read_string(x, f == 0   ? in.hierarchy.organization_id
                                                       : f == 1 ? in.hierarchy.department_id
                                                                : in.hierarchy.project_id);
                               });
          case 2:
            return read_fields(v, {"product_id", "resource_type", "resource_id", "action"},
                               [&](std::size_t f, dom::element x) {
                                 return read_string(x, f == 0   ? in.product.product_id
                                                       : f == 1 ? in.product.resource_type
                                                       : f == 2 ? in.product.resource_id
                                                                : in.product.action);
                               });
          case 3:
            return read_fields(v, {"dimension", "requested_delta", "unit", "region", "sku_or_model"},
                               [&](std::size_t f, dom::element x) {
                                 if (f == 1) return read_quantity(x, in.request.requested_delta);
                                 return read_string(x, f == 0   ? in.request.dimension
                                                       : f == 2 ? in.request.unit
                                                       : f == 3 ? in.request.region
                                                                : in.request.sku_or_model);
                               });
          case 4:
            return read_fields(v, {"scope_window", "quantity", "unit"}, [&](std::size_t f, dom::element x) {
              if (f == 1) return read_quantity(x, in.current_usage.quantity);
              return read_string(x, f == 0 ? in.current_usage.scope_window : in.current_usage.unit);
            });
          case 5: {
            ApplicationCheck a;
            const bool ok = read_fields(v, {"app_id", "model", "size_bytes", "estimated_tokens"},
                                        [&](std::size_t f, dom::element x) {
                                          if (f == 0) return read_string(x, a.app_id);
                                          if (f == 1) return read_string(x, a.model);
                                          return read_quantity(x, f == 2 ? a.size_bytes : a.estimated_tokens);
                                        });
            if (!ok || check_application(a)) return false;
            plain.application = std::move(a);
            return true;
          }
          case 6:
            return read_versions(v, in.registry_versions);
          default:
            return read_string(v, in.correlation_id);
        }
      });
  if (!read) return false;
  if (in.correlation_id.empty()) in.correlation_id = fallback_correlation_id;
  if (!domain::validate_decision_input(in)) return false;
  if (!with_logged) return true;
  Cursor logged(plain.logged);
  return dump_sorted(doc, logged);
}

// The body parsed by this thread's parser (its buffers reused), or nullopt
// unless the bytes are plain and well-formed JSON. The element lives until
// the thread's next parse.
std::optional<dom::element> parse_plain(std::string_view body) {
  if (body.size() > commands::kMaxBodyBytes || !plain_bytes(body)) return std::nullopt;
  static thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(body.data(), body.size(), /*realloc_if_needed=*/true).get(doc) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return doc;
}

}  // namespace

std::optional<PlainDecisionInput> read_plain_decision_input(std::string_view body,
                                                            const std::string& fallback_correlation_id,
                                                            bool with_logged) {
  // One return of one object: made in place, never moved.
  std::optional<PlainDecisionInput> out;
  const auto doc = parse_plain(body);
  if (doc && !read_plain_element(*doc, fallback_correlation_id, with_logged, out.emplace())) out.reset();
  return out;
}

std::optional<std::vector<PlainDecisionInput>> read_plain_decision_batch(std::string_view body,
                                                                         const std::string& fallback_correlation_id,
                                                                         bool with_logged, std::size_t max_items) {
  const auto doc = parse_plain(body);
  if (!doc) return std::nullopt;
  // {"decisions": [...]} and nothing else: one member, named so, an array.
  dom::object top;
  if (doc->get_object().get(top) != simdjson::SUCCESS || top.size() != 1) return std::nullopt;
  dom::array items;
  if (top.at_key("decisions").get_array().get(items) != simdjson::SUCCESS) return std::nullopt;
  std::vector<PlainDecisionInput> out;
  out.reserve(std::min(items.size(), max_items));
  for (dom::element item : items) {
    if (out.size() == max_items) return std::nullopt;  // too many: the tree path says so
    if (!read_plain_element(item, fallback_correlation_id, with_logged, out.emplace_back())) return std::nullopt;
  }
  return out;
}

}  // namespace ledger::routes
