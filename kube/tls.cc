#include "kube/tls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <sstream>
#include <unordered_map>

#include <glog/logging.h>

namespace kube::tls {
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
void FreeX509Stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), FreeX509Stack>>;

std::string OpenSSLError() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Status TlsError(std::string_view what) {
  return NewInternalError(std::string(what) + ": " + OpenSSLError());
}

std::string BioToString(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  return mem != nullptr ? std::string(mem->data, mem->length) : std::string();
}

Result<PkeyPtr> LoadKey(const SecretString& key_pem) {
  PkeyPtr key(key_pem.With([](std::string_view pem) -> EVP_PKEY* {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return nullptr;
    return PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  }));
  if (!key) return TlsError("cannot parse private key");
  return key;
}

Result<X509Ptr> LoadCert(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return TlsError("cannot parse certificate");
  return cert;
}

Result<SecretString> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return TlsError("cannot encode private key");
  }
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio.get(), &mem);
  SecretString out(std::string_view(mem->data, mem->length));
  OPENSSL_cleanse(mem->data, mem->length);
  return out;
}

Result<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return TlsError("cannot encode certificate");
  return BioToString(bio.get());
}

bool AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

bool SetSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return false;
  bytes[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(bytes, sizeof(bytes), nullptr);
  if (bn == nullptr) return false;
  bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

bool AddName(X509_NAME* name, const char* field, std::string_view value) {
  return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(value.data()),
                                    static_cast<int>(value.size()), -1, 0) == 1;
}

// A certificate skeleton: version 3, serial, validity, key, subject.
Result<X509Ptr> NewCert(EVP_PKEY* key, std::string_view cn, const std::vector<std::string>& orgs,
                        std::chrono::seconds validity, std::chrono::seconds skew) {
  X509Ptr cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), 2) || !SetSerial(cert.get())) {
    return TlsError("cannot create certificate");
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -static_cast<long>(skew.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(validity.count()));
  if (!X509_set_pubkey(cert.get(), key)) return TlsError("cannot set public key");
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& o : orgs) {
    if (!AddName(name, "O", o)) return TlsError("cannot set subject O");
  }
  if (!cn.empty() && !AddName(name, "CN", cn)) return TlsError("cannot set subject CN");
  return cert;
}

}  // namespace

Result<KeyPair> GenerateCA(std::string_view common_name, std::chrono::seconds validity) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return TlsError("cannot generate EC key");
  auto cert = NewCert(key.get(), common_name, {}, validity, std::chrono::hours(1));
  if (!cert.ok()) return std::move(cert).error();
  X509* c = cert->get();
  if (!X509_set_issuer_name(c, X509_get_subject_name(c)) ||
      !AddExt(c, c, NID_basic_constraints, "critical,CA:TRUE") ||
      !AddExt(c, c, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign") ||
      !AddExt(c, c, NID_subject_key_identifier, "hash") || !X509_sign(c, key.get(), EVP_sha256())) {
    return TlsError("cannot build CA certificate");
  }
  auto pem = CertToPem(c);
  if (!pem.ok()) return std::move(pem).error();
  auto key_pem = KeyToPem(key.get());
  if (!key_pem.ok()) return std::move(key_pem).error();
  return KeyPair{std::move(*pem), std::move(*key_pem)};
}

