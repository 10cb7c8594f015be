#include "common/mutex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>

#include "absl/time/clock.h"

namespace custos {
namespace {

// absl::Duration to a std::chrono wait, with an infinite or huge timeout
// capped (wait_for overflows on the largest durations).
std::chrono::nanoseconds ChronoTimeout(absl::Duration timeout) {
  constexpr absl::Duration kLongest = absl::Hours(24 * 365);
  if (timeout < absl::ZeroDuration()) timeout = absl::ZeroDuration();
  if (timeout > kLongest) timeout = kLongest;
  return absl::ToChronoNanoseconds(timeout);
}

}  // namespace

void Mutex::Lock() { mu_.lock(); }

void Mutex::Unlock() {
  bool wake = false;
  for (const std::function<bool()>* ready : waiting_) {
    if ((*ready)()) {
      wake = true;
      break;
    }
  }
  // Waking with the lock still held: once it is released, a woken waiter may
  // return and destroy the object this Mutex belongs to.
  if (wake) changed_.notify_all();
  mu_.unlock();
}

void Mutex::Await(const std::function<bool()>& ready) {
  std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
  waiting_.push_back(&ready);
  changed_.wait(lock, ready);
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &ready));
  lock.release();
}

bool Mutex::AwaitWithTimeout(const std::function<bool()>& ready,
                             absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
  waiting_.push_back(&ready);
  const bool result = changed_.wait_for(lock, ChronoTimeout(timeout), ready);
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &ready));
  lock.release();
  return result;
}

void Notification::Notify() {
  if (state_.exchange(kNotified, std::memory_order_acq_rel) == kWaiting) {
    // A waiter that sees kNotified may return and free this object before
    // the call below: a wake on freed memory wakes nobody, or at worst wakes
    // some other futex waiter spuriously, which every futex user tolerates.
    syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr,
            0);
  }
}

bool Notification::HasBeenNotified() const {
  return state_.load(std::memory_order_acquire) == kNotified;
}

void Notification::WaitForNotification() const {
  WaitForNotificationWithTimeout(absl::InfiniteDuration());
}

bool Notification::WaitForNotificationWithTimeout(
    absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  int state = state_.load(std::memory_order_acquire);
  while (state != kNotified) {
    if (state == kIdle && !state_.compare_exchange_weak(
                              state, kWaiting, std::memory_order_acquire)) {
      continue;  // `state` now holds what is there
    }
    timespec relative;
    timespec* wait_for = nullptr;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      relative = absl::ToTimespec(left);
      wait_for = &relative;
    }
    // Returns at once unless the state is still kWaiting.
    syscall(SYS_futex, &state_, FUTEX_WAIT_PRIVATE, kWaiting, wait_for, nullptr,
            0);
    state = state_.load(std::memory_order_acquire);
  }
  return true;
}

}  // namespace custos
