// Mirrors k8s.io/apiserver/pkg/endpoints/request/requestinfo_test.go.
#include "kube/request_info.h"

#include <gtest/gtest.h>

namespace kube {
namespace {

RequestInfo Parse(std::string_view method, std::string_view url) {
  http::Request req;
  req.method = std::string(method);
  req.target = std::string(url);
  http::ParseTarget(req);
  auto r = RequestInfoFactory().NewRequestInfo(req);
  EXPECT_TRUE(r.ok()) << url << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : RequestInfo{};
}

struct Case {
  const char* method;
  const char* url;
  const char* verb;
  const char* prefix;
  const char* group;
  const char* version;
  const char* ns;
  const char* resource;
  const char* subresource;
  const char* name;
  std::vector<std::string> parts;
};

TEST(RequestInfoTest, GetAPIRequestInfo) {
  const std::vector<Case> cases = {
      // resource paths
      {"GET",
       "/api/v1/namespaces",
       "list",
       "api",
       "",
       "v1",
       "",
       "namespaces",
       "",
       "",
       {"namespaces"}},
      {"GET",
       "/api/v1/namespaces/other",
       "get",
       "api",
       "",
       "v1",
       "other",
       "namespaces",
       "",
       "other",
       {"namespaces", "other"}},
      {"GET",
       "/api/v1/namespaces/other/pods",
       "list",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "",
       {"pods"}},
      {"GET",
       "/api/v1/namespaces/other/pods/foo",
       "get",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "foo",
       {"pods", "foo"}},
      {"HEAD",
       "/api/v1/namespaces/other/pods/foo",
       "get",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "foo",
       {"pods", "foo"}},
      {"GET", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", {"pods"}},
      {"HEAD", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", {"pods"}},
      {"GET",
       "/api/v1/namespaces/other/pods/foo",
       "get",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "foo",
       {"pods", "foo"}},
      {"GET",
       "/api/v1/namespaces/other/pods",
       "list",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "",
       {"pods"}},
      {"PATCH",
       "/api/v1/namespaces/new-namespace",
       "patch",
       "api",
       "",
       "v1",
       "",
       "namespaces",
       "",
       "new-namespace",
       {"namespaces", "new-namespace"}},
      // special verbs
      {"GET",
       "/api/v1/proxy/namespaces/other/pods/foo",
       "proxy",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "foo",
       {"pods", "foo"}},
      {"GET",
       "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource",
       "proxy",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "foo",
       {"pods", "foo", "subpath", "not", "a", "subresource"}},
      {"GET", "/api/v1/watch/pods", "watch", "api", "", "v1", "", "pods", "", "", {"pods"}},
      {"GET", "/api/v1/pods?watch=true", "watch", "api", "", "v1", "", "pods", "", "", {"pods"}},
      {"GET", "/api/v1/pods?watch=false", "list", "api", "", "v1", "", "pods", "", "", {"pods"}},
      {"GET",
       "/api/v1/watch/namespaces/other/pods",
       "watch",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "",
       {"pods"}},
      {"GET",
       "/api/v1/namespaces/other/pods?watch=1",
       "watch",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "",
       {"pods"}},
      {"GET",
       "/api/v1/namespaces/other/pods?watch=0",
       "list",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "",
       {"pods"}},
      // subresource identification
      {"GET",
       "/api/v1/namespaces/other/pods/foo/status",
       "get",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "status",
       "foo",
       {"pods", "foo", "status"}},
      {"GET",
       "/api/v1/namespaces/other/pods/foo/proxy/subpath",
       "get",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "proxy",
       "foo",
       {"pods", "foo", "proxy", "subpath"}},
      {"PUT",
       "/api/v1/namespaces/other/finalize",
       "update",
       "api",
       "",
       "v1",
       "other",
       "namespaces",
       "finalize",
       "other",
       {"namespaces", "other", "finalize"}},
      {"PUT",
       "/api/v1/namespaces/other/status",
       "update",
       "api",
       "",
       "v1",
       "other",
       "namespaces",
       "status",
       "other",
       {"namespaces", "other", "status"}},
      // verb identification
      {"PATCH",
       "/api/v1/namespaces/other/pods/foo",
       "patch",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "foo",
       {"pods", "foo"}},
      {"DELETE",
       "/api/v1/namespaces/other/pods/foo",
       "delete",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "foo",
       {"pods", "foo"}},
      {"POST",
       "/api/v1/namespaces/other/pods",
       "create",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "",
       {"pods"}},
      // deletecollection verb identification
      {"DELETE",
       "/api/v1/nodes",
       "deletecollection",
       "api",
       "",
       "v1",
       "",
       "nodes",
       "",
       "",
       {"nodes"}},
      {"DELETE",
       "/api/v1/namespaces",
       "deletecollection",
       "api",
       "",
       "v1",
       "",
       "namespaces",
       "",
       "",
       {"namespaces"}},
      {"DELETE",
       "/api/v1/namespaces/other/pods",
       "deletecollection",
       "api",
       "",
       "v1",
       "other",
       "pods",
       "",
       "",
       {"pods"}},
      {"DELETE",
       "/apis/extensions/v1/namespaces/other/pods",
       "deletecollection",
       "apis",
       "extensions",
       "v1",
       "other",
       "pods",
       "",
       "",
       {"pods"}},
      // api group identification
      {"POST",
       "/apis/extensions/v1/namespaces/other/pods",
       "create",
       "apis",
       "extensions",
       "v1",
       "other",
       "pods",
       "",
       "",
       {"pods"}},
      // api version identification
      {"POST",
       "/apis/extensions/v1beta3/namespaces/other/pods",
       "create",
       "apis",
       "extensions",
       "v1beta3",
       "other",
       "pods",
       "",
       "",
       {"pods"}},
      // ours: a claim API as the aggregator forwards it
      {"GET",
       "/apis/k8s.starter.org/v1alpha1/namespaces/default/kubernetesclusters/c1/status",
       "get",
       "apis",
       "k8s.starter.org",
       "v1alpha1",
       "default",
       "kubernetesclusters",
       "status",
       "c1",
       {"kubernetesclusters", "c1", "status"}},
      {"GET",
       "/apis/k8s.starter.org/v1alpha1/kubernetesclusters",
       "list",
       "apis",
       "k8s.starter.org",
       "v1alpha1",
       "",
       "kubernetesclusters",
       "",
       "",
       {"kubernetesclusters"}},
      {"GET",
       "/apis/k8s.starter.org/v1alpha1/watch/namespaces/d/kubernetesclusters/c1",
       "watch",
       "apis",
       "k8s.starter.org",
       "v1alpha1",
       "d",
       "kubernetesclusters",
       "",
       "c1",
       {"kubernetesclusters", "c1"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + c.url);
    RequestInfo info = Parse(c.method, c.url);
    EXPECT_TRUE(info.is_resource_request);
    EXPECT_EQ(info.verb, c.verb);
    EXPECT_EQ(info.api_prefix, c.prefix);
    EXPECT_EQ(info.api_group, c.group);
    EXPECT_EQ(info.api_version, c.version);
    EXPECT_EQ(info.namespace_, c.ns);
    EXPECT_EQ(info.resource, c.resource);
    EXPECT_EQ(info.subresource, c.subresource);
    EXPECT_EQ(info.name, c.name);
    EXPECT_EQ(info.parts, c.parts);
  }
}

TEST(RequestInfoTest, NonResourceErrorCases) {
  for (const char* url : {"/", "/api/version/", "/apis/group/version/",
                          "/badprefix/version/resource", "/apis/version/resource"}) {
    SCOPED_TRACE(url);
    RequestInfo info = Parse("GET", url);
    EXPECT_FALSE(info.is_resource_request);
    EXPECT_EQ(info.verb, "get");  // lower-case HTTP method
  }
}

TEST(RequestInfoTest, GetNonAPIRequestInfo) {
  const std::vector<std::pair<const char*, bool>> cases = {
      {"/api/version/resource", true},
      {"/apis/group/version/resource/name/subresource", true},
      {"/api/version/resource/name/subresource", true},
      {"/apis/batch/v1/job", true},
      {"/apis/batch/v1/job/foo", true},
      {"/apis/batch/v1/job/foo/scale", true},
      {"/not-api/version/resource", false},
      {"/apis/extensions/v1beta1", false},
      {"/apis/extensions/v1beta1/", false},
      {"/api/version", false},
      {"/api", false},
      {"/", false},
      {"", false},
  };
  for (const auto& [url, expected] : cases) {
    SCOPED_TRACE(url);
    EXPECT_EQ(Parse("GET", url).is_resource_request, expected);
  }
  RequestInfo post = Parse("POST", "/apis");
  EXPECT_EQ(post.verb, "post");
  EXPECT_EQ(post.path, "/apis");
}

TEST(RequestInfoTest, FieldSelectorParsing) {
  struct FCase {
    const char* url;
    const char* name;
    const char* verb;
  };
  const std::vector<FCase> cases = {
      {"/apis/group/version/resource", "", "list"},
      {"/apis/group/version/resource?fieldSelector=metadata.name=name1", "name1", "list"},
      {"/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1", "name1",
       "watch"},
      {"/apis/group/version/resource?fieldSelector=foo=bar", "", "list"},
      {"/apis/group/version/resource?fieldSelector=metadata.name=name1,foo", "", "list"},
      {"/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true", "",
       "watch"},
      {"/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false", "",
       "list"},
      // ours: not a valid path segment name; a bad label selector also drops the name.
      {"/apis/group/version/resource?fieldSelector=metadata.name%3D..", "", "list"},
      {"/apis/group/version/resource?fieldSelector=metadata.name%3Da&labelSelector=%3D%3D", "",
       "list"},
      {"/apis/group/version/resource?fieldSelector=metadata.name%3D%3Da", "a", "list"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    RequestInfo info = Parse("GET", c.url);
    EXPECT_EQ(info.name, c.name);
    EXPECT_EQ(info.verb, c.verb);
  }
  // A DELETE of a collection never takes the name from a selector.
  EXPECT_EQ(Parse("DELETE", "/apis/g/v/r?fieldSelector=metadata.name%3Dx").verb,
            "deletecollection");
}

TEST(RequestInfoTest, SpecialVerbWithoutResourceIsAnError) {
  auto r = RequestInfoFactory().NewRequestInfo("GET", "/api/v1/watch", http::Query());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 500);
  EXPECT_EQ(r.error().message,
            "Internal error occurred: unable to determine kind and namespace from url, "
            "/api/v1/watch");
}

TEST(RequestInfoTest, UnknownMethodHasEmptyVerb) {
  EXPECT_EQ(Parse("OPTIONS", "/api/v1/pods").verb, "");
}

}  // namespace
}  // namespace kube
