// custos.v1.AuditLog: reading the audit log.
//
// Thread-safe; gRPC calls the handlers from its own threads.
#ifndef CUSTOS_GATEWAY_AUDIT_LOG_SERVICE_H_
#define CUSTOS_GATEWAY_AUDIT_LOG_SERVICE_H_

#include "gateway/gateway.h"
#include "proto/custos/v1/audit.grpc.pb.h"

namespace custos::gateway {

class AuditLogService final : public custos::v1::AuditLog::CallbackService {
 public:
  // Borrows `gateway`, which must outlive the service.
  explicit AuditLogService(const Gateway* gateway) : gateway_(gateway) {}

  grpc::ServerUnaryReactor* ListEntries(
      grpc::CallbackServerContext* context,
      const custos::v1::ListEntriesRequest* request,
      custos::v1::ListEntriesResponse* response) override;

  grpc::ServerUnaryReactor* GetCheckpoint(
      grpc::CallbackServerContext* context,
      const custos::v1::GetCheckpointRequest* request,
      custos::v1::Checkpoint* response) override;

  grpc::ServerUnaryReactor* GetInclusionProof(
      grpc::CallbackServerContext* context,
      const custos::v1::GetInclusionProofRequest* request,
      custos::v1::InclusionProof* response) override;

  grpc::ServerUnaryReactor* GetConsistencyProof(
      grpc::CallbackServerContext* context,
      const custos::v1::GetConsistencyProofRequest* request,
      custos::v1::ConsistencyProof* response) override;

  grpc::ServerUnaryReactor* Erase(grpc::CallbackServerContext* context,
                                  const custos::v1::EraseRequest* request,
                                  custos::v1::EraseResponse* response) override;

 private:
  const Gateway* gateway_;
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_AUDIT_LOG_SERVICE_H_
