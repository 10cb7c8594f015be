#include "gateway/metrics.h"

#include <exception>

#include "absl/strings/str_cat.h"

namespace custos::gateway {
namespace {

prometheus::Histogram::BucketBoundaries Seconds() {
  return {0.000001, 0.000005, 0.00001, 0.00005, 0.0001, 0.0005, 0.001,
          0.0025,   0.005,    0.01,    0.025,   0.05,   0.1,    0.5};
}

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayMetrics>> GatewayMetrics::Serve(
    const std::string& listen) {
  std::unique_ptr<GatewayMetrics> metrics(new GatewayMetrics());
  // prometheus-cpp reports a bind failure by throwing; it stops here.
  try {
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", listen, ": ", e.what()));
  }
  const auto ports = metrics->exposer_->GetListeningPorts();
  metrics->port_ = ports.empty() ? 0 : ports.front();
  metrics->registry_ = std::make_shared<prometheus::Registry>();
  auto& registry = *metrics->registry_;
  metrics->requests_ =
      &prometheus::BuildCounter()
           .Name("custos_requests_total")
           .Help("RPCs answered, by method, outcome and category")
           .Register(registry);
  metrics->decision_ = &prometheus::BuildHistogram()
                            .Name("custos_decision_seconds")
                            .Help("Time to decide an access request")
                            .Register(registry)
                            .Add({}, Seconds());
  metrics->append_ =
      &prometheus::BuildHistogram()
           .Name("custos_log_append_seconds")
           .Help("Time from queueing an entry to its durable commit")
           .Register(registry)
           .Add({}, Seconds());
  metrics->commit_ =
      &prometheus::BuildHistogram()
           .Name("custos_log_group_commit_entries")
           .Help("Entries written per log transaction")
           .Register(registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{
                        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
  metrics->log_size_ = &prometheus::BuildGauge()
                            .Name("custos_log_entries")
                            .Help("Entries in the audit log")
                            .Register(registry)
                            .Add({});
  metrics->exposer_->RegisterCollectable(metrics->registry_);
  return metrics;
}

void GatewayMetrics::CountRequest(absl::string_view method,
                                  absl::string_view outcome,
                                  absl::string_view category) {
  requests_
      ->Add({{"method", std::string(method)},
             {"outcome", std::string(outcome)},
             {"category", std::string(category)}})
      .Increment();
}

void GatewayMetrics::ObserveDecision(absl::Duration d) {
  decision_->Observe(absl::ToDoubleSeconds(d));
}

void GatewayMetrics::ObserveAppend(absl::Duration d) {
  append_->Observe(absl::ToDoubleSeconds(d));
}

void GatewayMetrics::ObserveCommit(size_t entries, uint64_t log_size) {
  commit_->Observe(static_cast<double>(entries));
  SetLogSize(log_size);
}

void GatewayMetrics::SetLogSize(uint64_t log_size) {
  log_size_->Set(static_cast<double>(log_size));
}

}  // namespace custos::gateway
