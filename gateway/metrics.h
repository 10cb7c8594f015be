// The gateway's Prometheus metrics, served over HTTP for scraping:
//
//   custos_requests_total{method,outcome,category}   every RPC, by outcome
//   custos_decision_seconds                           policy decisions
//   custos_log_append_seconds                         durable appends
//   custos_log_group_commit_entries                   entries per commit
//   custos_log_entries                                the log's size
//
// Thread-safe.
#ifndef CUSTOS_GATEWAY_METRICS_H_
#define CUSTOS_GATEWAY_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace custos::gateway {

class GatewayMetrics {
 public:
  // Serves /metrics on `listen` ("127.0.0.1:9464"). UNAVAILABLE when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<GatewayMetrics>> Serve(
      const std::string& listen);

  void CountRequest(absl::string_view method, absl::string_view outcome,
                    absl::string_view category);
  void ObserveDecision(absl::Duration d);
  void ObserveAppend(absl::Duration d);
  void ObserveCommit(size_t entries, uint64_t log_size);
  // The log's size as found when it opens.
  void SetLogSize(uint64_t log_size);

  // The port actually bound.
  int port() const { return port_; }

 private:
  GatewayMetrics() = default;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Histogram* decision_ = nullptr;
  prometheus::Histogram* append_ = nullptr;
  prometheus::Histogram* commit_ = nullptr;
  prometheus::Gauge* log_size_ = nullptr;
  int port_ = 0;
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_METRICS_H_
