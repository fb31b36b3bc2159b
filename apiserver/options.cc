#include "apiserver/options.h"

#include <charconv>
#include <functional>
#include <limits>
#include <sstream>
#include <string_view>

namespace apiserver {
namespace {

using Setter = std::function<std::optional<std::string>(Options&, std::string_view)>;

struct Flag {
  std::string_view name;
  std::string_view value_name;  // empty: boolean flag
  std::string_view help;
  Setter set;
};

std::optional<std::string> SetInt(int& dst, std::string_view v, int min,
                                  int max = std::numeric_limits<int>::max()) {
  int x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return "invalid value \"" + std::string(v) + "\"";
  }
  if (x < min || x > max) {
    std::string range = max == std::numeric_limits<int>::max()
                            ? ">= " + std::to_string(min)
                            : std::to_string(min) + ".." + std::to_string(max);
    return "invalid value \"" + std::string(v) + "\" (must be " + range + ")";
  }
  dst = x;
  return std::nullopt;
}

std::optional<std::string> SetBool(bool& dst, std::string_view v) {
  if (v == "true" || v == "1" || v.empty()) {
    dst = true;
  } else if (v == "false" || v == "0") {
    dst = false;
  } else {
    return "invalid boolean \"" + std::string(v) + "\"";
  }
  return std::nullopt;
}

std::optional<std::string> SetDuration(std::chrono::milliseconds& dst, std::string_view v) {
  auto d = ParseDuration(v);
  if (!d) return "invalid duration \"" + std::string(v) + "\"";
  dst = *d;
  return std::nullopt;
}

std::vector<std::string> SplitList(std::string_view v) {
  std::vector<std::string> out;
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return out;
}

#define STR_FLAG(field)                                              \
  [](Options& o, std::string_view v) -> std::optional<std::string> { \
    o.field = std::string(v);                                        \
    return std::nullopt;                                             \
  }
#define LIST_FLAG(field)                                             \
  [](Options& o, std::string_view v) -> std::optional<std::string> { \
    o.field = SplitList(v);                                          \
    return std::nullopt;                                             \
  }

const std::vector<Flag>& Flags() {
  static const std::vector<Flag> flags = {
      {"bind-address", "IP", "Address to serve on (default 0.0.0.0).", STR_FLAG(bind_address)},
      {"secure-port", "PORT", "HTTPS port (default 8443; 0 picks a free port).",
       [](Options& o, std::string_view v) { return SetInt(o.secure_port, v, 0); }},
      {"cert-dir", "DIR",
       "Where the self-signed serving certificate and its CA are kept when --tls-cert-file is "
       "not given (default /tmp/mcp-connector/certificates).",
       STR_FLAG(cert_dir)},
      {"tls-cert-file", "FILE", "Serving certificate (PEM, chain allowed); reloaded on change.",
       STR_FLAG(tls_cert_file)},
      {"tls-private-key-file", "FILE", "Serving private key (PEM); reloaded on change.",
       STR_FLAG(tls_private_key_file)},
      {"tls-ca-file", "FILE",
       "CA bundle written into APIService caBundle with --tls-cert-file (default: the "
       "certificate file's chain).",
       STR_FLAG(tls_ca_file)},
      {"kubeconfig", "FILE", "App cluster kubeconfig (default: in-cluster service account).",
       STR_FLAG(kubeconfig)},
      {"control-plane-kubeconfig", "FILE", "Control plane kubeconfig (else the --spaces-* flags).",
       STR_FLAG(control_plane_kubeconfig)},
      {"spaces-host", "HOST", "Upbound Spaces host of the control plane.", STR_FLAG(spaces_host)},
      {"spaces-group", "NAME", "Spaces group (namespace) of the control plane.",
       STR_FLAG(spaces_group)},
      {"control-plane-name", "NAME", "Name of the control plane in Spaces.",
       STR_FLAG(control_plane_name)},
      {"token-file", "FILE", "Bearer token for Spaces (read from the file, reloaded).",
       STR_FLAG(token_file)},
      {"insecure-skip-tls-verify", "",
       "Do not verify the control plane's serving certificate (Spaces).",
       [](Options& o, std::string_view v) { return SetBool(o.insecure_skip_tls_verify, v); }},
      {"cluster-id", "ID",
       "This app cluster's ID (default: UID of the app cluster's kube-system namespace).",
       STR_FLAG(cluster_id)},
      {"claim-namespace", "NS",
       "Control-plane namespace the claims are kept in (default "
       "default).",
       STR_FLAG(claim_namespace)},
      {"service-namespace", "NS",
       "Namespace of the Service APIServices point at (default "
       "kube-system).",
       STR_FLAG(service_namespace)},
      {"service-name", "NAME", "Name of that Service (default mcp-connector).",
       STR_FLAG(service_name)},
      {"api-file", "FILE",
       "Static served-API set (a JSON/YAML list of APIResources, or Crossplane XRD and CRD "
       "YAML) served instead of discovering the control plane's XRDs; no APIService is "
       "registered then.",
       STR_FLAG(api_file)},
      {"leader-elect", "",
       "Only the holder of a Lease in the app cluster writes APIServices "
       "(default true).",
       [](Options& o, std::string_view v) { return SetBool(o.leader_election, v); }},
      {"requestheader-client-ca-file", "FILE",
       "CA for the front proxy's client certificate (overrides the ConfigMap).",
       STR_FLAG(requestheader_client_ca_file)},
      {"requestheader-allowed-names", "LIST",
       "Common names allowed for the front proxy's certificate (empty: any).",
       LIST_FLAG(requestheader_allowed_names)},
      {"requestheader-username-headers", "LIST", "User name headers (X-Remote-User).",
       LIST_FLAG(requestheader_username_headers)},
      {"requestheader-uid-headers", "LIST", "User UID headers (X-Remote-Uid).",
       LIST_FLAG(requestheader_uid_headers)},
      {"requestheader-group-headers", "LIST", "Group headers (X-Remote-Group).",
       LIST_FLAG(requestheader_group_headers)},
      {"requestheader-extra-headers-prefix", "LIST", "Extra header prefixes (X-Remote-Extra-).",
       LIST_FLAG(requestheader_extra_headers_prefix)},
      {"client-ca-file", "FILE", "CA for ordinary client certificates (overrides the ConfigMap).",
       STR_FLAG(client_ca_file)},
      {"authentication-skip-lookup", "",
       "Do not read kube-system/extension-apiserver-authentication; use the flags only.",
       [](Options& o, std::string_view v) { return SetBool(o.authentication_skip_lookup, v); }},
      {"authentication-token-webhook-cache-ttl", "DURATION",
       "How long TokenReview answers are cached (default 10s).",
       [](Options& o, std::string_view v) { return SetDuration(o.authentication_cache_ttl, v); }},
      {"authorization-webhook-cache-authorized-ttl", "DURATION",
       "How long SubjectAccessReview allows are cached (default 10s).",
       [](Options& o, std::string_view v) { return SetDuration(o.authorization_allow_ttl, v); }},
      {"authorization-webhook-cache-unauthorized-ttl", "DURATION",
       "How long SubjectAccessReview denials are cached (default 10s).",
       [](Options& o, std::string_view v) { return SetDuration(o.authorization_deny_ttl, v); }},
      {"max-requests-inflight", "N",
       "Non-long-running requests served at once; beyond it 429 with Retry-After (default 400).",
       [](Options& o, std::string_view v) { return SetInt(o.max_requests_inflight, v, 1); }},
      {"max-watches", "N", "Watches open at once; beyond it 429 (default 4096).",
       [](Options& o, std::string_view v) { return SetInt(o.max_watches, v, 1); }},
      {"request-timeout", "DURATION",
       "Deadline of a non-long-running request; beyond it 504 Timeout (default 60s).",
       [](Options& o, std::string_view v) { return SetDuration(o.request_timeout, v); }},
      {"watch-start-timeout", "DURATION",
       "Deadline for the control plane to accept a watch (connection and response head; never "
       "less than --request-timeout); the stream itself has none (default 60s).",
       [](Options& o, std::string_view v) { return SetDuration(o.watch_start_timeout, v); }},
      {"shutdown-grace-period", "DURATION",
       "After SIGTERM, how long in-flight requests get to finish before exit (default 25s).",
       [](Options& o, std::string_view v) { return SetDuration(o.shutdown_grace_period, v); }},
      {"shutdown-delay-duration", "DURATION",
       "After SIGTERM, how long /readyz fails while still serving, before the listener closes "
       "(default 0s).",
       [](Options& o, std::string_view v) { return SetDuration(o.shutdown_delay, v); }},
      {"read-header-timeout", "DURATION",
       "A client must send the whole request head within this, else the connection is closed "
       "(default 32s).",
       [](Options& o, std::string_view v) { return SetDuration(o.read_header_timeout, v); }},
      {"idle-connection-timeout", "DURATION",
       "A keep-alive connection with no request in progress is closed after this (default 90s).",
       [](Options& o, std::string_view v) { return SetDuration(o.idle_connection_timeout, v); }},
      {"io-threads", "N",
       "Threads running the HTTPS server, 1..64 (default 2); each serves its own connections. "
       "Requests are light and wait mostly on the control plane, so 2 threads serve thousands "
       "of requests per second; raise it only with more than 2 CPUs and large LISTs (Table "
       "conversion and TLS are CPU-bound).",
       [](Options& o, std::string_view v) { return SetInt(o.io_threads, v, 1, 64); }},
      {"v", "LEVEL", "Log verbosity (2: access log; 4: debug).",
       [](Options& o, std::string_view v) { return SetInt(o.verbosity, v, 0); }},
  };
  return flags;
}

#undef STR_FLAG
#undef LIST_FLAG

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  // A plain number means seconds.
  bool plain = s.find_first_not_of("0123456789") == std::string_view::npos;
  if (plain) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc()) return std::nullopt;
    return std::chrono::milliseconds(n * 1000);
  }
  double total_ms = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    double n = 0;
    try {
      n = std::stod(std::string(s.substr(0, i)));
    } catch (...) {
      return std::nullopt;
    }
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !((s[j] >= '0' && s[j] <= '9') || s[j] == '.')) ++j;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    if (unit == "ms") {
      total_ms += n;
    } else if (unit == "s") {
      total_ms += n * 1000;
    } else if (unit == "m") {
      total_ms += n * 60'000;
    } else if (unit == "h") {
      total_ms += n * 3'600'000;
    } else {
      return std::nullopt;
    }
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms));
}

