// Latency figures shared by the load generators in bench/ (ledger-load,
// decision-load).
//
//   std::vector<double> ms = ...;          // one sample per request
//   std::printf("p50 %.2f p99 %.2f\n", percentile(ms, 0.5), percentile(ms, 0.99));
//
// Nearest rank below: the sample at index floor(p * (n - 1)) of the sorted
// samples; 0 when there are none. Takes a copy (it sorts).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace ledger::bench {

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

}  // namespace ledger::bench
