// Where and how to reach a Kubernetes API server (client-go's rest.Config), loaded from a
// kubeconfig, from the in-cluster service account, or built for an Upbound Spaces control plane.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "kube/result.h"
#include "kube/secret.h"

namespace kube {

struct ClusterConfig {
  // https://host[:port][/path-prefix]; requests are sent to prefix + path.
  std::string server;
  std::string ca_pem;  // trusted CAs (PEM); empty = system defaults
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  // SNI + verified name; empty = the URL's host
  std::string client_cert_pem;
  SecretString client_key_pem;
  SecretString bearer_token;
  std::string token_file;  // when set, read at first use and re-read whenever it changes
  std::string user_agent = "mcp-connector";
  // Defaults for the REST client.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);  // non-streaming calls
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);  // TCP + TLS handshake
  size_t max_idle_connections = 128;  // kept-alive connections in the pool
  // Connections being established at once (0: no limit); see kube/dial_gate.h.
  size_t max_concurrent_dials = 128;
  // A new connection's socket lives on the executor of the request that opens it, and an idle
  // connection is handed only to a request running on that same execution context: with one
  // io_context per io thread (kube/http_server.h), a request's upstream I/O stays on its thread.
  // The callers' contexts must outlive the client's pooled connections. Off: sockets live on
  // the executor given to RestClient::Create.
  bool pool_per_caller_context = false;
};

// Spaces control plane API URL:
// https://<host>/apis/spaces.upbound.io/v1beta1/namespaces/<group>/controlplanes/<name>/k8s
std::string SpacesServerURL(std::string_view host, std::string_view group,
                            std::string_view control_plane);

// Loads `path` (context: empty = current-context). Relative file paths in it are resolved
// against the file's directory. 400-style Status with the reason on any error (never throws).
Result<ClusterConfig> LoadKubeconfig(const std::string& path, std::string_view context = {});
// Same from text; `base_dir` resolves relative paths.
Result<ClusterConfig> LoadKubeconfigFromString(std::string_view yaml, std::string_view base_dir,
                                               std::string_view context = {});

// In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, CA and token (token_file,
// so rotation is picked up) from `sa_dir`.
Result<ClusterConfig> InClusterConfig(
    std::string_view sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

struct KubeconfigSpec {
  std::string server;
  std::string ca_pem;  // written as certificate-authority-data; empty = omitted
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string token;            // user token (or)
  std::string token_file;       // user tokenFile (or)
  std::string client_cert_pem;  // client-certificate-data + client-key-data
  std::string client_key_pem;
  std::string name = "default";  // cluster, user and context name
  std::string namespace_;        // context namespace; empty = omitted
};
// Renders a kubeconfig with one cluster/user/context, current-context set.
std::string RenderKubeconfig(const KubeconfigSpec& spec);
// Writes RenderKubeconfig(spec) to `path` with mode 0600.
Outcome WriteKubeconfig(const std::string& path, const KubeconfigSpec& spec);

}  // namespace kube
