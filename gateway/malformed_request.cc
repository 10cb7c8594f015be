#include "gateway/malformed_request.h"

#include <atomic>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/audited_call.h"
#include "gateway/grpc_status.h"

namespace custos::gateway {
namespace {

using grpc::experimental::InterceptionHookPoints;

class MalformedRequestInterceptor : public grpc::experimental::Interceptor {
 public:
  MalformedRequestInterceptor(const Gateway* gateway,
                              grpc::experimental::ServerRpcInfo* info,
                              absl::string_view method)
      : gateway_(gateway), info_(info), method_(method) {
    published_.store(true, std::memory_order_release);
  }
  // gRPC destroys the interceptor on yet another thread.
  ~MalformedRequestInterceptor() override {
    published_.load(std::memory_order_acquire);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    // gRPC runs the hooks of one call on several of its threads, one at a
    // time, handing the interceptor over with synchronization of its own
    // that ThreadSanitizer cannot see (Debian's gRPC is not instrumented).
    // These acquire/release pairs make the hand-over visible.
    published_.load(std::memory_order_acquire);
    // gRPC hands interceptors a null message when the request's bytes did
    // not parse; no handler will run for it.
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      malformed_.store(true, std::memory_order_release);
    }
    if (malformed_.load(std::memory_order_acquire) &&
        methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      LogAndAnswer(methods);  // proceeds once the entry is written
      return;
    }
    methods->Proceed();
  }

 private:
  void LogAndAnswer(grpc::experimental::InterceptorBatchMethods* methods) {
    // Every Custos service is a callback service.
    auto* context =
        static_cast<grpc::CallbackServerContext*>(info_->server_context());
    const std::string action = ActionOfMethod(method_);
    AuditedCall call(gateway_, context, action);
    absl::Status answer = absl::InvalidArgumentError(absl::StrCat(
        "request: not a valid request for ", action,
        ": a string field holds invalid UTF-8, or the bytes are not the "
        "request message"));
    call.Append(std::move(answer), [methods](const absl::Status& final_answer,
                                             std::optional<uint64_t> index) {
      if (index.has_value()) {
        methods->GetSendTrailingMetadata()->emplace(kLogIndexMetadata,
                                                    absl::StrCat(*index));
      }
      methods->ModifySendStatus(ToGrpcStatus(final_answer));
      methods->Proceed();
    });
  }

  const Gateway* gateway_;
  grpc::experimental::ServerRpcInfo* info_;
  // The method's name, which gRPC keeps for the server's lifetime.
  const absl::string_view method_;
  std::atomic<bool> published_{false};
  std::atomic<bool> malformed_{false};
};

}  // namespace

std::string ActionOfMethod(absl::string_view method) {
  constexpr absl::string_view kPackage = "/custos.v1.";
  if (!absl::StartsWith(method, kPackage)) return "";
  std::string action(method.substr(kPackage.size()));
  const size_t slash = action.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == action.size()) {
    return "";
  }
  action[slash] = '.';
  return action;
}

grpc::experimental::Interceptor*
MalformedRequestLogging::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY) {
    return nullptr;
  }
  // Only methods of Custos's services; the action's name is made only for
  // a request that did not parse.
  if (!absl::StartsWith(info->method(), "/custos.v1.")) return nullptr;
  return new MalformedRequestInterceptor(gateway_, info, info->method());
}

}  // namespace custos::gateway
