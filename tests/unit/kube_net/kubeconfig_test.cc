#include "kube/kubeconfig.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "kube/tls.h"
#include "tests/unit/kube_net/net_test_util.h"

namespace kube {
namespace {

using testing::TempDir;
using testing::TestPki;

TEST(KubeconfigTest, WriteThenLoadWithInlineData) {
  TempDir dir;
  KubeconfigSpec spec;
  spec.server = "https://127.0.0.1:6443";
  spec.ca_pem = TestPki().ca.cert_pem;
  spec.client_cert_pem = TestPki().client.cert_pem;
  spec.client_key_pem = TestPki().client.key_pem.RevealCopy();
  spec.tls_server_name = "kubernetes";
  spec.name = "app";
  ASSERT_TRUE(WriteKubeconfig(dir.File("kubeconfig"), spec).ok());
  auto cfg = LoadKubeconfig(dir.File("kubeconfig"));
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, TestPki().ca.cert_pem);
  EXPECT_EQ(cfg->client_cert_pem, TestPki().client.cert_pem);
  EXPECT_TRUE(cfg->client_key_pem.Equals(spec.client_key_pem));
  EXPECT_EQ(cfg->tls_server_name, "kubernetes");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  EXPECT_TRUE(cfg->bearer_token.empty());
}

TEST(KubeconfigTest, FilePathsAreResolvedAgainstTheKubeconfigDirectory) {
  TempDir dir;
  ASSERT_TRUE(tls::WriteFile(dir.File("pki/ca.crt"), TestPki().ca.cert_pem).ok());
  ASSERT_TRUE(tls::WriteFile(dir.File("pki/client.crt"), TestPki().client.cert_pem).ok());
  ASSERT_TRUE(
      tls::WriteFile(dir.File("pki/client.key"), TestPki().client.key_pem.RevealCopy()).ok());
  ASSERT_TRUE(tls::WriteFile(dir.File("token"), "tok\n").ok());
  const std::string yaml = R"(apiVersion: v1
kind: Config
current-context: a
clusters:
- name: c1
  cluster:
    server: https://one.example:443/prefix
    certificate-authority: pki/ca.crt
- name: c2
  cluster:
    server: https://two.example
    insecure-skip-tls-verify: true
users:
- name: u1
  user:
    client-certificate: pki/client.crt
    client-key: pki/client.key
- name: u2
  user:
    tokenFile: token
- name: u3
  user:
    token: inline-token
contexts:
- name: a
  context: {cluster: c1, user: u1}
- name: b
  context: {cluster: c2, user: u2, namespace: ns}
- name: c
  context: {cluster: c2, user: u3}
)";
  ASSERT_TRUE(tls::WriteFile(dir.File("config"), yaml).ok());

  auto a = LoadKubeconfig(dir.File("config"));
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->server, "https://one.example:443/prefix");
  EXPECT_EQ(a->ca_pem, TestPki().ca.cert_pem);
  EXPECT_EQ(a->client_cert_pem, TestPki().client.cert_pem);
  EXPECT_FALSE(a->client_key_pem.empty());

  auto b = LoadKubeconfig(dir.File("config"), "b");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(b->insecure_skip_tls_verify);
  EXPECT_EQ(b->token_file, dir.File("token"));
  EXPECT_TRUE(b->ca_pem.empty());

  auto c = LoadKubeconfig(dir.File("config"), "c");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->bearer_token.Equals("inline-token"));

  auto missing = LoadKubeconfig(dir.File("config"), "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("\"nope\" not found"), std::string::npos);
}

TEST(KubeconfigTest, BadInputIsAnErrorNeverACrash) {
  for (const char* text :
       {"", "[", "just a string", "current-context: x\n", "contexts: 5\ncurrent-context: x\n",
        "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\nclusters:\n- name: c\n"
        "  cluster: {}\n",
        "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\nclusters:\n"
        "- name: c\n  cluster: {server: 'https://x', certificate-authority-data: '!!!'}\n",
        "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\nclusters:\n"
        "- name: c\n  cluster: {server: 'https://x'}\nusers:\n- name: u\n  user: {exec: {}}\n"}) {
    auto cfg = LoadKubeconfigFromString(text, "/tmp");
    EXPECT_FALSE(cfg.ok()) << text;
    if (!cfg.ok()) {
      EXPECT_EQ(cfg.error().code, 400);
    }
  }
  EXPECT_FALSE(LoadKubeconfig("/nonexistent/kubeconfig").ok());
}

TEST(KubeconfigTest, InlineSecretsLoadAndSelfReferentialAliasesEnd) {
  // The users section is wiped in place after loading, through aliases too (bounded: an alias
  // may refer to the node that contains it).
  const std::string yaml =
      "current-context: a\n"
      "contexts:\n- name: a\n  context: {cluster: c, user: u}\n"
      "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
      "users:\n"
      "- name: u\n  user: {token: tok-123, client-key-data: '', extra: &k [key-x]}\n"
      "- &loop\n  name: v\n  user: {nested: [*loop, *k]}\n";
  auto cfg = LoadKubeconfigFromString(yaml, "/tmp");
  if (cfg.ok()) {
    EXPECT_TRUE(cfg->bearer_token.Equals("tok-123"));
    EXPECT_TRUE(cfg->client_key_pem.empty());
  } else {
    EXPECT_EQ(cfg.error().code, 400);  // yaml-cpp may refuse the recursive alias: fine too
  }
  TempDir dir;
  const std::string plain =
      "current-context: a\n"
      "contexts:\n- name: a\n  context: {cluster: c, user: u}\n"
      "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
      "users:\n- name: u\n  user: {token: tok-456}\n";
  ASSERT_TRUE(tls::WriteFile(dir.File("config"), plain).ok());
  auto loaded = LoadKubeconfig(dir.File("config"));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_TRUE(loaded->bearer_token.Equals("tok-456"));
  EXPECT_EQ(loaded->server, "https://x");
}

TEST(KubeconfigTest, InClusterConfig) {
  TempDir dir;
  ASSERT_TRUE(tls::WriteFile(dir.File("ca.crt"), TestPki().ca.cert_pem).ok());
  ASSERT_TRUE(tls::WriteFile(dir.File("token"), "sa-token").ok());
  unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_FALSE(InClusterConfig(dir.path()).ok());
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto cfg = InClusterConfig(dir.path());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://10.96.0.1:443");
  EXPECT_EQ(cfg->ca_pem, TestPki().ca.cert_pem);
  EXPECT_EQ(cfg->token_file, dir.File("token"));
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  EXPECT_EQ(InClusterConfig(dir.path())->server, "https://[fd00::1]:443");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST(KubeconfigTest, SpacesServerURL) {
  EXPECT_EQ(SpacesServerURL("spaces.example.com", "default", "ctp1"),
            "https://spaces.example.com/apis/spaces.upbound.io/v1beta1/namespaces/default/"
            "controlplanes/ctp1/k8s");
  EXPECT_EQ(SpacesServerURL("https://h:8443/", "g", "n"),
            "https://h:8443/apis/spaces.upbound.io/v1beta1/namespaces/g/controlplanes/n/k8s");
}

}  // namespace
}  // namespace kube
