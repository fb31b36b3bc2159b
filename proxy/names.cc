#include "proxy/names.h"

#include <openssl/evp.h>

namespace proxy::names {

std::string HashName(std::string_view prefix, std::string_view name, std::string_view ns,
                     std::string_view cluster_id) {
  std::string input;
  input.reserve(name.size() + ns.size() + cluster_id.size() + 6);
  input.append(name).append("-x-").append(ns).append("-x-").append(cluster_id);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(prefix);
  for (size_t i = 0; i < naming::kHashHexChars / 2; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::optional<naming::AppRef> Reverse(const kube::json::Value& metadata) {
  const kube::json::Value* labels = kube::json::Find(metadata, "labels");
  const kube::json::Value* annotations = kube::json::Find(metadata, "annotations");
  auto lookup = [](const kube::json::Value* m) {
    return [m](std::string_view key) -> std::optional<std::string_view> {
      if (!m || !m->IsObject()) return std::nullopt;
      const kube::json::Value* v = kube::json::Find(*m, key);
      if (!v || !v->IsString()) return std::nullopt;
      return kube::json::View(*v);
    };
  };
  return naming::AppRefFromMetadata(lookup(labels), lookup(annotations));
}

}  // namespace proxy::names
