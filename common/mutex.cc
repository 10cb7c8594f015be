#include "common/mutex.h"

#include <chrono>

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
  // Waking with the lock still held: once it is released, a woken waiter may
  // return and destroy the object this Mutex belongs to.
  if (waiters_ > 0) changed_.notify_all();
  mu_.unlock();
}

void Mutex::Await(const std::function<bool()>& ready) {
  std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
  ++waiters_;
  changed_.wait(lock, ready);
  --waiters_;
  lock.release();
}

bool Mutex::AwaitWithTimeout(const std::function<bool()>& ready,
                             absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
  ++waiters_;
  const bool result = changed_.wait_for(lock, ChronoTimeout(timeout), ready);
  --waiters_;
  lock.release();
  return result;
}

void Notification::Notify() {
  // Under the lock: a waiter that sees notified_ may destroy this at once.
  std::lock_guard<std::mutex> lock(mu_);
  notified_ = true;
  notified_cv_.notify_all();
}

bool Notification::HasBeenNotified() const {
  std::lock_guard<std::mutex> lock(mu_);
  return notified_;
}

void Notification::WaitForNotification() const {
  std::unique_lock<std::mutex> lock(mu_);
  notified_cv_.wait(lock, [this] { return notified_; });
}

bool Notification::WaitForNotificationWithTimeout(
    absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return notified_cv_.wait_for(lock, ChronoTimeout(timeout),
                               [this] { return notified_; });
}

}  // namespace custos
