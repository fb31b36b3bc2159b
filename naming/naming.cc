#include "naming/naming.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "kube/validation.h"

namespace naming {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kSeparator = "-x-";

// The SHA-256 implementation, fetched once for the process (EVP_MD_fetch is costly).
const EVP_MD* Sha256() {
  static const EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched ? static_cast<const EVP_MD*>(fetched) : EVP_sha256();
  }();
  return md;
}

// One digest context per thread, reused (EVP_MD_CTX_new allocates).
struct CtxHolder {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~CtxHolder() { EVP_MD_CTX_free(ctx); }
};

// SHA-256 over the concatenation of `parts`; writes 32 bytes to `out`.
void Digest(std::initializer_list<std::string_view> parts, unsigned char* out) {
  thread_local CtxHolder holder;
  EVP_MD_CTX* ctx = holder.ctx;
  unsigned int len = 0;
  // Concatenate into a stack buffer when it fits: one Update is cheaper than several.
  char buf[512];
  size_t total = 0;
  for (std::string_view p : parts) total += p.size();
  EVP_DigestInit_ex2(ctx, Sha256(), nullptr);
  if (total <= sizeof(buf)) {
    size_t off = 0;
    for (std::string_view p : parts) {
      if (!p.empty()) std::memcpy(buf + off, p.data(), p.size());
      off += p.size();
    }
    EVP_DigestUpdate(ctx, buf, total);
  } else {
    for (std::string_view p : parts) EVP_DigestUpdate(ctx, p.data(), p.size());
  }
  EVP_DigestFinal_ex(ctx, out, &len);
}

void HexPrefix(const unsigned char* digest, char* out) {
  for (size_t i = 0; i < kHashHexChars / 2; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
}

// validation.MaskTrailingDash (including its upstream quirk of dropping two characters).
std::string MaskTrailingDash(std::string_view name) {
  if (name.size() > 1 && name.back() == '-')
    return std::string(name.substr(0, name.size() - 2)) + "a";
  return std::string(name);
}

kube::StatusCause Invalid(std::string field, std::string_view value, std::string_view detail) {
  std::string msg = "Invalid value: " + kube::validation::GoQuote(value);
  if (!detail.empty()) msg += ": " + std::string(detail);
  return {"FieldValueInvalid", std::move(msg), std::move(field)};
}

kube::StatusCause Required(std::string field, std::string_view detail) {
  std::string msg = "Required value";
  if (!detail.empty()) msg += ": " + std::string(detail);
  return {"FieldValueRequired", std::move(msg), std::move(field)};
}

}  // namespace

std::string_view Prefix(Kind kind) { return kind == Kind::kClaim ? "claim-" : "nxr-"; }

ControlPlaneNameBuf ControlPlaneNameFast(Kind kind, std::string_view name, std::string_view ns,
                                         std::string_view cluster_id) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  Digest({name, kSeparator, ns, kSeparator, cluster_id}, digest);
  ControlPlaneNameBuf out;
  std::string_view prefix = Prefix(kind);
  std::memcpy(out.data_, prefix.data(), prefix.size());
  HexPrefix(digest, out.data_ + prefix.size());
  out.size_ = static_cast<uint8_t>(prefix.size() + kHashHexChars);
  return out;
}

std::string HashedName(std::string_view prefix, std::string_view name, std::string_view ns,
                       std::string_view cluster_id) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  Digest({name, kSeparator, ns, kSeparator, cluster_id}, digest);
  std::string out(prefix);
  out.resize(prefix.size() + kHashHexChars);
  HexPrefix(digest, out.data() + prefix.size());
  return out;
}

