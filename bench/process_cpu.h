// The process's processor time, for benchmarks that report it per call.
#ifndef CUSTOS_BENCH_PROCESS_CPU_H_
#define CUSTOS_BENCH_PROCESS_CPU_H_

#include <sys/resource.h>

namespace custos::bench {

// User and system time of every thread of this process so far, in seconds.
inline double ProcessCpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace custos::bench

#endif  // CUSTOS_BENCH_PROCESS_CPU_H_
