#include "naming/naming.h"

#include <gtest/gtest.h>

#include <set>

namespace naming {
namespace {

constexpr std::string_view kZeroCluster = "00000000-0000-0000-0000-000000000000";
using Map = std::map<std::string, std::string, std::less<>>;

Map ToMap(const StringPairs& p) { return Map(p.begin(), p.end()); }

TEST(NamingTest, DocumentedVector) {
  EXPECT_EQ(ControlPlaneName(Kind::kClaim, "my-bucket", "test", kZeroCluster),
            "claim-c603e518969b413e");
  EXPECT_EQ(ControlPlaneNameFast(Kind::kClaim, "my-bucket", "test", kZeroCluster).view(),
            "claim-c603e518969b413e");
}

TEST(NamingTest, NamespacedXRUsesNxrPrefixSameHash) {
  EXPECT_EQ(ControlPlaneName(Kind::kNamespacedXR, "my-bucket", "test", kZeroCluster),
            "nxr-c603e518969b413e");
  EXPECT_EQ(Prefix(Kind::kClaim), "claim-");
  EXPECT_EQ(Prefix(Kind::kNamespacedXR), "nxr-");
}

TEST(NamingTest, EveryInputChangesTheName) {
  std::set<std::string> names = {
      ControlPlaneName(Kind::kClaim, "a", "b", "c"),
      ControlPlaneName(Kind::kClaim, "a", "b", "d"),
      ControlPlaneName(Kind::kClaim, "a", "c", "c"),
      ControlPlaneName(Kind::kClaim, "b", "b", "c"),
      // The separator keeps "a-x-b" + "c" apart from "a" + "b-x-c"... as far as the scheme can.
      ControlPlaneName(Kind::kClaim, "ab", "c", "c"),
  };
  EXPECT_EQ(names.size(), 5u);
}

TEST(NamingTest, LongNamesHashFully) {
  std::string long_name = std::string(100, 'a') + "." + std::string(100, 'b');
  ASSERT_EQ(long_name.size(), 201u);
  EXPECT_EQ(ControlPlaneName(Kind::kClaim, long_name, "test", "c1"), "claim-9bf438b9e222c66d");
  std::string max_name(253, 'z');
  std::string huge(2000, 'q');  // beyond the stack buffer: still correct, not truncated
  EXPECT_NE(ControlPlaneName(Kind::kClaim, huge, "ns", "c"),
            ControlPlaneName(Kind::kClaim, huge.substr(0, 1999), "ns", "c"));
  EXPECT_TRUE(
      LooksLikeControlPlaneName(Kind::kClaim, ControlPlaneName(Kind::kClaim, max_name, "n", "c")));
}

TEST(NamingTest, LooksLikeControlPlaneName) {
  EXPECT_TRUE(LooksLikeControlPlaneName(Kind::kClaim, "claim-c603e518969b413e"));
  EXPECT_FALSE(LooksLikeControlPlaneName(Kind::kNamespacedXR, "claim-c603e518969b413e"));
  EXPECT_TRUE(LooksLikeControlPlaneName(Kind::kNamespacedXR, "nxr-c603e518969b413e"));
  EXPECT_FALSE(LooksLikeControlPlaneName(Kind::kClaim, "claim-c603e518969b413"));
  EXPECT_FALSE(LooksLikeControlPlaneName(Kind::kClaim, "claim-C603E518969B413E"));
  EXPECT_FALSE(LooksLikeControlPlaneName(Kind::kClaim, "my-bucket"));
}

TEST(NamingTest, OriginLabelsForShortName) {
  Map labels = ToMap(OriginLabels(kZeroCluster, "test", "my-bucket"));
  EXPECT_EQ(labels.size(), 3u);
  EXPECT_EQ(labels["mcp-connector.upbound.io/app-cluster"], kZeroCluster);
  EXPECT_EQ(labels["mcp-connector.upbound.io/app-namespace"], "test");
  EXPECT_EQ(labels["mcp-connector.upbound.io/app-resource-name"], "my-bucket");
  EXPECT_TRUE(OriginAnnotations("my-bucket").empty());
  // Exactly 63 characters still fits.
  std::string n63(63, 'x');
  EXPECT_EQ(LabelValueForName(n63), n63);
  EXPECT_TRUE(OriginAnnotations(n63).empty());
}

TEST(NamingTest, LongNameLabelIsTruncatedHashAndAnnotationHoldsFullName) {
  std::string long_name = std::string(100, 'a') + "." + std::string(100, 'b');
  std::string label = LabelValueForName(long_name);
  EXPECT_EQ(label, std::string(46, 'a') + "-84c1cc443d053dc2");
  EXPECT_EQ(label.size(), 63u);
  EXPECT_EQ(LabelValueForName(std::string(64, 'x')).size(), 63u);
  EXPECT_NE(LabelValueForName(std::string(64, 'x')), LabelValueForName(std::string(65, 'x')));
  Map ann = ToMap(OriginAnnotations(long_name));
  ASSERT_EQ(ann.size(), 1u);
  EXPECT_EQ(ann["mcp-connector.upbound.io/app-resource-name"], long_name);
}

TEST(NamingTest, LabelRoundTrip) {
  for (std::string name : {std::string("my-bucket"), std::string(63, 'n'), std::string(64, 'n'),
                           std::string(200, 'a') + ".b-c." + std::string(48, 'd')}) {
    SCOPED_TRACE(name.size());
    Map labels = ToMap(OriginLabels("cluster-1", "team-a", name));
    Map ann = ToMap(OriginAnnotations(name));
    auto ref = AppRefFromMetadata(labels, ann);
    ASSERT_TRUE(ref.has_value());
    EXPECT_EQ(*ref, (AppRef{"cluster-1", "team-a", name}));
  }
}

TEST(NamingTest, MigrationShapedObjectsMapBack) {
  // `up controlplane migration import` writes exactly the three labels and no annotations.
  Map labels = {{"mcp-connector.upbound.io/app-cluster", std::string(kZeroCluster)},
                {"mcp-connector.upbound.io/app-namespace", "test"},
                {"mcp-connector.upbound.io/app-resource-name", "my-bucket"},
                {"crossplane.io/claim-name", "ignored"}};
  Map annotations = {{"crossplane.io/paused", "true"}};
  auto ref = AppRefFromMetadata(labels, annotations);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->cluster_id, kZeroCluster);
  EXPECT_EQ(ref->namespace_, "test");
  EXPECT_EQ(ref->name, "my-bucket");
  // And the object's name is the one we would compute.
  EXPECT_EQ(ControlPlaneName(Kind::kClaim, ref->name, ref->namespace_, ref->cluster_id),
            "claim-c603e518969b413e");
}

TEST(NamingTest, IncompleteOrContradictoryMetadataIsNotMapped) {
  Map full = ToMap(OriginLabels("c", "ns", "n"));
  for (auto key : {kLabelAppCluster, kLabelAppNamespace, kLabelAppResourceName}) {
    Map missing = full;
    missing.erase(std::string(key));
    EXPECT_FALSE(AppRefFromMetadata(missing, {}).has_value()) << key;
    Map empty = full;
    empty[std::string(key)] = "";
    EXPECT_FALSE(AppRefFromMetadata(empty, {}).has_value()) << key;
  }
  // An annotation that does not agree with the label is not trusted.
  Map ann = {{std::string(kAnnotationAppResourceName), "other"}};
  EXPECT_FALSE(AppRefFromMetadata(full, ann).has_value());
  // One that agrees (a short name written both ways) is fine.
  Map same = {{std::string(kAnnotationAppResourceName), "n"}};
  EXPECT_EQ(AppRefFromMetadata(full, same)->name, "n");
}

TEST(NamingTest, LookupOverload) {
  Map labels = ToMap(OriginLabels("c", "ns", "n"));
  auto ref = AppRefFromMetadata(
      [&](std::string_view k) -> std::optional<std::string_view> {
        auto it = labels.find(k);
        if (it == labels.end()) return std::nullopt;
        return std::string_view(it->second);
      },
      [](std::string_view) -> std::optional<std::string_view> { return std::nullopt; });
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->name, "n");
}

