// FakeKube: the composition root of fakekube, a small kube-apiserver for tests and the demo.
// It wires the handler chain kube-apiserver runs (fault injection -> authentication ->
// RequestInfo -> authorization -> aggregated proxy -> discovery / OpenAPI / health / version /
// TokenReview / SubjectAccessReview / resources) over HTTPS, and offers an in-process API for
// tests: start on port 0, seed objects, record requests, wait, and inject faults.
//
//   fakekube::FakeKube kube({});
//   ASSERT_TRUE(kube.Start().ok());
//   kube.Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n");
//   kube::ClusterConfig admin = kube.AdminConfig();   // client cert in system:masters
//   Fault f;
//   f.path_prefix = "/apis/k8s.starter.org";
//   f.status = 503;
//   f.times = 1;
//   kube.AddFault(f);
//
// gtest-flavoured waits (testing::AssertionResult) live in tests/fakekube/testing/.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/http.h"
#include "kube/kubeconfig.h"
#include "kube/result.h"
#include "kube/tls.h"
#include "tests/fakekube/auth.h"
#include "tests/fakekube/namespace_controller.h"
#include "tests/fakekube/resource_handler.h"
#include "tests/fakekube/store.h"

namespace fakekube {

class Registry;

struct FakeKubeOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0 = a free port
  // Aggregator role: route /apis/<g>/<v> of APIServices with a service, keep their status,
  // merge their discovery and OpenAPI.
  bool aggregator = false;
  std::chrono::milliseconds availability_interval = std::chrono::seconds(2);
  std::chrono::milliseconds availability_timeout = std::chrono::seconds(5);

  std::string token_file;           // kube's CSV token file
  std::vector<StaticToken> tokens;  // more tokens (in-process)
  std::string policy_file;          // "" and no `policy` = allow all
  std::optional<Policy> policy;
  bool anonymous_auth = true;
  std::string data_file;     // persistence ("" = none)
  std::string fixtures_dir;  // every *.yaml applied in name order at start
  // Where CA/cert files are written ("" = not written; everything stays in memory).
  std::string cert_dir;

  // The namespace controller (kube-controller-manager's): a namespace's DELETE marks it
  // Terminating; the controller deletes its content (aggregated APIs included) and then it.
  bool namespace_controller = true;
  NamespaceController::Options namespace_controller_options;

  Store::Options store;  // data_file above overrides store.data_file when set
  ResourceHandler::Options handler;
  std::string version = "v1.32.0";  // gitVersion of /version
  // Serve the certificate from files in a private temporary directory so that
  // RotateServingCertificate() can replace it while connections stay open.
  bool rotatable_serving_certificate = false;
};

// One request as fakekube saw it.
struct RecordedRequest {
  uint64_t id = 0;
  std::string method;
  std::string path;             // decoded
  std::string raw_query;        // as received
  kube::http::Headers headers;  // Authorization redacted to "Bearer <redacted>"
  std::string body;
  std::string user;  // authenticated user ("" when authentication failed)
  std::vector<std::string> groups;
  std::string verb;  // RequestInfo verb ("" for failed parses)
  std::string group, version, resource, subresource, ns, name;
  int status = 0;     // response status, 0 while in flight
  bool done = false;  // response finished
  std::chrono::steady_clock::time_point received_at;
};
using RequestPredicate = std::function<bool(const RecordedRequest&)>;

// Fault injection: the first matching fault (in insertion order) applies to a request.
struct Fault {
  std::string method;                  // "" = any
  std::string path_prefix;             // "" = any (matched against the decoded path)
  std::string verb;                    // RequestInfo verb ("watch", "list", ...); "" = any
  std::chrono::milliseconds delay{0};  // wait before handling
  int status = 0;  // answer this code with a kube Status body instead of handling (e.g. 503)
  // End the response abruptly after this long (the connection closes without the last chunk):
  // "drop the connection mid-watch".
  std::optional<std::chrono::milliseconds> drop_after;
  int times = -1;  // apply to this many requests; -1 = until removed
};

