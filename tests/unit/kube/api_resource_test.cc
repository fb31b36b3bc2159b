#include "kube/api_resource.h"

#include <gtest/gtest.h>

namespace kube {
namespace {

TEST(APIResourceTest, DefaultVerbsAreTheCRDVerbsInKubesOrder) {
  EXPECT_EQ(DefaultResourceVerbs(),
            (std::vector<std::string>{"delete", "deletecollection", "get", "list", "patch",
                                      "create", "update", "watch"}));
}

TEST(APIResourceTest, GroupVersion) {
  APIResource r;
  r.version = "v1";
  EXPECT_EQ(r.GroupVersion(), "v1");
  r.group = "k8s.starter.org";
  r.version = "v1alpha1";
  EXPECT_EQ(r.GroupVersion(), "k8s.starter.org/v1alpha1");
}

}  // namespace
}  // namespace kube
