#include "events/codec/rfc3339.h"

#include <chrono>
#include <cstdio>

namespace ledger::codec {
namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::string format_instant(events::Instant t) {
  using namespace std::chrono;
  std::int64_t secs = t.micros / kMicrosPerSecond;
  std::int64_t frac = t.micros % kMicrosPerSecond;
  if (frac < 0) {
    frac += kMicrosPerSecond;
    --secs;
  }
  const sys_days day{floor<days>(sys_seconds{seconds{secs}})};
  const year_month_day ymd{day};
  const std::int64_t sod = secs - duration_cast<seconds>(day.time_since_epoch()).count();
  const int year = int(ymd.year());
  if (year < 0 || year > 9999) {  // outside four digits: printf's widths and signs
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ", year, unsigned(ymd.month()),
                  unsigned(ymd.day()), static_cast<long long>(sod / 3600), static_cast<long long>(sod / 60 % 60),
                  static_cast<long long>(sod % 60), static_cast<long long>(frac));
    return buf;
  }
  // The common case written digit by digit (an answer carries one or two).
  std::string out = "0000-00-00T00:00:00.000000Z";
  auto put = [&](std::size_t end, std::int64_t v) {  // v's digits right-aligned, ending before `end`
    for (std::size_t i = end; v > 0; v /= 10) out[--i] = static_cast<char>('0' + v % 10);
  };
  put(4, year);
  put(7, unsigned(ymd.month()));
  put(10, unsigned(ymd.day()));
  put(13, sod / 3600);
  put(16, sod / 60 % 60);
  put(19, sod % 60);
  put(26, frac);
  return out;
}

std::optional<events::Instant> parse_instant(std::string_view s) {
  using namespace std::chrono;
  int y, mo, d, h, mi, se;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se)) {
    return std::nullopt;
  }
  if (h > 23 || mi > 59 || se > 60) return std::nullopt;
  const year_month_day ymd{year{y}, month{unsigned(mo)}, day{unsigned(d)}};
  if (!ymd.ok()) return std::nullopt;

  std::size_t pos = 19;
  std::int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) frac = frac * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0 || n > 9) return std::nullopt;
    for (std::size_t i = n; i < 6; ++i) frac *= 10;
  }
  std::int64_t offset_secs = 0;
  if (pos >= s.size()) return std::nullopt;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_secs = (std::int64_t{oh} * 3600 + std::int64_t{om} * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;

  const std::int64_t days_since_epoch = sys_days{ymd}.time_since_epoch().count();
  const std::int64_t secs =
      days_since_epoch * 86400 + std::int64_t{h} * 3600 + std::int64_t{mi} * 60 + std::min(se, 59) - offset_secs;
  return events::Instant{secs * kMicrosPerSecond + frac};
}

}  // namespace ledger::codec