bool LooksLikeControlPlaneName(Kind kind, std::string_view name) {
  std::string_view prefix = Prefix(kind);
  if (name.size() != prefix.size() + kHashHexChars || !name.starts_with(prefix)) return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string LabelValueForName(std::string_view name) {
  if (name.size() <= kMaxLabelValue) return std::string(name);
  constexpr size_t kKeep = kMaxLabelValue - 1 - kHashHexChars;  // 46
  unsigned char digest[EVP_MAX_MD_SIZE];
  Digest({name}, digest);
  std::string out(name.substr(0, kKeep));
  out.push_back('-');
  char hex[kHashHexChars];
  HexPrefix(digest, hex);
  out.append(hex, kHashHexChars);
  return out;
}

StringPairs OriginLabels(std::string_view cluster_id, std::string_view ns, std::string_view name) {
  return {{std::string(kLabelAppCluster), std::string(cluster_id)},
          {std::string(kLabelAppNamespace), std::string(ns)},
          {std::string(kLabelAppResourceName), LabelValueForName(name)}};
}

StringPairs OriginAnnotations(std::string_view name) {
  if (!NeedsNameAnnotation(name)) return {};
  return {{std::string(kAnnotationAppResourceName), std::string(name)}};
}

std::optional<AppRef> AppRefFromMetadata(const Lookup& labels, const Lookup& annotations) {
  auto cluster = labels(kLabelAppCluster);
  auto ns = labels(kLabelAppNamespace);
  auto label_name = labels(kLabelAppResourceName);
  if (!cluster || !ns || !label_name || cluster->empty() || ns->empty() || label_name->empty()) {
    return std::nullopt;
  }
  AppRef ref{std::string(*cluster), std::string(*ns), std::string(*label_name)};
  if (auto full = annotations(kAnnotationAppResourceName); full && !full->empty()) {
    // The annotation is trusted only when the label agrees with it.
    if (LabelValueForName(*full) != *label_name) return std::nullopt;
    ref.name = std::string(*full);
  }
  return ref;
}

std::optional<AppRef> AppRefFromMetadata(
    const std::map<std::string, std::string, std::less<>>& labels,
    const std::map<std::string, std::string, std::less<>>& annotations) {
  auto lookup = [](const std::map<std::string, std::string, std::less<>>& m) {
    return [&m](std::string_view key) -> std::optional<std::string_view> {
      auto it = m.find(key);
      if (it == m.end()) return std::nullopt;
      return std::string_view(it->second);
    };
  };
  return AppRefFromMetadata(Lookup(lookup(labels)), Lookup(lookup(annotations)));
}

std::string GenerateName(std::string_view base, std::mt19937_64& rng) {
  if (base.size() > kMaxGeneratedNameBase) base = base.substr(0, kMaxGeneratedNameBase);
  std::string out(base);
  std::uniform_int_distribution<size_t> pick(0, kGenerateNameAlphabet.size() - 1);
  for (size_t i = 0; i < kGeneratedNameRandomChars; ++i) {
    out.push_back(kGenerateNameAlphabet[pick(rng)]);
  }
  return out;
}

std::string GenerateName(std::string_view base) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return GenerateName(base, rng);
}

std::vector<kube::StatusCause> ValidateObjectName(std::string_view name,
                                                  std::string_view generate_name) {
  std::vector<kube::StatusCause> causes;
  if (!generate_name.empty()) {
    for (const auto& msg : kube::validation::IsDNS1123Subdomain(MaskTrailingDash(generate_name))) {
      causes.push_back(Invalid("metadata.generateName", generate_name, msg));
    }
  }
  if (name.empty()) {
    causes.push_back(Required("metadata.name", "name or generateName is required"));
  } else {
    for (const auto& msg : kube::validation::IsDNS1123Subdomain(name)) {
      causes.push_back(Invalid("metadata.name", name, msg));
    }
  }
  return causes;
}

std::vector<kube::StatusCause> ValidateObjectNamespace(std::string_view ns, bool namespaced) {
  std::vector<kube::StatusCause> causes;
  if (namespaced) {
    if (ns.empty()) {
      causes.push_back(Required("metadata.namespace", ""));
    } else {
      for (const auto& msg : kube::validation::IsDNS1123Label(ns)) {
        causes.push_back(Invalid("metadata.namespace", ns, msg));
      }
    }
  } else if (!ns.empty()) {
    causes.push_back(
        {"FieldValueForbidden", "Forbidden: not allowed on this type", "metadata.namespace"});
  }
  return causes;
}

}  // namespace naming
