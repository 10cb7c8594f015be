#include "common/files.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos {
namespace {

using ::testing::ElementsAre;

// A new, empty directory for one test.
std::string NewDirectory(const std::string& name) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  EXPECT_EQ(mkdir(dir.c_str(), 0700), 0) << dir;
  return dir;
}

// The names in `dir`, sorted.
std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* entry = readdir(d)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

void Write(const std::string& path, const std::string& contents) {
  ASSERT_TRUE(WriteFileAtomically(path, contents, 0600).ok()) << path;
}

TEST(AtomicFileTest, WritesTheWholeFileWithItsModeAndLeavesNothingElse) {
  const std::string dir = NewDirectory("whole");
  Write(dir + "/key.pem", "a key");
  Write(dir + "/key.pem", "another key");
  EXPECT_EQ(*ReadFile(dir + "/key.pem"), "another key");
  struct stat st;
  ASSERT_EQ(stat((dir + "/key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THAT(Names(dir), ElementsAre("key.pem"));

  // Dropped without Commit: the file stays as it was, and no temporary
  // file is left.
  {
    auto dropped = AtomicFile::Create(dir + "/key.pem", 0600);
    ASSERT_TRUE(dropped.ok()) << dropped.status();
    (*dropped)->stream() << "half a";
  }
  EXPECT_EQ(*ReadFile(dir + "/key.pem"), "another key");
  EXPECT_THAT(Names(dir), ElementsAre("key.pem"));
}

// A crash while writing (a first start killed while writing its signing
// key) leaves the temporary file: the next write of the same file removes
// it, and leaves those of other files, and names that are not temporary
// files, alone.
TEST(AtomicFileTest, RemovesTheTemporaryFilesACrashLeftOfItsFile) {
  const std::string dir = NewDirectory("stale");
  for (const char* name :
       {"key.pem.tmp.Ab12Cd", "key.pem.tmp.zzzzzz", "other.pem.tmp.Xy34Zw",
        "key.pem.tmp.short", "key.pem.tmp.Ab12Cd.bak", "akey.pem.tmp.Qw12Er"}) {
    Write(absl::StrCat(dir, "/", name), "half a key");
  }
  Write(dir + "/key.pem", "a key");
  EXPECT_EQ(*ReadFile(dir + "/key.pem"), "a key");
  EXPECT_THAT(
      Names(dir),
      ElementsAre("akey.pem.tmp.Qw12Er", "key.pem", "key.pem.tmp.Ab12Cd.bak",
                  "key.pem.tmp.short", "other.pem.tmp.Xy34Zw"));
}

// As a crash leaves it: a process that created the temporary file and
// died before committing it.
TEST(AtomicFileTest, RemovesTheTemporaryFileOfAWriterThatDied) {
  const std::string dir = NewDirectory("died");
  const std::string path = dir + "/signing.key";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto file = AtomicFile::Create(path, 0600);
    if (!file.ok()) _exit(1);
    (*file)->stream() << "-----BEGIN PRIVATE KEY-----\nhalf" << std::flush;
    _exit(0);  // No destructor runs, as in a crash.
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::vector<std::string> left = Names(dir);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_THAT(left[0], ::testing::StartsWith("signing.key.tmp."));

  Write(path, "a whole key");
  EXPECT_THAT(Names(dir), ElementsAre("signing.key"));
  EXPECT_EQ(*ReadFile(path), "a whole key");
}

// A writer of the same file still at work keeps its temporary file: the
// later writer leaves it, and both commit.
TEST(AtomicFileTest, LeavesTheTemporaryFileOfAWriterStillAtWork) {
  const std::string dir = NewDirectory("at-work");
  const std::string path = dir + "/revocations";
  auto first = AtomicFile::Create(path, 0600);
  ASSERT_TRUE(first.ok()) << first.status();
  (*first)->stream() << "first";
  Write(path, "second");
  EXPECT_EQ(Names(dir).size(), 2u);
  EXPECT_EQ(*ReadFile(path), "second");
  ASSERT_TRUE((*first)->Commit().ok());
  EXPECT_EQ(*ReadFile(path), "first");
  EXPECT_THAT(Names(dir), ElementsAre("revocations"));
}

}  // namespace
}  // namespace custos
