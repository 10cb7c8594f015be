// The limit on random checks: a staff member may draw at most the policy's
// max_draws random checks in its window. A draw is a grant; the grants on
// record (the log and the grant store, see access_decision.cc) are joined
// here with those decided but not yet on record, and one draw is decided
// at a time, so that parallel requests cannot all pass on the same count.
//
// Thread-safe.
#ifndef CUSTOS_GATEWAY_RANDOM_CHECK_DRAWS_H_
#define CUSTOS_GATEWAY_RANDOM_CHECK_DRAWS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/mutex.h"

namespace custos::gateway {

class RandomCheckDraws {
 public:
  // Keeps a draw counted until the last copy is gone.
  using Hold = std::shared_ptr<const void>;
  using GrantIds = absl::flat_hash_set<std::string>;

  // Runs `decide` with the number of random checks `staff_id` has drawn:
  // the grants `recorded()` returns joined with those held here (a grant
  // both on record and still held counts once). `decide` returns the id of
  // the grant it draws, or an empty one. A draw is held until the returned
  // Hold and its copies are gone (the Hold is null when nothing was drawn).
  // One decision at a time: `recorded` reads the records while no other
  // draw can be decided.
  absl::StatusOr<Hold> Decide(
      absl::string_view staff_id,
      const std::function<absl::StatusOr<GrantIds>()>& recorded,
      const std::function<absl::StatusOr<std::string>(uint32_t drawn)>&
          decide) {
    MutexLock lock(&mu_);
    absl::StatusOr<GrantIds> drawn = recorded();
    if (!drawn.ok()) return drawn.status();
    if (auto held = held_.find(staff_id); held != held_.end()) {
      drawn->insert(held->second.begin(), held->second.end());
    }
    absl::StatusOr<std::string> grant_id =
        decide(static_cast<uint32_t>(drawn->size()));
    if (!grant_id.ok()) return grant_id.status();
    if (grant_id->empty()) return nullptr;
    held_[staff_id].insert(*grant_id);
    return Hold(
        static_cast<const void*>(this),
        [this, staff = std::string(staff_id),
         grant = *std::move(grant_id)](const void*) { Release(staff, grant); });
  }

 private:
  void Release(const std::string& staff_id, const std::string& grant_id) {
    MutexLock lock(&mu_);
    auto held = held_.find(staff_id);
    if (held == held_.end()) return;
    held->second.erase(grant_id);
    if (held->second.empty()) held_.erase(held);
  }

  Mutex mu_;
  // Per staff member, the grants drawn and perhaps not yet on record.
  absl::flat_hash_map<std::string, GrantIds> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_RANDOM_CHECK_DRAWS_H_
