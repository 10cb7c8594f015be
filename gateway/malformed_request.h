// Logs and answers requests whose bytes do not parse as the method's
// request message.
//
// gRPC parses a request before any handler runs. One that does not parse
// (a string field holding invalid UTF-8, which proto3 refuses, or bytes
// that are no protobuf at all) is answered by gRPC itself, with
// UNIMPLEMENTED and no message, and no handler ever sees it: it would leave
// no entry in the log. This interceptor notices such a request on a Custos
// method, appends its entry through an AuditedCall (the caller
// authenticated as for any request) and answers INVALID_ARGUMENT naming
// the request instead, or UNAVAILABLE when the log cannot be written.
//
// Thread-safe: one interceptor per call; the factory only borrows the
// gateway.
#ifndef CUSTOS_GATEWAY_MALFORMED_REQUEST_H_
#define CUSTOS_GATEWAY_MALFORMED_REQUEST_H_

#include <grpcpp/support/server_interceptor.h>

#include <string>

#include "absl/strings/string_view.h"
#include "gateway/gateway.h"

namespace custos::gateway {

class MalformedRequestLogging
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // Borrows `gateway`, which must outlive the server.
  explicit MalformedRequestLogging(const Gateway* gateway)
      : gateway_(gateway) {}

  // An interceptor for the unary methods of Custos's services; none
  // (nullptr) for the rest, such as health checking and reflection.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  const Gateway* gateway_;
};

// "StaffAccess.RequestAccess" for "/custos.v1.StaffAccess/RequestAccess";
// empty for a method outside custos.v1.
std::string ActionOfMethod(absl::string_view method);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_MALFORMED_REQUEST_H_