TEST(NamingTest, GenerateNameProperties) {
  std::mt19937_64 rng(42);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string n = GenerateName("my-claim-", rng);
    ASSERT_EQ(n.size(), 9u + 5u);
    ASSERT_TRUE(n.starts_with("my-claim-"));
    for (char c : n.substr(9)) {
      ASSERT_NE(kGenerateNameAlphabet.find(c), std::string_view::npos) << n;
    }
    seen.insert(n);
  }
  EXPECT_GT(seen.size(), 990u);  // 27^5 = 14M possibilities
  std::string long_base(100, 'b');
  std::string g = GenerateName(long_base);
  EXPECT_EQ(g.size(), 63u);
  EXPECT_TRUE(g.starts_with(std::string(58, 'b')));
  EXPECT_TRUE(IsDNS1123Subdomain(GenerateName("x-")).empty());
  EXPECT_EQ(GenerateName("").size(), 5u);
}

const std::string kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const std::string kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

TEST(NamingValidationTest, DNS1123Subdomain) {
  EXPECT_TRUE(IsDNS1123Subdomain("my-bucket").empty());
  EXPECT_TRUE(IsDNS1123Subdomain("a.b-c.d").empty());
  EXPECT_TRUE(IsDNS1123Subdomain(std::string(253, 'a')).empty());
  EXPECT_EQ(IsDNS1123Subdomain("My_Bucket"), std::vector<std::string>{kSubdomainMsg});
  EXPECT_EQ(IsDNS1123Subdomain(""), std::vector<std::string>{kSubdomainMsg});
  EXPECT_EQ(IsDNS1123Subdomain("a..b"), std::vector<std::string>{kSubdomainMsg});
  EXPECT_EQ(IsDNS1123Subdomain("-a"), std::vector<std::string>{kSubdomainMsg});
  EXPECT_EQ(IsDNS1123Subdomain(std::string(254, 'a')),
            std::vector<std::string>{"must be no more than 253 characters"});
  EXPECT_EQ(IsDNS1123Subdomain(std::string(254, 'A')),
            (std::vector<std::string>{"must be no more than 253 characters", kSubdomainMsg}));
}

