// The generated protobuf and gRPC code compiles, links and round-trips messages.
#include <gtest/gtest.h>

#include "proto/nas.grpc.pb.h"
#include "proto/nas.pb.h"

namespace {

TEST(NasProtoTest, CostReportRoundTrips) {
  nas::v1::CostReport report;
  report.set_flops(220119690);
  report.set_params(1531546);
  nas::v1::LayerCost* layer = report.add_layers();
  layer->set_name("stem");
  layer->set_flops(442368);
  std::string bytes;
  ASSERT_TRUE(report.SerializeToString(&bytes));
  nas::v1::CostReport parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.flops(), 220119690);
  EXPECT_EQ(parsed.layers(0).name(), "stem");
}

TEST(NasProtoTest, ServiceDescriptorListsMethods) {
  const auto* service = nas::v1::Architecture::descriptor()->file()->FindServiceByName("NasService");
  ASSERT_NE(service, nullptr);
  EXPECT_NE(service->FindMethodByName("DescribeSpace"), nullptr);
  EXPECT_NE(service->FindMethodByName("EvaluateArchitecture"), nullptr);
  EXPECT_EQ(std::string(nas::v1::NasService::service_full_name()), "nas.v1.NasService");
}

}  // namespace
