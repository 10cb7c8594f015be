// Mutex, MutexLock and Notification: the locking Custos uses.
//
// They have absl::Mutex's shape (Lock, Unlock, Await with a condition that
// is re-checked whenever another thread unlocks) and its thread-safety
// annotations, but are built on std::mutex and std::condition_variable. The
// reason is ThreadSanitizer: the Abseil that Debian ships is compiled without
// it, so TSan cannot see absl::Mutex lock or unlock and reports every access
// such a lock guards as a race. std::mutex goes through pthread, whose calls
// TSan intercepts, so `--config=tsan` checks our locking for real.
//
// Thread-safe.
#ifndef CUSTOS_COMMON_MUTEX_H_
#define CUSTOS_COMMON_MUTEX_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace custos {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION();

  // Releases the lock; wakes the threads waiting in Await when the
  // condition of one of them has become true (checked here, so that an
  // unlock that changed nothing they wait for wakes no one).
  void Unlock() ABSL_UNLOCK_FUNCTION();

  // With the lock held, waits until `ready()` is true, releasing the lock
  // while waiting. `ready` runs with the lock held, also on other threads
  // as they unlock; what it reads must change only under the lock, or the
  // waiter is not woken.
  void Await(const std::function<bool()>& ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);

  // As Await, but gives up after `timeout`. Returns whether `ready()` was
  // true; the lock is held again either way.
  bool AwaitWithTimeout(const std::function<bool()>& ready,
                        absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  // The conditions of the threads in Await; read and written under mu_.
  std::vector<const std::function<bool()>*> waiting_;
};

// Holds a Mutex for its own lifetime.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A one-shot event: one thread calls Notify once; any number wait for it.
// The waiter may destroy it as soon as it returns, even while Notify is
// still running.
//
// Built on a futex rather than a mutex and condition variable: the log's
// writer thread notifies every appender of a commit one after the other,
// and a notification that only wakes its waiter (a mutex would make the
// woken thread wait for it again) costs one system call, or none when no
// one is waiting yet. Linux only, as is Custos.
class Notification {
 public:
  Notification() = default;
  Notification(const Notification&) = delete;
  Notification& operator=(const Notification&) = delete;

  void Notify();
  bool HasBeenNotified() const;
  void WaitForNotification() const;
  // Returns whether Notify was called before `timeout` ran out.
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const;

 private:
  static constexpr int kIdle = 0;
  static constexpr int kNotified = 1;
  static constexpr int kWaiting = 2;  // not notified, and someone sleeps
  mutable std::atomic<int> state_{kIdle};
};

}  // namespace custos

#endif  // CUSTOS_COMMON_MUTEX_H_
