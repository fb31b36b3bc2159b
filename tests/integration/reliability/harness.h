// Reliability test harness: fakekube as the control plane and as the app cluster (aggregator
// role: front-proxy CA, extension-apiserver-authentication ConfigMap, SubjectAccessReview), an
// in-process ConnectorServer between them serving the served-API set from the Crossplane fixtures
// (--api-file), and a blocking raw TLS/HTTP/1.1 client that talks to the connector the way the
// aggregator does (front-proxy client certificate + X-Remote-* headers), able to send malformed
// input, read watch streams chunk by chunk, and tell a clean end of stream from a cut one.
// Every wait is bounded.
#pragma once

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/options.h"
#include "apiserver/server.h"
#include "tests/fakekube/server.h"

namespace reliability {

using namespace std::chrono_literals;

inline const std::string kClusterID = "0d5e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
inline const std::string kOtherClusterID = "ffffffff-eeee-dddd-cccc-bbbbbbbbbbbb";
inline const std::string kClaimNamespace = "claims";
inline const std::string kGroupVersion = "k8s.starter.org/v1alpha1";
inline const std::string kGroup = "k8s.starter.org";
inline const std::string kResource = "kubernetesclusters";

// "/apis/k8s.starter.org/v1alpha1/namespaces/<ns>/kubernetesclusters[/<name>]" (app side).
std::string ClaimsPath(const std::string& ns, const std::string& name = "");
// The same collection in the control plane's claim namespace.
std::string ControlPlaneClaimsPath(const std::string& name = "");
std::string ControlPlaneName(const std::string& name, const std::string& ns,
                             const std::string& cluster_id = kClusterID);
// A claim body as a user writes it.
std::string ClaimJson(const std::string& name, const std::string& ns, int nodes = 3);

::testing::AssertionResult Eventually(const std::function<bool()>& pred,
                                      std::chrono::milliseconds timeout, const std::string& what);

struct HttpResponse {
  int status = 0;                              // 0: no response (connection closed / timed out)
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  bool clean_end = false;  // the body ended as framed (last chunk / full length)
  std::string Header(const std::string& name) const;
  // metav1.Status fields (empty when the body is not a Status).
  std::string Reason() const;
  std::string Message() const;
};

struct Identity {
  bool front_proxy = true;  // present the front-proxy client certificate
  std::string user = "admin";
  std::vector<std::string> groups = {"system:masters"};
};

// One TLS connection to the connector. Blocking calls, each bounded by a deadline.
class Client {
 public:
  Client(uint16_t port, std::string ca_pem, std::string client_cert_pem = "",
         std::string client_key_pem = "");
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // TCP connect + TLS handshake. False on failure (refused, handshake failed: see error()).
  bool Connect(std::chrono::milliseconds timeout = 5s);
  bool connected() const { return ssl_ != nullptr; }
  const std::string& error() const { return error_; }
  // Subject CN of the certificate the server presented.
  std::string PeerCommonName() const;

  bool SendRaw(std::string_view bytes, std::chrono::milliseconds timeout = 5s);
  // Sends one request (HTTP/1.1, keep-alive) with the identity headers and reads the whole
  // response.
  HttpResponse Do(const std::string& method, const std::string& target,
                  const std::string& body = "", std::map<std::string, std::string> headers = {},
                  std::chrono::milliseconds timeout = 10s);
  std::string BuildRequest(const std::string& method, const std::string& target,
                           const std::string& body, std::map<std::string, std::string> headers);

  // Reads a response head only (for streams); status 0 on failure.
  HttpResponse ReadHead(std::chrono::milliseconds timeout);
  // Whole response (head + body).
  HttpResponse ReadResponse(std::chrono::milliseconds timeout);
  // Watch streams: the next newline-terminated JSON event of a chunked body; nullopt at the end
  // (then stream_ended_cleanly() tells whether the terminating chunk arrived) or on timeout
  // (timed_out()).
  std::optional<std::string> NextEvent(std::chrono::milliseconds timeout);
  bool stream_ended_cleanly() const { return stream_clean_end_; }
  bool timed_out() const { return timed_out_; }
  // True when the peer closes the connection within `timeout` (reads return EOF/reset).
  bool WaitClosedByPeer(std::chrono::milliseconds timeout);