TEST(NamingValidationTest, DNS1123Label) {
  EXPECT_TRUE(IsDNS1123Label("team-a").empty());
  EXPECT_TRUE(IsDNS1123Label(std::string(63, 'a')).empty());
  EXPECT_EQ(IsDNS1123Label("a.b"), std::vector<std::string>{"must not contain dots"});
  EXPECT_EQ(IsDNS1123Label("Team"), std::vector<std::string>{kLabelMsg});
  EXPECT_EQ(IsDNS1123Label(std::string(64, 'a')),
            std::vector<std::string>{"must be no more than 63 characters"});
}

TEST(NamingValidationTest, ObjectMetaCauses) {
  EXPECT_TRUE(ValidateObjectName("my-bucket").empty());
  auto bad = ValidateObjectName("My_Bucket");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].type, "FieldValueInvalid");
  EXPECT_EQ(bad[0].field, "metadata.name");
  EXPECT_EQ(bad[0].message, "Invalid value: \"My_Bucket\": " + kSubdomainMsg);

  auto required = ValidateObjectName("");
  ASSERT_EQ(required.size(), 1u);
  EXPECT_EQ(required[0].type, "FieldValueRequired");
  EXPECT_EQ(required[0].field, "metadata.name");
  EXPECT_EQ(required[0].message, "Required value: name or generateName is required");

  // generateName with a trailing dash is fine (masked); an invalid one is reported.
  EXPECT_TRUE(ValidateObjectName("x-abcde", "x-").empty());
  auto gen = ValidateObjectName("X_abcde", "X_");
  ASSERT_EQ(gen.size(), 2u);
  EXPECT_EQ(gen[0].field, "metadata.generateName");
  EXPECT_EQ(gen[0].message, "Invalid value: \"X_\": " + kSubdomainMsg);
  EXPECT_EQ(gen[1].field, "metadata.name");

  auto ns = ValidateObjectNamespace("a.b");
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].field, "metadata.namespace");
  EXPECT_EQ(ns[0].message, "Invalid value: \"a.b\": must not contain dots");
  auto ns_required = ValidateObjectNamespace("");
  ASSERT_EQ(ns_required.size(), 1u);
  EXPECT_EQ(ns_required[0].type, "FieldValueRequired");
  EXPECT_EQ(ns_required[0].message, "Required value");
  auto cluster_scoped = ValidateObjectNamespace("x", false);
  ASSERT_EQ(cluster_scoped.size(), 1u);
  EXPECT_EQ(cluster_scoped[0].type, "FieldValueForbidden");
  EXPECT_EQ(cluster_scoped[0].message, "Forbidden: not allowed on this type");
  EXPECT_TRUE(ValidateObjectNamespace("", false).empty());
}

TEST(NamingValidationTest, CausesMakeKubesInvalidStatus) {
  kube::Status s = kube::NewInvalid("KubernetesCluster.k8s.starter.org", "My_Bucket",
                                    ValidateObjectName("My_Bucket"));
  EXPECT_EQ(s.code, 422);
  EXPECT_EQ(s.message,
            "KubernetesCluster.k8s.starter.org \"My_Bucket\" is invalid: "
            "metadata.name: Invalid value: \"My_Bucket\": " +
                kSubdomainMsg);
}

}  // namespace
}  // namespace naming

namespace naming {
namespace {

TEST(HashedNameTest, IsTheControlPlaneSchemeWithAnyPrefix) {
  const std::string cluster = "00000000-0000-0000-0000-000000000000";
  EXPECT_EQ(HashedName("claim-", "my-bucket", "test", cluster), "claim-c603e518969b413e");
  EXPECT_EQ(HashedName("nxr-", "my-bucket", "test", cluster),
            ControlPlaneName(Kind::kNamespacedXR, "my-bucket", "test", cluster));
  // The connection-secret names: same hash of the secret's name, namespace and cluster.
  EXPECT_EQ(HashedName("conn-", "my-bucket", "test", cluster), "conn-c603e518969b413e");
  // A long input (beyond the stack buffer) hashes the same way as the fast path.
  const std::string long_name(253, 'a');
  EXPECT_EQ(HashedName("claim-", long_name, "test", cluster),
            ControlPlaneName(Kind::kClaim, long_name, "test", cluster));
}

}  // namespace
}  // namespace naming