Result<KeyPair> GenerateSigned(const KeyPair& ca, const CertificateSpec& spec) {
  auto ca_cert = LoadCert(ca.cert_pem);
  if (!ca_cert.ok()) return std::move(ca_cert).error();
  auto ca_key = LoadKey(ca.key_pem);
  if (!ca_key.ok()) return std::move(ca_key).error();
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return TlsError("cannot generate EC key");
  auto cert =
      NewCert(key.get(), spec.common_name, spec.organizations, spec.validity, spec.not_before_skew);
  if (!cert.ok()) return std::move(cert).error();
  X509* c = cert->get();
  X509* issuer = ca_cert->get();
  std::string san;
  for (const auto& d : spec.dns_names) {
    if (d.find_first_of(",\n\r") != std::string::npos) return NewBadRequest("invalid DNS name");
    san += (san.empty() ? "DNS:" : ",DNS:") + d;
  }
  for (const auto& ip : spec.ip_addresses) {
    if (ip.find_first_of(",\n\r") != std::string::npos) return NewBadRequest("invalid IP");
    san += (san.empty() ? "IP:" : ",IP:") + ip;
  }
  std::string eku;
  if (spec.server_auth) eku = "serverAuth";
  if (spec.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  if (!X509_set_issuer_name(c, X509_get_subject_name(issuer)) ||
      !AddExt(c, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
      !AddExt(c, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
      (!eku.empty() && !AddExt(c, issuer, NID_ext_key_usage, eku)) ||
      (!san.empty() && !AddExt(c, issuer, NID_subject_alt_name, san)) ||
      !AddExt(c, issuer, NID_authority_key_identifier, "keyid:always") ||
      !X509_sign(c, ca_key->get(), EVP_sha256())) {
    return TlsError("cannot build certificate");
  }
  auto pem = CertToPem(c);
  if (!pem.ok()) return std::move(pem).error();
  auto key_pem = KeyToPem(key.get());
  if (!key_pem.ok()) return std::move(key_pem).error();
  return KeyPair{std::move(*pem), std::move(*key_pem)};
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NewInternalError("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Outcome WriteFile(const std::string& path, std::string_view data, unsigned mode) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  // Write to a temporary file and rename, so readers never see half a file.
  std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return NewInternalError("cannot write " + path + ": " + std::strerror(errno));
  ::chmod(tmp.c_str(), mode);
  bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return NewInternalError("cannot write " + path);
  }
  return Ok{};
}

Result<std::vector<std::string>> PemToDer(std::string_view cert_pem) {
  BioPtr bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  std::vector<std::string> out;
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    int len = i2d_X509(cert.get(), nullptr);
    if (len <= 0) break;
    std::string der(static_cast<size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_X509(cert.get(), &p);
    out.push_back(std::move(der));
  }
  ERR_clear_error();
  if (out.empty()) return NewBadRequest("no PEM certificate found");
  return out;
}

namespace {

Result<StorePtr> StoreFromPem(std::string_view ca_bundle_pem) {
  StorePtr store(X509_STORE_new());
  BioPtr bio(BIO_new_mem_buf(ca_bundle_pem.data(), static_cast<int>(ca_bundle_pem.size())));
  int n = 0;
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    X509_STORE_add_cert(store.get(), cert.get());
    ++n;
  }
  ERR_clear_error();
  if (n == 0) return NewInternalError("CA bundle holds no certificate");
  return store;
}

X509Ptr FromDer(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

std::string NameEntry(X509_NAME_ENTRY* e) {
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(e);
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

}  // namespace

namespace {

// Verifies against `store`; on success also reports the leaf's remaining validity.
Result<PeerIdentity> VerifyWithStore(X509_STORE* store, const std::vector<std::string>& chain_der,
                                     int64_t* valid_for_seconds) {
  if (chain_der.empty()) return NewUnauthorized("no client certificate presented");
  X509Ptr leaf = FromDer(chain_der[0]);
  if (!leaf) return NewUnauthorized("client certificate: malformed");
  X509StackPtr untrusted(sk_X509_new_null());
  for (size_t i = 1; i < chain_der.size(); ++i) {
    X509Ptr c = FromDer(chain_der[i]);
    if (c) sk_X509_push(untrusted.get(), c.release());
  }
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || !X509_STORE_CTX_init(ctx.get(), store, leaf.get(), untrusted.get())) {
    return TlsError("cannot verify client certificate");
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return NewUnauthorized(std::string("verifying certificate failed: x509: ") +
                           X509_verify_cert_error_string(err));
  }
  PeerIdentity id;
  X509_NAME* subject = X509_get_subject_name(leaf.get());
  for (int i = 0; i < X509_NAME_entry_count(subject); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(subject, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    if (nid == NID_commonName) {
      id.common_name = NameEntry(e);
    } else if (nid == NID_organizationName) {
      id.organizations.push_back(NameEntry(e));
    }
  }
  if (valid_for_seconds != nullptr) {
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(leaf.get())) == 1) {
      *valid_for_seconds = static_cast<int64_t>(days) * 86400 + secs;
    } else {
      *valid_for_seconds = 0;
    }
  }
  return id;
}

}  // namespace

Result<PeerIdentity> VerifyClientCertificate(const std::vector<std::string>& chain_der,
                                             std::string_view ca_bundle_pem) {
  if (chain_der.empty()) return NewUnauthorized("no client certificate presented");
  auto store = StoreFromPem(ca_bundle_pem);
  if (!store.ok()) return std::move(store).error();
  return VerifyWithStore(store->get(), chain_der, nullptr);
}

// SHA256 is fetched once: an implicit fetch per digest costs more than hashing a certificate
// chain.
std::string CertificateChainDigest(const std::vector<std::string>& chain_der) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct CtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
  std::string out(32, '\0');
  unsigned int len = 0;
  bool ok = md != nullptr && ctx && EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1;
  for (size_t i = 0; ok && i < chain_der.size(); ++i) {
    const std::string& der = chain_der[i];
    const unsigned char prefix[4] = {
        static_cast<unsigned char>(der.size() >> 24), static_cast<unsigned char>(der.size() >> 16),
        static_cast<unsigned char>(der.size() >> 8), static_cast<unsigned char>(der.size())};
    ok = EVP_DigestUpdate(ctx.get(), prefix, sizeof prefix) == 1 &&
         EVP_DigestUpdate(ctx.get(), der.data(), der.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) == 1;
  if (!ok || len != 32) {
    ERR_clear_error();
    return {};  // no key: the caller verifies without the cache
  }
  return out;
}

struct ClientCertificateVerifier::Cache {
  struct Entry {
    std::string key;  // CertificateChainDigest
    Result<PeerIdentity> answer;
    std::chrono::steady_clock::time_point expires;
  };
  size_t max_entries = kDefaultMaxEntries;
  std::mutex mu;
  std::list<Entry> lru;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index;  // views into lru keys

  void Erase(std::list<Entry>::iterator it) {
    index.erase(it->key);
    lru.erase(it);
  }
};

Result<std::shared_ptr<const ClientCertificateVerifier>> ClientCertificateVerifier::Create(
    std::string ca_bundle_pem, std::chrono::seconds cache_ttl, size_t max_entries) {
  auto store = StoreFromPem(ca_bundle_pem);
  if (!store.ok()) return std::move(store).error();
  std::shared_ptr<ClientCertificateVerifier> v(new ClientCertificateVerifier());
  v->ca_bundle_pem_ = std::move(ca_bundle_pem);
  v->store_ = store->release();
  v->ttl_ = cache_ttl;
  v->cache_ = std::make_unique<Cache>();
  v->cache_->max_entries = std::max<size_t>(1, max_entries);
  return std::shared_ptr<const ClientCertificateVerifier>(std::move(v));
}

ClientCertificateVerifier::~ClientCertificateVerifier() {
  if (store_ != nullptr) X509_STORE_free(static_cast<X509_STORE*>(store_));
}

Result<PeerIdentity> ClientCertificateVerifier::Verify(const std::vector<std::string>& chain_der,
                                                       bool* cache_hit,
                                                       std::string_view chain_digest) const {
  if (cache_hit != nullptr) *cache_hit = false;
  if (chain_der.empty()) return NewUnauthorized("no client certificate presented");
  auto now = std::chrono::steady_clock::now();
  std::string key =
      chain_digest.size() == 32 ? std::string(chain_digest) : CertificateChainDigest(chain_der);
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    auto it = cache_->index.find(key);
    if (it != cache_->index.end()) {
      auto entry = it->second;
      if (entry->expires > now) {
        cache_->lru.splice(cache_->lru.begin(), cache_->lru, entry);
        if (cache_hit != nullptr) *cache_hit = true;
        return entry->answer;
      }
      cache_->Erase(entry);
    }
  }
  verifications_.fetch_add(1, std::memory_order_relaxed);
  int64_t valid_for = 0;
  auto id = VerifyWithStore(static_cast<X509_STORE*>(store_), chain_der, &valid_for);
  // Trust answers are cached (an untrusted certificate stays untrusted until the CA changes,
  // which makes a new verifier); internal errors are not.
  int64_t ttl = ttl_.count();
  if (id.ok()) {
    ttl = std::min<int64_t>(ttl, valid_for);
  } else if (id.error().code != 401) {
    ttl = 0;
  }
  if (ttl > 0 && !key.empty()) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (auto it = cache_->index.find(key); it != cache_->index.end()) cache_->Erase(it->second);
    while (cache_->lru.size() >= cache_->max_entries) cache_->Erase(std::prev(cache_->lru.end()));
    cache_->lru.push_front(Cache::Entry{std::move(key), id, now + std::chrono::seconds(ttl)});
    cache_->index.emplace(cache_->lru.front().key, cache_->lru.begin());
  }
  return id;
}

