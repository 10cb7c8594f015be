// custos.v1.Approvals: trips abroad (asked by staff, decided by the DPO),
// approval of pending requests (by the customer or the DPO), and partner
// consent (by the customer).
//
// Thread-safe; gRPC calls the handlers from its own threads.
#ifndef CUSTOS_GATEWAY_APPROVALS_SERVICE_H_
#define CUSTOS_GATEWAY_APPROVALS_SERVICE_H_

#include "gateway/gateway.h"
#include "proto/custos/v1/approvals.grpc.pb.h"

namespace custos::gateway {

class ApprovalsService final : public custos::v1::Approvals::CallbackService {
 public:
  explicit ApprovalsService(const Gateway* gateway) : gateway_(gateway) {}

  grpc::ServerUnaryReactor* RequestTrip(
      grpc::CallbackServerContext* context,
      const custos::v1::RequestTripRequest* request,
      custos::v1::RequestTripResponse* response) override;
  grpc::ServerUnaryReactor* DecideTrip(
      grpc::CallbackServerContext* context,
      const custos::v1::DecideTripRequest* request,
      custos::v1::DecideTripResponse* response) override;
  grpc::ServerUnaryReactor* ListTrips(
      grpc::CallbackServerContext* context,
      const custos::v1::ListTripsRequest* request,
      custos::v1::ListTripsResponse* response) override;
  grpc::ServerUnaryReactor* ListPendingRequests(
      grpc::CallbackServerContext* context,
      const custos::v1::ListPendingRequestsRequest* request,
      custos::v1::ListPendingRequestsResponse* response) override;
  grpc::ServerUnaryReactor* DecidePendingRequest(
      grpc::CallbackServerContext* context,
      const custos::v1::DecidePendingRequestRequest* request,
      custos::v1::DecidePendingRequestResponse* response) override;
  grpc::ServerUnaryReactor* SetPartnerConsent(
      grpc::CallbackServerContext* context,
      const custos::v1::SetPartnerConsentRequest* request,
      custos::v1::SetPartnerConsentResponse* response) override;
  grpc::ServerUnaryReactor* ListPartnerConsents(
      grpc::CallbackServerContext* context,
      const custos::v1::ListPartnerConsentsRequest* request,
      custos::v1::ListPartnerConsentsResponse* response) override;

 private:
  const Gateway* gateway_;
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_APPROVALS_SERVICE_H_
