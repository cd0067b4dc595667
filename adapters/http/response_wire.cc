#include "adapters/http/response_wire.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

namespace ledger::adapters::http::detail {
namespace {

namespace bhttp = boost::beast::http;

void append_number(std::string& out, std::size_t n) {
  char digits[24];
  const auto end = std::to_chars(std::begin(digits), std::end(digits), n).ptr;
  out.append(digits, end);
}

// As Beast stores a field: without the spaces and tabs around its value
// (RFC 9110 5.5), and refused past 64 KiB (its offsets are 16 bits).
void append_field(std::string& out, std::string_view name, std::string_view value) {
  constexpr std::size_t kMaxPart = 65535 - 2;
  if (name.size() > kMaxPart || value.size() > kMaxPart) throw std::length_error("header field too large");
  const auto ows = [](char c) { return c == ' ' || c == '\t'; };
  while (!value.empty() && ows(value.front())) value.remove_prefix(1);
  while (!value.empty() && ows(value.back())) value.remove_suffix(1);
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

}  // namespace

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
  return out;
}

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

bool valid_field(std::string_view name, std::string_view value) {
  return !name.empty() && !has_crlf(name) && !has_crlf(value);
}

bool framing_field(std::string_view name) {
  return boost::beast::iequals(name, "connection") || boost::beast::iequals(name, "content-length") ||
         boost::beast::iequals(name, "transfer-encoding");
}

WireResponse to_wire(HttpResponse in, unsigned version, bool head, bool& close) {
  WireResponse out;
  std::size_t size = 128 + in.content_type.size();
  for (const auto& [name, value] : in.headers) size += name.size() + value.size() + 4;
  out.head.reserve(size);
  std::string& h = out.head;
  h.append("HTTP/");
  h.push_back(static_cast<char>('0' + version / 10 % 10));
  h.push_back('.');
  h.push_back(static_cast<char>('0' + version % 10));
  h.push_back(' ');
  append_number(h, static_cast<std::size_t>(in.status));
  h.push_back(' ');
  const auto reason = bhttp::obsolete_reason(bhttp::int_to_status(static_cast<unsigned>(in.status)));
  h.append(reason.data(), reason.size());
  h.append("\r\n");
  // The fields in Beast's order: as given, except that a field whose name
  // came before goes after the last field of that name.
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  fields.reserve(in.headers.size() + 2);
  fields.emplace_back("Server", kServerName);
  if (!in.content_type.empty() && !has_crlf(in.content_type)) fields.emplace_back("Content-Type", in.content_type);
  for (const auto& [name, value] : in.headers) {
    if (!valid_field(name, value)) {
      spdlog::warn("http handler returned an invalid header field; dropped");
      continue;
    }
    if (framing_field(name)) {
      if (boost::beast::iequals(name, "connection") && boost::beast::iequals(value, "close")) close = true;
      continue;
    }
    const auto same = std::find_if(fields.rbegin(), fields.rend(),
                                   [&](const auto& f) { return boost::beast::iequals(f.first, name); });
    fields.emplace(same == fields.rend() ? fields.end() : same.base(), name, value);
  }
  for (const auto& [name, value] : fields) append_field(h, name, value);
  if (version < 11 && !close) h.append("Connection: keep-alive\r\n");
  if (version >= 11 && close) h.append("Connection: close\r\n");
  if (in.status == 204 || in.status == 304) in.body.clear();
  h.append("Content-Length: ");
  append_number(h, in.body.size());
  h.append("\r\n\r\n");
  if (!head) out.body = std::move(in.body);
  return out;
}

}  // namespace ledger::adapters::http::detail
