// Per-key token buckets: each key (a staff id) may make `per_second`
// requests a second on average, in bursts of up to `burst`.
//
// Thread-safe.
#ifndef CUSTOS_GATEWAY_RATE_LIMITER_H_
#define CUSTOS_GATEWAY_RATE_LIMITER_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace custos::gateway {

class RateLimiter {
 public:
  RateLimiter(double per_second, double burst)
      : per_second_(per_second), burst_(burst) {}

  // Takes one token from `key`'s bucket at `now`; false when it is empty.
  bool Allow(absl::string_view key, absl::Time now) {
    MutexLock lock(&mu_);
    Bucket& bucket = buckets_[key];
    if (bucket.last == absl::InfinitePast()) {
      bucket.tokens = burst_;
    } else {
      bucket.tokens = std::min(
          burst_, bucket.tokens +
                      per_second_ * absl::ToDoubleSeconds(now - bucket.last));
    }
    bucket.last = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  double per_second() const { return per_second_; }

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last = absl::InfinitePast();
  };
  const double per_second_;
  const double burst_;
  Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_RATE_LIMITER_H_
