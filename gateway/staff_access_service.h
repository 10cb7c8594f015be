// custos.v1.StaffAccess: requesting access to a customer's data.
//
// Thread-safe; gRPC calls the handlers from its own threads.
#ifndef CUSTOS_GATEWAY_STAFF_ACCESS_SERVICE_H_
#define CUSTOS_GATEWAY_STAFF_ACCESS_SERVICE_H_

#include "gateway/gateway.h"
#include "proto/custos/v1/access.grpc.pb.h"

namespace custos::gateway {

class StaffAccessService final
    : public custos::v1::StaffAccess::CallbackService {
 public:
  // Borrows `gateway`, which must outlive the service.
  explicit StaffAccessService(const Gateway* gateway) : gateway_(gateway) {}

  grpc::ServerUnaryReactor* RequestAccess(
      grpc::CallbackServerContext* context,
      const custos::v1::RequestAccessRequest* request,
      custos::v1::RequestAccessResponse* response) override;

  grpc::ServerUnaryReactor* ReadCustomerData(
      grpc::CallbackServerContext* context,
      const custos::v1::ReadCustomerDataRequest* request,
      custos::v1::ReadCustomerDataResponse* response) override;

  grpc::ServerUnaryReactor* ListGrants(
      grpc::CallbackServerContext* context,
      const custos::v1::ListGrantsRequest* request,
      custos::v1::ListGrantsResponse* response) override;

  grpc::ServerUnaryReactor* EndGrant(
      grpc::CallbackServerContext* context,
      const custos::v1::EndGrantRequest* request,
      custos::v1::EndGrantResponse* response) override;

  grpc::ServerUnaryReactor* RevokeGrant(
      grpc::CallbackServerContext* context,
      const custos::v1::RevokeGrantRequest* request,
      custos::v1::RevokeGrantResponse* response) override;

  grpc::ServerUnaryReactor* WhoAmI(
      grpc::CallbackServerContext* context,
      const custos::v1::WhoAmIRequest* request,
      custos::v1::WhoAmIResponse* response) override;

 private:
  const Gateway* gateway_;
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_STAFF_ACCESS_SERVICE_H_
