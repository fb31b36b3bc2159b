// The connector process: TLS listener + handler chain + router + proxy, delegated authn/authz
// against the app cluster, the served API set from discovery (or --api-file), and graceful
// shutdown.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "apiserver/options.h"
#include "kube/result.h"
#include "kube/tls.h"

namespace apiserver {

class Router;
class Metrics;

// The serving certificate: the files given by flags, or a self-signed one kept in `cert_dir`
// (its CA is created once and reused; the leaf is issued at each start).
struct ServingCertificate {
  std::shared_ptr<kube::tls::ServerCredential> credential;
  std::string ca_bundle_pem;  // what APIServices carry as caBundle
  std::string cert_file, key_file;
};
kube::Result<ServingCertificate> PrepareServingCertificate(const Options& options);

class ConnectorServer {
 public:
  explicit ConnectorServer(Options options);
  ~ConnectorServer();
  ConnectorServer(const ConnectorServer&) = delete;
  ConnectorServer& operator=(const ConnectorServer&) = delete;

  // Loads configuration, connects the clients, starts discovery and the listener. Returns the
  // bound port.
  kube::Result<uint16_t> Start();
  // Graceful stop: /readyz fails, (delay), the listener closes, requests in flight finish and
  // watches end cleanly within the grace period, discovery stops (lease released).
  void Shutdown();

  uint16_t port() const;
  // What the APIServices carry as caBundle now (follows certificate rotation).
  std::string ca_bundle_pem() const;
  const std::string& cluster_id() const;
  Router& router();
  Metrics& metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `mcp-connector serve`: runs until SIGTERM/SIGINT. Exit code.
int RunServe(const Options& options);
// `mcp-connector uninstall`: deletes every APIService this connector owns. Exit code.
int RunUninstall(const Options& options);

}  // namespace apiserver
