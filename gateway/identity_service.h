// custos.v1.TakeIdentity: bounded, logged sessions in which a staff member
// sees the customer's application as one of the customer's users does.
//
// Thread-safe; gRPC calls the handlers from its own threads.
#ifndef CUSTOS_GATEWAY_IDENTITY_SERVICE_H_
#define CUSTOS_GATEWAY_IDENTITY_SERVICE_H_

#include "gateway/gateway.h"
#include "proto/custos/v1/identity.grpc.pb.h"

namespace custos::gateway {

class TakeIdentityService final
    : public custos::v1::TakeIdentity::CallbackService {
 public:
  explicit TakeIdentityService(const Gateway* gateway) : gateway_(gateway) {}

  grpc::ServerUnaryReactor* StartSession(
      grpc::CallbackServerContext* context,
      const custos::v1::StartSessionRequest* request,
      custos::v1::StartSessionResponse* response) override;
  grpc::ServerUnaryReactor* ExchangeLink(
      grpc::CallbackServerContext* context,
      const custos::v1::ExchangeLinkRequest* request,
      custos::v1::ExchangeLinkResponse* response) override;
  grpc::ServerUnaryReactor* ViewPage(
      grpc::CallbackServerContext* context,
      const custos::v1::ViewPageRequest* request,
      custos::v1::ViewPageResponse* response) override;
  grpc::ServerUnaryReactor* PerformAction(
      grpc::CallbackServerContext* context,
      const custos::v1::PerformActionRequest* request,
      custos::v1::PerformActionResponse* response) override;
  grpc::ServerUnaryReactor* EndSession(
      grpc::CallbackServerContext* context,
      const custos::v1::EndSessionRequest* request,
      custos::v1::EndSessionResponse* response) override;
  grpc::ServerUnaryReactor* ListSessions(
      grpc::CallbackServerContext* context,
      const custos::v1::ListSessionsRequest* request,
      custos::v1::ListSessionsResponse* response) override;

 private:
  const Gateway* gateway_;
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_IDENTITY_SERVICE_H_
