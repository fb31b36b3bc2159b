#include "proxy/content.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

namespace proxy {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct MediaRange {
  std::string type;                                         // lower-cased "application/json"
  std::vector<std::pair<std::string, std::string>> params;  // keys lower-cased
  double q = 1.0;
  size_t order = 0;

  std::string_view Param(std::string_view key) const {
    for (const auto& [k, v] : params) {
      if (k == key) return v;
    }
    return {};
  }
};

std::vector<MediaRange> ParseAccept(std::string_view header) {
  std::vector<MediaRange> out;
  size_t order = 0;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view part = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    part = Trim(part);
    if (part.empty()) continue;
    MediaRange m;
    m.order = order++;
    size_t semi = part.find(';');
    m.type = Lower(Trim(part.substr(0, semi)));
    while (semi != std::string_view::npos) {
      part = part.substr(semi + 1);
      semi = part.find(';');
      std::string_view kv = Trim(part.substr(0, semi));
      size_t eq = kv.find('=');
      std::string key = Lower(Trim(kv.substr(0, eq)));
      std::string value =
          eq == std::string_view::npos ? std::string() : std::string(Trim(kv.substr(eq + 1)));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      if (key == "q") {
        m.q = std::strtod(value.c_str(), nullptr);
      } else if (!key.empty()) {
        m.params.emplace_back(std::move(key), std::move(value));
      }
    }
    out.push_back(std::move(m));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const MediaRange& a, const MediaRange& b) { return a.q > b.q; });
  return out;
}

}  // namespace

std::string MediaType(std::string_view header_value) {
  return Lower(Trim(header_value.substr(0, header_value.find(';'))));
}

kube::Result<Negotiated> NegotiateAccept(std::string_view accept) {
  Negotiated n;
  n.upstream_accept = "application/json";
  if (Trim(accept).empty()) return n;
  for (const MediaRange& m : ParseAccept(accept)) {
    if (m.q <= 0) continue;
    const bool json = m.type == "application/json";
    if (!json && m.type != "*/*" && m.type != "application/*") continue;
    std::string_view as = m.Param("as");
    if (as.empty()) {
      n.representation = Representation::kObject;
      n.upstream_accept = "application/json";
      return n;
    }
    if (!json) continue;
    std::string_view g = m.Param("g");
    std::string_view v = m.Param("v");
    if (g != "meta.k8s.io" || (v != "v1" && v != "v1beta1")) continue;
    if (as == "Table") {
      n.representation = Representation::kTable;
    } else if (as == "PartialObjectMetadata") {
      n.representation = Representation::kPartialObjectMetadata;
    } else if (as == "PartialObjectMetadataList") {
      n.representation = Representation::kPartialObjectMetadataList;
    } else {
      continue;
    }
    n.upstream_accept =
        "application/json;as=" + std::string(as) + ";v=" + std::string(v) + ";g=meta.k8s.io";
    return n;
  }
  return kube::NewNotAcceptable("only the following media types are accepted: application/json");
}

kube::Result<BodyType> CheckContentType(std::string_view verb, std::string_view content_type) {
  std::string type = MediaType(content_type);
  if (verb == "patch") {
    if (type == "application/json-patch+json") return BodyType::kJsonPatch;
    if (type == "application/merge-patch+json") return BodyType::kMergePatch;
    if (type == "application/apply-patch+yaml") return BodyType::kApplyPatch;
    return kube::NewUnsupportedMediaType(
        "application/json-patch+json, application/merge-patch+json, "
        "application/apply-patch+yaml");
  }
  if (type.empty() || type == "application/json") return BodyType::kJson;
  if (type == "application/yaml") return BodyType::kYaml;
  return kube::NewUnsupportedMediaType("application/json, application/yaml");
}

}  // namespace proxy
