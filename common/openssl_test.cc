#include "common/openssl.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace custos {
namespace {

std::string Draw(size_t size) {
  std::string bytes(size, '\0');
  EXPECT_TRUE(RandomBytes(bytes.data(), bytes.size()).ok());
  return bytes;
}

// Draws of 10 bytes do not divide the pool's 4 KiB, so these cross several
// refills: no draw repeats another, and none comes from a wiped part of the
// pool (all zero).
TEST(RandomBytesTest, DrawsNeverRepeatAcrossRefills) {
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) {
    const std::string bytes = Draw(10);
    EXPECT_NE(bytes, std::string(10, '\0')) << "draw " << i;
    EXPECT_TRUE(seen.insert(bytes).second) << "draw " << i << " repeats";
  }
}

// Bigger than the pool: straight from the generator, still random.
TEST(RandomBytesTest, DrawsLargerThanThePool) {
  const std::string a = Draw(10000);
  const std::string b = Draw(10000);
  EXPECT_NE(a, b);
  EXPECT_NE(a.substr(5000, 32), std::string(32, '\0'));
  const std::string full = Draw(4096);
  EXPECT_NE(full.substr(4064), std::string(32, '\0'));
  EXPECT_TRUE(RandomBytes(nullptr, 0).ok());
}

// Threads draw from pools of their own: no two threads hand out the same
// bytes.
TEST(RandomBytesTest, ThreadsDrawDifferentBytes) {
  constexpr int kThreads = 4;
  constexpr int kEach = 1000;
  std::vector<std::vector<std::string>> drawn(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&drawn, t] {
      for (int i = 0; i < kEach; ++i) drawn[t].push_back(Draw(16));
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> all;
  for (const auto& mine : drawn) all.insert(mine.begin(), mine.end());
  EXPECT_EQ(all.size(), size_t{kThreads * kEach});
}

}  // namespace
}  // namespace custos
