#include "kube/api_resource.h"

namespace kube {

// apiextensions-apiserver advertises these verbs for every served CRD resource (the order is
// the one kube's discovery documents list them in).
std::vector<std::string> DefaultResourceVerbs() {
  return {"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"};
}

}  // namespace kube