class FakeKube {
 public:
  explicit FakeKube(FakeKubeOptions options);
  ~FakeKube();  // Stop()
  FakeKube(const FakeKube&) = delete;
  FakeKube& operator=(const FakeKube&) = delete;

  // Generates the CAs and certificates, loads data/fixtures, binds and serves. Errors for bad
  // token/policy files, fixtures or a port in use.
  kube::Outcome Start();
  void Stop();  // graceful (watches end cleanly), idempotent

  uint16_t port() const;
  std::string url() const;            // https://127.0.0.1:<port>
  const std::string& ca_pem() const;  // the serving CA
  const std::string& client_ca_pem() const;
  const kube::tls::KeyPair& client_ca() const;
  const std::string& front_proxy_ca_pem() const;
  const kube::tls::KeyPair& front_proxy_client() const;  // CN front-proxy-client

  // Clients: admin (client certificate CN kubernetes-admin, O system:masters), a token user, or
  // a client certificate for any user.
  kube::ClusterConfig AdminConfig() const;
  kube::ClusterConfig TokenConfig(std::string_view token) const;
  kube::Result<kube::ClusterConfig> CertConfig(std::string_view user,
                                               std::vector<std::string> groups) const;
  kube::Outcome WriteKubeconfig(const std::string& path) const;  // admin kubeconfig

  Store& store();
  Registry& registry();
  Authenticator& authenticator();
  Authorizer& authorizer();

  // Seeding (as the admin, through the same code as a request: defaulting, CRD establishment).
  // Apply creates or replaces every object of a (multi-document) YAML/JSON text.
  kube::Outcome Apply(std::string_view yaml);
  kube::Outcome ApplyFile(const std::string& path);
  kube::Result<Object> Get(std::string_view group, std::string_view resource, std::string_view ns,
                           std::string_view name) const;
  // Runs one request through the whole handler chain in-process; returns status and body.
  struct LocalResponse {
    int status = 0;
    kube::http::Headers headers;
    std::string body;
  };
  LocalResponse Do(std::string method, std::string target, std::string body = {},
                   std::string content_type = "application/json");

  // Recording.
  std::vector<RecordedRequest> Requests() const;
  std::vector<RecordedRequest> Requests(const RequestPredicate& pred) const;
  void ClearRequests();
  // Waits (polling) until a recorded request matches (done or not); false on timeout.
  bool WaitForRequest(const RequestPredicate& pred, std::chrono::milliseconds timeout,
                      RecordedRequest* out = nullptr) const;
  // Waits until the object (null when absent) satisfies `pred`; false on timeout.
  bool WaitForObject(std::string_view group, std::string_view resource, std::string_view ns,
                     std::string_view name,
                     const std::function<bool(const kube::json::Value* obj)>& pred,
                     std::chrono::milliseconds timeout) const;

  // Faults.
  int AddFault(Fault fault);
  void RemoveFault(int id);
  void ClearFaults();
  // Every resourceVersion up to now becomes "too old": watches and continue tokens get 410.
  void ExpireResourceVersions();
  // Closes the listener (connections are refused) and every connection; false reopens it on the
  // same port.
  kube::Outcome SetRefuseConnections(bool refuse);
  // Ends every open watch/stream abruptly now (connections closed without the last chunk).
  void DropStreams();
  int open_watches() const;
  // Certificate rotation (needs FakeKubeOptions::rotatable_serving_certificate): a new serving
  // certificate (new key, same names) for new connections, signed by the same CA or by a new one
  // (ca_pem() then returns the new CA: copy it, the reference changes). Established connections
  // keep the certificate they were opened with. Call from a test thread, not concurrently with
  // ca_pem()/WriteKubeconfig().
  kube::Outcome RotateServingCertificate(bool new_ca);
  // The namespace controller (null when disabled or not started).
  NamespaceController* namespace_controller();

  // Aggregator (when enabled): forces an availability check of every APIService now and waits
  // for it.
  void CheckAPIServicesNow();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Splits a multi-document YAML stream ("---" separators) into documents, skipping empty ones.
std::vector<std::string> SplitYamlDocuments(std::string_view yaml);

}  // namespace fakekube
