// Runs a fuzz target without libFuzzer, so every build's tests exercise it
// for a bounded time: each file in the directories given (the seeds and the
// regressions, i.e. inputs that once crashed), then mutations of them drawn
// from a fixed seed, so a failure repeats. Real coverage-guided fuzzing is
// `scripts/fuzz.sh`.
//
// Environment: FUZZ_MUTATIONS (default 20000), FUZZ_SECONDS (default 20):
// whichever ends first.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> ReadDirectory(const std::string& dir) {
  std::vector<std::string> inputs;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return inputs;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::ifstream in(dir + "/" + name, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    inputs.push_back(s.str());
  }
  return inputs;
}

// The input being run, written out by the crash handler so that a crash
// becomes a file to add under fuzz/regressions/.
const std::string* current = nullptr;
char crash_path[4096];

void SaveInputAndDie(int signal) {
  if (current != nullptr) {
    const int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      (void)!write(fd, current->data(), current->size());
      close(fd);
    }
    const char message[] = "\ncrashing input saved to ";
    (void)!write(2, message, sizeof(message) - 1);
    (void)!write(2, crash_path, strlen(crash_path));
    (void)!write(2, "\n", 1);
  }
  ::signal(signal, SIG_DFL);
  raise(signal);
}

void Run(const std::string& input) {
  current = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
  current = nullptr;
}

// One small change of the kinds libFuzzer makes first.
std::string Mutate(const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  std::string s = seeds[rng() % seeds.size()];
  const int changes = 1 + static_cast<int>(rng() % 4);
  for (int c = 0; c < changes; ++c) {
    const size_t at = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!s.empty()) s[at] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1:  // a random byte
        if (!s.empty()) s[at] = static_cast<char>(rng());
        break;
      case 2:  // insert bytes
        s.insert(at, std::string(1 + rng() % 8, static_cast<char>(rng())));
        break;
      case 3:  // delete bytes
        if (!s.empty()) s.erase(at, 1 + rng() % 16);
        break;
      case 4:  // truncate
        s.resize(at);
        break;
      case 5: {  // splice with another seed
        const std::string& other = seeds[rng() % seeds.size()];
        if (!other.empty()) s += other.substr(rng() % other.size());
        break;
      }
      default: {  // an interesting value
        static const char* kValues[] = {"\xff\xff\xff\xff", "\x00", "-1",
                                        "18446744073709551616", "\xc3\x28",
                                        "'; DROP TABLE entries; --", "../../"};
        s.insert(at, kValues[rng() % 7]);
      }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  snprintf(crash_path, sizeof(crash_path), "%s/crash-input",
           outputs != nullptr ? outputs : ".");
  for (int signal : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP})
    ::signal(signal, SaveInputAndDie);
  std::vector<std::string> seeds;
  size_t files = 0;
  for (int i = 1; i < argc; ++i) {
    for (std::string& input : ReadDirectory(argv[i])) {
      Run(input);
      seeds.push_back(std::move(input));
      ++files;
    }
  }
  if (seeds.empty()) seeds.emplace_back();
  const long mutations =
      std::getenv("FUZZ_MUTATIONS") ? std::atol(std::getenv("FUZZ_MUTATIONS"))
                                    : 20000;
  const long seconds =
      std::getenv("FUZZ_SECONDS") ? std::atol(std::getenv("FUZZ_SECONDS")) : 20;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::mt19937_64 rng(20261122);
  long done = 0;
  for (; done < mutations && std::chrono::steady_clock::now() < deadline;
       ++done) {
    Run(Mutate(seeds, rng));
  }
  std::printf("%zu files and %ld mutations ran without a crash\n", files, done);
  return 0;
}
