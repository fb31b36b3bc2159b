#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "proxy/content.h"

namespace proxy {
namespace {

TEST(NegotiateAccept, JsonAndMetaTypes) {
  auto plain = NegotiateAccept("");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->representation, Representation::kObject);
  EXPECT_EQ(plain->upstream_accept, "application/json");

  auto table = NegotiateAccept(
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/"
      "json;as=Table;v=v1beta1;g=meta.k8s.io,application/json");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->representation, Representation::kTable);
  EXPECT_EQ(table->upstream_accept, "application/json;as=Table;v=v1;g=meta.k8s.io");

  auto any = NegotiateAccept("*/*");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->representation, Representation::kObject);
}

// The metadata client (namespace deletion, GC) asks protobuf first: JSON, never 406.
TEST(NegotiateAccept, ProtobufFirstGetsJson) {
  auto r = NegotiateAccept(
      "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
      "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->representation, Representation::kPartialObjectMetadataList);
  EXPECT_EQ(r->upstream_accept, "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io");
  auto pb = NegotiateAccept("application/vnd.kubernetes.protobuf, application/json");
  ASSERT_TRUE(pb.ok());
  EXPECT_EQ(pb->representation, Representation::kObject);
}

TEST(NegotiateAccept, QualityOrders) {
  auto r = NegotiateAccept("application/json;q=0.5,application/json;as=Table;g=meta.k8s.io;v=v1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->representation, Representation::kTable);
}

TEST(NegotiateAccept, NothingAcceptableIs406) {
  for (std::string_view a : {"application/vnd.kubernetes.protobuf", "text/html",
                             "application/json;as=Foo;g=meta.k8s.io;v=v1", "application/yaml"}) {
    auto r = NegotiateAccept(a);
    ASSERT_FALSE(r.ok()) << a;
    EXPECT_EQ(r.error().code, 406);
    EXPECT_EQ(r.error().reason, "NotAcceptable");
    EXPECT_EQ(r.error().message, "only the following media types are accepted: application/json");
  }
}

TEST(CheckContentType, PerVerb) {
  EXPECT_EQ(*CheckContentType("create", "application/json; charset=utf-8"), BodyType::kJson);
  EXPECT_EQ(*CheckContentType("create", ""), BodyType::kJson);
  EXPECT_EQ(*CheckContentType("update", "application/yaml"), BodyType::kYaml);
  EXPECT_EQ(*CheckContentType("patch", "application/merge-patch+json"), BodyType::kMergePatch);
  EXPECT_EQ(*CheckContentType("patch", "application/json-patch+json"), BodyType::kJsonPatch);
  EXPECT_EQ(*CheckContentType("patch", "application/apply-patch+yaml"), BodyType::kApplyPatch);
  auto smp = CheckContentType("patch", "application/strategic-merge-patch+json");
  ASSERT_FALSE(smp.ok());
  EXPECT_EQ(smp.error().code, 415);
  EXPECT_EQ(smp.error().reason, "UnsupportedMediaType");
  EXPECT_EQ(smp.error().message,
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml");
  auto xml = CheckContentType("create", "application/xml");
  ASSERT_FALSE(xml.ok());
  EXPECT_EQ(xml.error().code, 415);
}

}  // namespace
}  // namespace proxy
