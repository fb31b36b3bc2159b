// Command-line options of `mcp-connector serve` (and `uninstall`), with their defaults and help.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace apiserver {

struct Options {
  // Serving.
  std::string bind_address = "0.0.0.0";
  int secure_port = 8443;
  std::string cert_dir = "/tmp/mcp-connector/certificates";
  std::string tls_cert_file;
  std::string tls_private_key_file;

  // Clusters.
  std::string kubeconfig;                // app cluster; empty: in-cluster service account
  std::string control_plane_kubeconfig;  // control plane; else the Spaces flags below
  std::string spaces_host;
  std::string spaces_group;
  std::string control_plane_name;
  std::string token_file;
  bool insecure_skip_tls_verify = false;

  // Identity of this connector.
  std::string cluster_id;  // empty: the UID of the app cluster's kube-system namespace
  std::string claim_namespace = "default";
  std::string service_namespace = "kube-system";
  std::string service_name = "mcp-connector";
  // Static served-API set (JSON/YAML list of APIResources, or XRD+CRD YAML): served instead of
  // discovering the control plane's XRDs; no APIService is registered then.
  std::string api_file;
  std::string tls_ca_file;  // caBundle for APIServices with --tls-cert-file (default: that chain)
  bool leader_election = true;

  // Delegated authentication overrides (else from kube-system/extension-apiserver-authentication).
  std::string requestheader_client_ca_file;
  std::optional<std::vector<std::string>> requestheader_allowed_names;
  std::optional<std::vector<std::string>> requestheader_username_headers;
  std::optional<std::vector<std::string>> requestheader_uid_headers;
  std::optional<std::vector<std::string>> requestheader_group_headers;
  std::optional<std::vector<std::string>> requestheader_extra_headers_prefix;
  std::string client_ca_file;
  bool authentication_skip_lookup = false;  // don't read the ConfigMap
  std::chrono::milliseconds authentication_cache_ttl{std::chrono::seconds(10)};
  std::chrono::milliseconds authorization_allow_ttl{std::chrono::seconds(10)};
  std::chrono::milliseconds authorization_deny_ttl{std::chrono::seconds(10)};

  // Limits and shutdown.
  int max_requests_inflight = 400;
  int max_watches = 4096;
  std::chrono::milliseconds request_timeout{std::chrono::seconds(60)};
  // A watch's start (control-plane connection and response head); never less than the above.
  std::chrono::milliseconds watch_start_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds shutdown_grace_period{std::chrono::seconds(25)};
  std::chrono::milliseconds shutdown_delay{std::chrono::seconds(0)};  // readyz fails, still serving
  // Per connection: the request head must arrive within this (slow clients are closed), and a
  // keep-alive connection with no request in progress is closed after the idle timeout.
  std::chrono::milliseconds read_header_timeout{std::chrono::seconds(32)};
  std::chrono::milliseconds idle_connection_timeout{std::chrono::seconds(90)};

  // Threads of the HTTPS server, each with its own io_context and connections. 2 by default:
  // one thread can keep serving while the other does CPU-bound work (a large LIST's
  // translation, TLS handshakes). kube-apiserver uses GOMAXPROCS (all CPUs); set this to the
  // pod's CPU limit when it is larger than 2.
  int io_threads = 2;

  int verbosity = 0;  // -v
};

// Parses flags after the sub-command. On error returns a message (the caller prints it and exits
// 2). `--help` sets *help.
std::optional<std::string> ParseOptions(const std::vector<std::string>& args, Options& out,
                                        bool& help);

// The flags reference printed by --help.
std::string OptionsHelp();

// "30s", "1m30s", "500ms", "2h", or a plain number of seconds.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s);

}  // namespace apiserver
