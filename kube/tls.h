// TLS material and contexts: a self-signed CA and CA-signed leaf certificates (EC P-256, PEM),
// server contexts that request (but do not verify) client certificates, client contexts with
// SNI + host name verification, client-certificate verification for authenticators, and a
// server credential reloaded when its files change (certificate rotation).
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kube/result.h"
#include "kube/secret.h"

namespace kube::tls {

namespace asio = boost::asio;

// A certificate and its private key, both PEM.
struct KeyPair {
  std::string cert_pem;
  SecretString key_pem;
};

struct CertificateSpec {
  std::string common_name;
  std::vector<std::string> organizations;  // subject O= entries (groups for client certs)
  std::vector<std::string> dns_names;      // subjectAltName DNS
  std::vector<std::string> ip_addresses;   // subjectAltName IP ("127.0.0.1", "::1")
  bool server_auth = true;                 // extendedKeyUsage serverAuth
  bool client_auth = false;                // extendedKeyUsage clientAuth
  std::chrono::seconds validity = std::chrono::hours(24 * 365);
  // Backdates notBefore (clock skew), like kube's cert helpers.
  std::chrono::seconds not_before_skew = std::chrono::hours(1);
};

// A self-signed CA (basicConstraints CA:TRUE, keyCertSign).
Result<KeyPair> GenerateCA(std::string_view common_name,
                           std::chrono::seconds validity = std::chrono::hours(24 * 3650));
// A leaf certificate signed by `ca`.
Result<KeyPair> GenerateSigned(const KeyPair& ca, const CertificateSpec& spec);

// File helpers (whole files). WriteFile creates parent directories and sets `mode`.
Result<std::string> ReadFile(const std::string& path);
Outcome WriteFile(const std::string& path, std::string_view data, unsigned mode = 0600);

// PEM certificate(s) -> DER, leaf first. Error when none parse.
Result<std::vector<std::string>> PemToDer(std::string_view cert_pem);

// Identity from a verified client certificate.
struct PeerIdentity {
  std::string common_name;                 // subject CN (user name)
  std::vector<std::string> organizations;  // subject O entries (groups)
};

// Verifies a presented chain (DER, leaf first, intermediates after it) against the CA bundle
// (PEM, one or more certificates): signature chain, validity period, and the clientAuth usage.
// 401-style Status (NewUnauthorized) with the reason when it fails.
Result<PeerIdentity> VerifyClientCertificate(const std::vector<std::string>& chain_der,
                                             std::string_view ca_bundle_pem);

// SHA-256 over a certificate chain (DER, leaf first), each certificate prefixed by its length so
// that no two different chains hash the same input; empty on an internal error.
std::string CertificateChainDigest(const std::vector<std::string>& chain_der);

// VerifyClientCertificate against a CA bundle parsed once, with answers cached: on a keep-alive
// connection the peer chain cannot change, so the per-request cost is a hash lookup (with the
// chain's digest computed once per connection) instead of a parse + signature check (~2.5 M
// instructions). The cache is a bounded LRU
// keyed by SHA-256 of the whole chain (length-prefixed DER); an entry lives for at most
// `cache_ttl` and never past the leaf's notAfter; failures are cached too (same bound), so a
// caller presenting an untrusted certificate does not cost a verification per request either.
// A new CA bundle means a new verifier (and so an empty cache). Thread-safe.
class ClientCertificateVerifier {
 public:
  static constexpr size_t kDefaultMaxEntries = 1024;
  static Result<std::shared_ptr<const ClientCertificateVerifier>> Create(
      std::string ca_bundle_pem, std::chrono::seconds cache_ttl = std::chrono::seconds(10),
      size_t max_entries = kDefaultMaxEntries);
  ~ClientCertificateVerifier();
  // `cache_hit`, when given, tells whether the answer came from the cache. `chain_digest`, when
  // not empty, is CertificateChainDigest(chain_der), computed once per connection by the caller
  // (the cache key: hashing the chain is most of the cost of a cache hit).
  Result<PeerIdentity> Verify(const std::vector<std::string>& chain_der, bool* cache_hit = nullptr,
                              std::string_view chain_digest = {}) const;
  const std::string& ca_bundle_pem() const { return ca_bundle_pem_; }
  // Full (uncached) verifications done so far.
  uint64_t verifications() const { return verifications_.load(std::memory_order_relaxed); }

 private:
  ClientCertificateVerifier() = default;
  struct Cache;
  std::string ca_bundle_pem_;
  void* store_ = nullptr;  // X509_STORE*
  std::chrono::seconds ttl_{10};
  std::unique_ptr<Cache> cache_;
  mutable std::atomic<uint64_t> verifications_{0};
};

// A server context: TLS 1.2+, the given certificate chain and key, client certificates requested
// but not verified at the TLS layer (the handshake accepts any certificate or none).
Result<std::shared_ptr<asio::ssl::context>> MakeServerContext(std::string_view cert_pem,
                                                              const SecretString& key_pem);

struct ClientTLSOptions {
  std::string ca_pem;  // trusted CAs; empty = system default paths
  bool insecure_skip_verify = false;
  std::string client_cert_pem;  // optional client certificate (chain)
  SecretString client_key_pem;
};
// A client context (TLS 1.2+). The peer host name is verified per connection with
// ConfigureClientStream-style SNI + asio::ssl::host_name_verification (see rest_client).
Result<std::shared_ptr<asio::ssl::context>> MakeClientContext(const ClientTLSOptions& options);

// The serving certificate, swappable at run time. New connections take Current(); established
// connections keep the context they started with.
class ServerCredential {
 public:
  // Fixed credential (never reloads).
  static Result<std::shared_ptr<ServerCredential>> FromPem(std::string cert_pem,
                                                           SecretString key_pem);
  // Files watched for changes (mtime/size), checked at most every `check_interval` from
  // Current(). A broken new pair is logged and the previous context kept.
  static Result<std::shared_ptr<ServerCredential>> FromFiles(
      std::string cert_path, std::string key_path,
      std::chrono::milliseconds check_interval = std::chrono::seconds(1));

  // The context for a new connection (checks the files when the interval has passed).
  std::shared_ptr<asio::ssl::context> Current();
  // Forces a check now; true when a new pair was loaded.
  bool ReloadIfChanged();
  // Increments each time a new pair is loaded (1 after construction).
  uint64_t generation() const { return generation_.load(); }
  std::string cert_pem() const;  // the PEM currently served

 private:
  ServerCredential() = default;
  struct FileStamp {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    bool operator==(const FileStamp&) const = default;
  };
  static FileStamp Stamp(const std::string& path);

  std::string cert_path_, key_path_;
  std::chrono::milliseconds check_interval_{1000};
  std::atomic<int64_t> next_check_ns_{0};
  std::atomic<uint64_t> generation_{0};
  mutable std::mutex mu_;  // guards below
  std::shared_ptr<asio::ssl::context> ctx_;
  std::string cert_pem_;
  FileStamp cert_stamp_, key_stamp_;
};

}  // namespace kube::tls
