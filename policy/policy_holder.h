// The policy in force, replaceable while calls run: each call takes a
// snapshot (a shared_ptr) and decides with it to the end, so a reload never
// changes the rules under a call in flight.
//
// Thread-safe.
#ifndef CUSTOS_POLICY_POLICY_HOLDER_H_
#define CUSTOS_POLICY_POLICY_HOLDER_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "policy/policy.h"

namespace custos::policy {

class PolicyHolder {
 public:
  explicit PolicyHolder(std::shared_ptr<const Policy> policy)
      : policy_(std::move(policy)) {}

  std::shared_ptr<const Policy> current() const {
    MutexLock lock(&mu_);
    return policy_;
  }

  void Replace(std::shared_ptr<const Policy> policy) {
    MutexLock lock(&mu_);
    policy_ = std::move(policy);
  }

 private:
  mutable Mutex mu_;
  std::shared_ptr<const Policy> policy_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custos::policy

#endif  // CUSTOS_POLICY_POLICY_HOLDER_H_