std::optional<std::string> ParseOptions(const std::vector<std::string>& args, Options& out,
                                        bool& help) {
  help = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--help" || a == "-h") {
      help = true;
      return std::nullopt;
    }
    if (a.size() < 2 || a[0] != '-') return "unexpected argument \"" + std::string(a) + "\"";
    a.remove_prefix(a[1] == '-' ? 2 : 1);
    std::string_view name = a;
    std::optional<std::string_view> value;
    if (size_t eq = a.find('='); eq != std::string_view::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    const Flag* flag = nullptr;
    for (const Flag& f : Flags()) {
      if (f.name == name) flag = &f;
    }
    if (flag == nullptr) return "unknown flag: --" + std::string(name);
    if (!value) {
      if (flag->value_name.empty()) {
        value = "true";
      } else {
        if (i + 1 >= args.size()) return "flag needs an argument: --" + std::string(name);
        value = args[++i];
      }
    }
    if (auto err = flag->set(out, *value)) return *err + " for flag --" + std::string(name);
  }
  if (out.tls_cert_file.empty() != out.tls_private_key_file.empty()) {
    return "--tls-cert-file and --tls-private-key-file must be given together";
  }
  if (!out.control_plane_kubeconfig.empty() && !out.spaces_host.empty()) {
    return "give either --control-plane-kubeconfig or --spaces-host, not both";
  }
  if (!out.spaces_host.empty() && (out.spaces_group.empty() || out.control_plane_name.empty())) {
    return "--spaces-host needs --spaces-group and --control-plane-name";
  }
  return std::nullopt;
}

std::string OptionsHelp() {
  constexpr size_t kIndent = 44, kWidth = 100;
  std::ostringstream os;
  for (const Flag& f : Flags()) {
    std::string left = "  --" + std::string(f.name);
    if (!f.value_name.empty()) left += " " + std::string(f.value_name);
    os << left;
    size_t col = left.size();
    if (col >= kIndent) {
      os << "\n";
      col = 0;
    }
    // Word-wrap the help text into the right-hand column.
    std::string_view text = f.help;
    bool first = true;
    while (!text.empty()) {
      size_t room = kWidth - kIndent;
      size_t cut = text.size() <= room ? text.size() : text.rfind(' ', room);
      if (cut == std::string_view::npos || cut == 0) cut = std::min(room, text.size());
      os << std::string(first ? kIndent - col : kIndent, ' ') << text.substr(0, cut) << "\n";
      text.remove_prefix(cut);
      while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
      first = false;
    }
  }
  return os.str();
}

}  // namespace apiserver
