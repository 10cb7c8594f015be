// Measuring Custos against its baseline in rounds that take turns, so that
// a change in the machine's speed shows in the spread of the ratios instead
// of in one ratio.
#ifndef CUSTOS_BENCH_IN_TURNS_H_
#define CUSTOS_BENCH_IN_TURNS_H_

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace custos::bench {

// Runs `baseline(round)` and `custos(round)` `rounds` times, the baseline
// first in even rounds and second in odd ones; returns each round's
// (baseline, custos) results.
template <typename Baseline, typename Custos>
auto InTurns(int rounds, Baseline baseline, Custos custos) {
  std::vector<std::pair<decltype(baseline(0)), decltype(custos(0))>> results;
  for (int round = 0; round < rounds; ++round) {
    if (round % 2 == 0) {
      auto base = baseline(round);
      results.emplace_back(std::move(base), custos(round));
    } else {
      auto ours = custos(round);
      results.emplace_back(baseline(round), std::move(ours));
    }
  }
  return results;
}

// Each round's custos / baseline, for InTurns of two rates.
inline std::vector<double> Ratios(
    const std::vector<std::pair<double, double>>& results) {
  std::vector<double> ratios;
  for (const auto& [baseline, custos] : results) {
    ratios.push_back(custos / baseline);
  }
  return ratios;
}

// "ratios 0.71 / 0.68 / 0.76, median 0.71".
inline std::string RatioSummary(std::vector<double> ratios) {
  std::string each;
  for (double r : ratios) {
    absl::StrAppend(&each, each.empty() ? "" : " / ",
                    absl::StrFormat("%.2f", r));
  }
  std::sort(ratios.begin(), ratios.end());
  const size_t n = ratios.size();
  const double median = n == 0       ? 0
                        : n % 2 == 1 ? ratios[n / 2]
                                     : (ratios[n / 2 - 1] + ratios[n / 2]) / 2;
  return absl::StrFormat("ratios %s, median %.2f", each, median);
}

}  // namespace custos::bench

#endif  // CUSTOS_BENCH_IN_TURNS_H_
