// The one place where an absl::Status becomes a grpc::Status.
#ifndef CUSTOS_GATEWAY_GRPC_STATUS_H_
#define CUSTOS_GATEWAY_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace custos::gateway {

// Same code, same message. Both enums share gRPC's canonical numbering.
inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_GRPC_STATUS_H_