  Identity identity;

 private:
  bool Fill(std::chrono::steady_clock::time_point deadline);  // reads more into buf_
  bool ReadChunkedBody(HttpResponse& r, std::chrono::steady_clock::time_point deadline);
  std::optional<std::string> NextChunk(std::chrono::steady_clock::time_point deadline);
  void Close();

  uint16_t port_;
  std::string ca_pem_, cert_pem_, key_pem_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
  std::string events_;  // undelivered watch bytes
  bool eof_ = false, timed_out_ = false, stream_done_ = false, stream_clean_end_ = false;
  std::string error_;
};

// Faults for fakekube (designated initializers of partial structs trip -Wextra on g++ 12).
inline fakekube::Fault DelayFault(std::string method, std::string path_prefix,
                                  std::chrono::milliseconds delay) {
  fakekube::Fault f;
  f.method = std::move(method);
  f.path_prefix = std::move(path_prefix);
  f.delay = delay;
  return f;
}
inline fakekube::Fault StatusFault(std::string path_prefix, int status) {
  fakekube::Fault f;
  f.path_prefix = std::move(path_prefix);
  f.status = status;
  return f;
}

class Env {
 public:
  struct Config {
    // Applied to the connector's options before it starts.
    std::function<void(apiserver::Options&)> tweak;
    // The app cluster's authorization policy (fakekube YAML); default: masters + "alice".
    std::string policy;
    bool start_connector = true;
    // The control plane serves its certificate from files so that a test can rotate it
    // (FakeKube::RotateServingCertificate).
    bool rotatable_control_plane_certificate = false;
  };
  explicit Env(Config config);
  static Config Tweaked(std::function<void(apiserver::Options&)> tweak) {
    Config c;
    c.tweak = std::move(tweak);
    return c;
  }
  static Config WithoutConnector() {
    Config c;
    c.start_connector = false;
    return c;
  }
  Env() : Env(Config{}) {}
  ~Env();

  // Starts both fakekubes and (unless disabled) the connector; waits until it is ready to
  // authenticate the front proxy.
  void Start();
  apiserver::Options BaseOptions() const;
  // Starts a connector with `o` (after a previous one was stopped); waits for authentication.
  void StartConnector(apiserver::Options o);
  void StopConnector();

  std::unique_ptr<Client> NewClient(Identity id = {});
  // One request on a fresh connection.
  HttpResponse Do(const std::string& method, const std::string& target,
                  const std::string& body = "", std::map<std::string, std::string> headers = {},
                  Identity id = {}, std::chrono::milliseconds timeout = 10s);

  // The claim namespace of the control plane as "name@resourceVersion" lines (sorted): equal
  // before/after means nothing was created, changed or deleted there.
  std::string ClaimNamespaceState();
  // Writes (POST/PUT/PATCH/DELETE) the control plane received since the last ClearRequests.
  std::vector<fakekube::RecordedRequest> ControlPlaneWrites() const;
  // Seeds a claim directly in the control plane (as the connector would write it, or with
  // whatever labels are given).
  void SeedControlPlaneClaim(const std::string& cp_name,
                             const std::map<std::string, std::string>& labels);

  // /metrics of the connector (scraped over HTTPS as the admin); -1 when absent.
  double Metric(const std::string& sample);
  // Connections/streams/watches back to zero (beyond the scrape's own connection), upstream
  // watches closed.
  ::testing::AssertionResult NoLeaks(std::chrono::milliseconds timeout = 10s);

  std::unique_ptr<fakekube::FakeKube> cp, app;
  std::unique_ptr<apiserver::ConnectorServer> connector;
  std::string dir;
  uint16_t port = 0;
  std::string ca_pem;  // the connector's serving CA

 private:
  Config config_;
};

}  // namespace reliability