namespace {

void ApplyCommonOptions(asio::ssl::context& ctx) {
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  // Send exactly the configured chain (no CA certificates pulled in from the trust store).
  SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
}

int AcceptAnyCert(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

}  // namespace

Result<std::shared_ptr<asio::ssl::context>> MakeServerContext(std::string_view cert_pem,
                                                              const SecretString& key_pem) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ApplyCommonOptions(*ctx);
  SSL_CTX* native = ctx->native_handle();
  boost::system::error_code ec;
  ctx->use_certificate_chain(asio::buffer(cert_pem.data(), cert_pem.size()), ec);
  if (ec) return NewInternalError("cannot load serving certificate: " + ec.message());
  auto key = LoadKey(key_pem);
  if (!key.ok()) return std::move(key).error();
  if (SSL_CTX_use_PrivateKey(native, key->get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
    return TlsError("serving key does not match the certificate");
  }
  // Request a client certificate, accept whatever comes: authenticators verify it against the
  // CA they trust (front-proxy CA, client CA).
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, AcceptAnyCert);
  static const unsigned char kSessionContext[] = "mcp-connector";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof(kSessionContext) - 1);
  // No resumption: a resumed session would not carry the intermediates of the client chain.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(native, 0);
  return ctx;
}

Result<std::shared_ptr<asio::ssl::context>> MakeClientContext(const ClientTLSOptions& options) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ApplyCommonOptions(*ctx);
  boost::system::error_code ec;
  if (options.insecure_skip_verify) {
    ctx->set_verify_mode(asio::ssl::verify_none);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_peer);
    if (!options.ca_pem.empty()) {
      ctx->add_certificate_authority(asio::buffer(options.ca_pem), ec);
      if (ec) return NewInternalError("cannot load CA certificates: " + ec.message());
    } else {
      ctx->set_default_verify_paths(ec);
      if (ec) return NewInternalError("cannot load system CA certificates: " + ec.message());
    }
  }
  if (!options.client_cert_pem.empty()) {
    ctx->use_certificate_chain(asio::buffer(options.client_cert_pem), ec);
    if (ec) return NewInternalError("cannot load client certificate: " + ec.message());
    auto key = LoadKey(options.client_key_pem);
    if (!key.ok()) return std::move(key).error();
    SSL_CTX* native = ctx->native_handle();
    if (SSL_CTX_use_PrivateKey(native, key->get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
      return TlsError("client key does not match the certificate");
    }
  }
  return ctx;
}

