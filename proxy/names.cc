#include "proxy/names.h"

namespace proxy::names {

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
