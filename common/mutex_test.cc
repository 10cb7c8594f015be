#include "common/mutex.h"

#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace custos {
namespace {

TEST(MutexTest, GuardsACounterAcrossThreads) {
  Mutex mu;
  int count = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        MutexLock lock(&mu);
        ++count;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  MutexLock lock(&mu);
  EXPECT_EQ(count, 80000);
}

TEST(MutexTest, AwaitWakesWhenAnotherThreadMakesTheConditionTrue) {
  Mutex mu;
  int stage = 0;
  std::thread producer([&] {
    for (int i = 1; i <= 3; ++i) {
      MutexLock lock(&mu);
      stage = i;
    }
  });
  {
    MutexLock lock(&mu);
    mu.Await([&] { return stage == 3; });
    EXPECT_EQ(stage, 3);
  }
  producer.join();
}

TEST(MutexTest, AwaitWithTimeoutGivesUpAndKeepsTheLock) {
  Mutex mu;
  bool ready = false;
  MutexLock lock(&mu);
  const absl::Time start = absl::Now();
  EXPECT_FALSE(
      mu.AwaitWithTimeout([&] { return ready; }, absl::Milliseconds(50)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  ready = true;  // still held: writing is safe
  EXPECT_TRUE(mu.AwaitWithTimeout([&] { return ready; }, absl::Seconds(5)));
  EXPECT_TRUE(mu.AwaitWithTimeout([&] { return ready; }, -absl::Seconds(1)));
  EXPECT_TRUE(
      mu.AwaitWithTimeout([&] { return ready; }, absl::InfiniteDuration()));
}

TEST(NotificationTest, WakesEveryWaiterOnce) {
  Notification done;
  EXPECT_FALSE(done.HasBeenNotified());
  EXPECT_FALSE(done.WaitForNotificationWithTimeout(absl::Milliseconds(10)));
  std::vector<std::thread> waiters;
  int woken[4] = {0, 0, 0, 0};
  for (int t = 0; t < 4; ++t) {
    waiters.emplace_back([&, t] {
      done.WaitForNotification();
      woken[t] = 1;
    });
  }
  done.Notify();
  for (std::thread& waiter : waiters) waiter.join();
  EXPECT_EQ(woken[0] + woken[1] + woken[2] + woken[3], 4);
  EXPECT_TRUE(done.HasBeenNotified());
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::ZeroDuration()));
}

// The pattern of a caller waiting for a worker: the waiter destroys the
// Notification as soon as it returns, while Notify may still be running.
TEST(NotificationTest, MayBeDestroyedAsSoonAsTheWaiterReturns) {
  for (int i = 0; i < 1000; ++i) {
    auto* done = new Notification;
    std::thread worker([done] { done->Notify(); });
    done->WaitForNotification();
    delete done;
    worker.join();
  }
}

}  // namespace
}  // namespace custos
