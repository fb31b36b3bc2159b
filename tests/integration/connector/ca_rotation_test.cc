// Serving-certificate rotation pushed to registration: with --tls-cert-file /
// --tls-private-key-file / --tls-ca-file (the chart's cert-manager style Secret), replacing the
// files makes the connector serve the new certificate and rewrite every APIService's caBundle to
// the new CA, so the aggregator (fakekube) keeps reaching it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include "kube/tls.h"
#include "tests/integration/connector/testbed.h"

namespace apiserver::testbed {
namespace {

using ::testing::HasSubstr;

std::string Base64(std::string_view in) {
  static constexpr char kT[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kT[(buf >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kT[(buf << (6 - bits)) & 63]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

struct Issued {
  kube::tls::KeyPair ca, leaf;
};

Issued Issue(const std::string& ca_name) {
  Issued out;
  out.ca = kube::tls::GenerateCA(ca_name).value();
  kube::tls::CertificateSpec spec;
  spec.common_name = "mcp-connector.kube-system.svc";
  spec.dns_names = {"mcp-connector.kube-system.svc", "mcp-connector.kube-system.svc.cluster.local",
                    "localhost"};
  spec.ip_addresses = {"127.0.0.1"};
  out.leaf = kube::tls::GenerateSigned(out.ca, spec).value();
  return out;
}

// Writes the three files the way kubelet updates a mounted Secret: new content appears at once
// (written aside, then renamed over the old file).
void WriteAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);
}

class CARotationTest : public ::testing::Test {
 protected:
  std::string APIServiceCABundle() {
    auto obj = tb_.app().Get("apiregistration.k8s.io", "apiservices", "", kAPIService);
    if (!obj.ok()) return "";
    const json::Value* spec = json::Find(**obj, "spec");
    return spec ? std::string(json::GetString(*spec, "caBundle")) : "";
  }

  // curl's exit code for a TLS connection to the connector trusting `ca_file` (0: verified;
  // 60: the certificate did not verify).
  int CurlWith(const std::string& ca_file) {
    std::string host = "mcp-connector.kube-system.svc:" + std::to_string(tb_.port());
    std::string cmd = "timeout 20 curl -s -o /dev/null --cacert " + ca_file + " --resolve " + host +
                      ":127.0.0.1 https://" + host + "/livez";
    int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  Testbed tb_;
};

TEST_F(CARotationTest, RotatedFilesUpdateTheCABundleAndTheAggregatorFollows) {
  std::string tls_dir =
      (fs::temp_directory_path() / ("mcp-ca-rotation-" + std::to_string(getpid()))).string();
  fs::create_directories(tls_dir);
  std::string crt = tls_dir + "/tls.crt", key = tls_dir + "/tls.key", ca = tls_dir + "/ca.crt";
  Issued first = Issue("rotation-ca-1");
  WriteAtomically(key, first.leaf.key_pem.RevealCopy());
  WriteAtomically(crt, first.leaf.cert_pem);
  WriteAtomically(ca, first.ca.cert_pem);
  ASSERT_TRUE(tb_.Start([&](Options& o) {
    o.tls_cert_file = crt;
    o.tls_private_key_file = key;
    o.tls_ca_file = ca;
  }));
  EXPECT_EQ(APIServiceCABundle(), Base64(first.ca.cert_pem));
  EXPECT_EQ(tb_.connector().ca_bundle_pem(), first.ca.cert_pem);
  auto before = tb_.Kubectl("get kubernetesclusters -A");
  EXPECT_EQ(before.rc, 0) << before.err;
  std::string ca1_file = tb_.WriteFile("ca1.crt", first.ca.cert_pem);
  EXPECT_EQ(CurlWith(ca1_file), 0);

  // Rotation: a new CA and a new certificate (cert-manager renewing with a new issuer).
  Issued second = Issue("rotation-ca-2");
  WriteAtomically(key, second.leaf.key_pem.RevealCopy());
  WriteAtomically(crt, second.leaf.cert_pem);
  WriteAtomically(ca, second.ca.cert_pem);

  // The APIService's caBundle follows...
  EXPECT_TRUE(Eventually([&] { return APIServiceCABundle() == Base64(second.ca.cert_pem); }, 15s,
                         "caBundle rewritten to the new CA"))
      << APIServiceCABundle();
  EXPECT_EQ(tb_.connector().ca_bundle_pem(), second.ca.cert_pem);
  // ...the connector serves the new certificate (new connections verify against the new CA
  // only)...
  std::string ca2_file = tb_.WriteFile("ca2.crt", second.ca.cert_pem);
  EXPECT_TRUE(Eventually([&] { return CurlWith(ca2_file) == 0; }, 10s, "new certificate served"));
  EXPECT_EQ(CurlWith(ca1_file), 60);
  // ...and the aggregator, trusting the new caBundle, still reaches the connector.
  tb_.app().ClearRequests();
  EXPECT_TRUE(tb_.WaitAvailable(20s));
  auto after = tb_.Kubectl("get kubernetesclusters -A");
  EXPECT_EQ(after.rc, 0) << after.err;
  auto apply = tb_.Kubectl("apply -f " + tb_.WriteFile("c.yaml", ClaimYaml("rotated", "default")));
  EXPECT_EQ(apply.rc, 0) << apply.err;
  EXPECT_THAT(apply.out, HasSubstr("kubernetescluster.k8s.starter.org/rotated created"));
  EXPECT_TRUE(tb_.CpClaim("rotated", "default").ok());
  fs::remove_all(tls_dir);
}

}  // namespace
}  // namespace apiserver::testbed
