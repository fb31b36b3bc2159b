// naming/: validation, control-plane names, label values, generateName and the reverse mapping.
// Input: "<name>\0<namespace>\0<cluster>".
//
// Invariants: the fast name equals the plain SHA-256 rule; for valid names and namespaces the
// origin labels/annotations map back to exactly (cluster, namespace, name); generated names of
// a valid base are valid; label values fit 63 characters.
#include <openssl/sha.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "fuzz_util.h"
#include "naming/naming.h"

namespace {

std::string Reference(std::string_view prefix, std::string_view name, std::string_view ns,
                      std::string_view cluster) {
  std::string in = std::string(name) + "-x-" + std::string(ns) + "-x-" + std::string(cluster);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  static const char* kHex = "0123456789abcdef";
  std::string out(prefix);
  for (int i = 0; i < 8; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Init();
  fuzz::Reader in(data, size);
  std::string_view name = in.Part();
  std::string_view ns = in.Part();
  std::string_view cluster = in.Part();

  FUZZ_CHECK(naming::ControlPlaneName(naming::Kind::kClaim, name, ns, cluster) ==
                 Reference("claim-", name, ns, cluster),
             name);
  FUZZ_CHECK(naming::ControlPlaneName(naming::Kind::kNamespacedXR, name, ns, cluster) ==
                 Reference("nxr-", name, ns, cluster),
             name);
  (void)naming::LooksLikeControlPlaneName(naming::Kind::kClaim, name);

  bool name_ok = naming::IsDNS1123Subdomain(name).empty();
  bool ns_ok = naming::IsDNS1123Label(ns).empty();
  (void)naming::ValidateObjectName(name, ns);
  (void)naming::ValidateObjectNamespace(ns, true);
  (void)naming::ValidateObjectNamespace(ns, false);

  std::string label = naming::LabelValueForName(name);
  if (name_ok) FUZZ_CHECK(label.size() <= naming::kMaxLabelValue, label);

  std::mt19937_64 rng(size);
  std::string gen = naming::GenerateName(name, rng);
  if (name_ok && name.size() <= naming::kMaxGeneratedNameBase) {
    FUZZ_CHECK(gen.size() == name.size() + naming::kGeneratedNameRandomChars, gen);
  }

  if (name_ok && ns_ok && !cluster.empty() && naming::IsDNS1123Label(cluster).empty()) {
    std::map<std::string, std::string, std::less<>> labels, annotations;
    for (auto& [k, v] : naming::OriginLabels(cluster, ns, name)) labels[k] = v;
    for (auto& [k, v] : naming::OriginAnnotations(name)) annotations[k] = v;
    auto ref = naming::AppRefFromMetadata(labels, annotations);
    FUZZ_CHECK(ref.has_value(), name);
    FUZZ_CHECK(ref->name == name && ref->namespace_ == ns && ref->cluster_id == cluster, name);
  }
  return 0;
}