// --- ServerCredential --------------------------------------------------------------------------

ServerCredential::FileStamp ServerCredential::Stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return FileStamp{static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                   static_cast<int64_t>(st.st_size)};
}

Result<std::shared_ptr<ServerCredential>> ServerCredential::FromPem(std::string cert_pem,
                                                                    SecretString key_pem) {
  auto ctx = MakeServerContext(cert_pem, key_pem);
  if (!ctx.ok()) return std::move(ctx).error();
  std::shared_ptr<ServerCredential> cred(new ServerCredential());
  cred->ctx_ = std::move(*ctx);
  cred->cert_pem_ = std::move(cert_pem);
  cred->next_check_ns_ = INT64_MAX;  // never reloads
  cred->generation_ = 1;
  return cred;
}

Result<std::shared_ptr<ServerCredential>> ServerCredential::FromFiles(
    std::string cert_path, std::string key_path, std::chrono::milliseconds check_interval) {
  std::shared_ptr<ServerCredential> cred(new ServerCredential());
  cred->cert_path_ = std::move(cert_path);
  cred->key_path_ = std::move(key_path);
  cred->check_interval_ = check_interval;
  if (!cred->ReloadIfChanged()) {
    // Produce the precise error.
    auto cert = ReadFile(cred->cert_path_);
    if (!cert.ok()) return std::move(cert).error();
    auto key = SecretString::FromFile(cred->key_path_, false);
    if (!key.ok()) return std::move(key).error();
    auto ctx = MakeServerContext(*cert, *key);
    if (!ctx.ok()) return std::move(ctx).error();
    return NewInternalError("cannot load serving certificate");
  }
  return cred;
}

bool ServerCredential::ReloadIfChanged() {
  if (cert_path_.empty()) return false;
  FileStamp cs = Stamp(cert_path_);
  FileStamp ks = Stamp(key_path_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ctx_ && cs == cert_stamp_ && ks == key_stamp_) return false;
  }
  auto cert = ReadFile(cert_path_);
  if (!cert.ok()) {
    LOG(WARNING) << "serving certificate reload: " << cert.error().message;
    return false;
  }
  auto key = SecretString::FromFile(key_path_, false);
  if (!key.ok()) {
    LOG(WARNING) << "serving key reload: " << key.error().message;
    return false;
  }
  auto ctx = MakeServerContext(*cert, *key);
  if (!ctx.ok()) {
    // Often a rotation caught half-way (certificate written, key not yet): retry next time.
    LOG(WARNING) << "serving certificate reload failed, keeping the previous one: "
                 << ctx.error().message;
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ctx_ = std::move(*ctx);
  cert_pem_ = std::move(*cert);
  cert_stamp_ = cs;
  key_stamp_ = ks;
  uint64_t gen = ++generation_;
  LOG(INFO) << "serving certificate loaded from " << cert_path_ << " (generation " << gen << ")";
  return true;
}

std::shared_ptr<asio::ssl::context> ServerCredential::Current() {
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  int64_t next = next_check_ns_.load(std::memory_order_relaxed);
  if (now >= next &&
      next_check_ns_.compare_exchange_strong(
          next,
          now + std::chrono::duration_cast<std::chrono::nanoseconds>(check_interval_).count())) {
    ReloadIfChanged();
  }
  std::lock_guard<std::mutex> lock(mu_);
  return ctx_;
}

std::string ServerCredential::cert_pem() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cert_pem_;
}

}  // namespace kube::tls
