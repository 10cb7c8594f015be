// Gateway load: a closed-loop gRPC client over TLS at concurrency 1, 8 and
// 64, calling RequestAccess (policy, reference lookup, grant, durable log
// append), or with --call ReadCustomerData a read under a grant, and, as
// the baseline on the same server and channel, WhoAmI (authentication only,
// no log). Prints qps, p50 and p99 for both and their ratio. The server runs
// in this process on a loopback port.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/in_turns.h"
#include "bench/process_cpu.h"
#include "gateway/server.h"
#include "proto/custos/v1/access.grpc.pb.h"

ABSL_FLAG(std::string, dir, "/tmp/custos-gateway-bench",
          "Data directory (wiped first).");
ABSL_FLAG(double, seconds, 3, "Seconds per measurement.");
ABSL_FLAG(int, rounds, 3,
          "Measurements at each concurrency, RequestAccess and the no-op "
          "taking turns (which goes first alternates), so that a change in "
          "the machine's speed shows in the spread instead of in one ratio.");
ABSL_FLAG(std::string, call, "RequestAccess",
          "The call measured against the no-op: RequestAccess, or "
          "ReadCustomerData (one ACCOUNT record a read, under a grant each "
          "client thread asks for first and again every 4,000 reads, below "
          "the grant's limit of 5,000 records).");
ABSL_FLAG(std::vector<std::string>, concurrency,
          std::vector<std::string>({"1", "8", "64"}),
          "Calls in flight of each measurement.");

namespace custos {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Result {
  double qps;
  double p50_ms;
  double p99_ms;
  uint64_t errors;
  // Processor time of the whole process (client and server) per call.
  double cpu_us_per_call;
};

template <typename Call>
Result Measure(int concurrency, double seconds, Call call) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(concurrency);
  std::atomic<uint64_t> errors{0};
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  const double cpu_start = bench::ProcessCpuSeconds();
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      while (!stop.load(std::memory_order_relaxed)) {
        const absl::Time t0 = absl::Now();
        if (!call()) errors.fetch_add(1);
        latencies[t].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      }
    });
  }
  absl::SleepFor(absl::Seconds(seconds));
  stop = true;
  for (auto& thread : threads) thread.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const double cpu = bench::ProcessCpuSeconds() - cpu_start;
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  return {all.size() / elapsed, all[all.size() / 2], all[all.size() * 99 / 100],
          errors.load(), cpu * 1e6 / all.size()};
}

int Run() {
  const std::string call = absl::GetFlag(FLAGS_call);
  if (call != "RequestAccess" && call != "ReadCustomerData") {
    std::fprintf(stderr,
                 "--call: expected RequestAccess or ReadCustomerData, got %s\n",
                 call.c_str());
    return 2;
  }
  const bool reading = call == "ReadCustomerData";
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  gateway::GatewayOptions options;
  options.data_dir = dir;
  options.listen_address = "127.0.0.1:0";
  auto server = gateway::GatewayServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFile(dir + "/pki/ca.crt");
  tls.pem_cert_chain = ReadFile(dir + "/pki/clients/anna.support.crt");
  tls.pem_private_key = ReadFile(dir + "/pki/clients/anna.support.key");
  auto channel = grpc::CreateChannel(
      absl::StrCat("localhost:", (*server)->port()), grpc::SslCredentials(tls));
  auto stub = custos::v1::StaffAccess::NewStub(channel);
  custos::v1::RequestAccessRequest request;
  request.set_customer_id("acme");
  request.mutable_justification()->set_category("support");
  request.mutable_justification()->set_reference("SUP-1042");

  const double seconds = absl::GetFlag(FLAGS_seconds);
  for (const std::string& flag : absl::GetFlag(FLAGS_concurrency)) {
    int concurrency = 1;
    if (!absl::SimpleAtoi(flag, &concurrency) || concurrency < 1) {
      std::fprintf(stderr, "--concurrency: expected positive numbers, got %s\n",
                   flag.c_str());
      return 2;
    }
    const auto noop = [&] {
      return Measure(concurrency, seconds, [&] {
        grpc::ClientContext context;
        custos::v1::WhoAmIResponse response;
        return stub->WhoAmI(&context, {}, &response).ok();
      });
    };
    const auto access = [&] {
      return Measure(concurrency, seconds, [&] {
        grpc::ClientContext context;
        custos::v1::RequestAccessResponse response;
        return stub->RequestAccess(&context, request, &response).ok();
      });
    };
    const auto read = [&] {
      return Measure(concurrency, seconds, [&] {
        thread_local std::string grant;
        thread_local int reads = 0;
        if (grant.empty() || reads == 4000) {
          grpc::ClientContext context;
          custos::v1::RequestAccessRequest ask = request;
          ask.add_data_kinds(custos::v1::ACCOUNT);
          custos::v1::RequestAccessResponse granted;
          if (!stub->RequestAccess(&context, ask, &granted).ok()) return false;
          grant = granted.grant().grant_id();
          reads = 0;
        }
        ++reads;
        grpc::ClientContext context;
        custos::v1::ReadCustomerDataRequest one;
        one.set_grant_id(grant);
        one.set_kind(custos::v1::ACCOUNT);
        one.set_page_size(1);
        custos::v1::ReadCustomerDataResponse response;
        return stub->ReadCustomerData(&context, one, &response).ok();
      });
    };
    std::vector<double> ratios;
    int round = 0;
    for (const auto& [base, custos] : bench::InTurns(
             absl::GetFlag(FLAGS_rounds), [&](int) { return noop(); },
             [&](int) { return reading ? read() : access(); })) {
      ratios.push_back(custos.qps / base.qps);
      std::printf(
          "concurrency %2d, round %d: %s %7.0f qps p50 %6.2f ms p99 "
          "%6.2f ms %4.0f us cpu/call | WhoAmI (no-op) %7.0f qps p50 %6.2f ms "
          "p99 %6.2f ms %4.0f us cpu/call | ratio %.2f | errors %lu/%lu\n",
          concurrency, ++round, call.c_str(), custos.qps, custos.p50_ms,
          custos.p99_ms, custos.cpu_us_per_call, base.qps, base.p50_ms,
          base.p99_ms, base.cpu_us_per_call, ratios.back(), custos.errors,
          base.errors);
    }
    std::printf("concurrency %2d: %s / WhoAmI %s\n", concurrency, call.c_str(),
                bench::RatioSummary(ratios).c_str());
    std::fflush(stdout);
  }
  (*server)->Shutdown();
  return 0;
}

}  // namespace
}  // namespace custos

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return custos::Run();
}
