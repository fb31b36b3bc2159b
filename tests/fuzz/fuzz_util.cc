#include "fuzz_util.h"

#include <glog/logging.h>

namespace fuzz {

void Init() {
  static bool done = [] {
    FLAGS_logtostderr = true;
    FLAGS_minloglevel = 3;  // FATAL only: fuzzing prints nothing per input
    google::InitGoogleLogging("fuzz");
    return true;
  }();
  (void)done;
}

const kube::APIResource& Claims() {
  static const kube::APIResource r = [] {
    kube::APIResource r;
    r.group = "k8s.starter.org";
    r.version = "v1alpha1";
    r.resource = "kubernetesclusters";
    r.singular = "kubernetescluster";
    r.kind = "KubernetesCluster";
    r.list_kind = "KubernetesClusterList";
    r.namespaced = true;
    r.categories = {"claim"};
    r.has_status = true;
    r.printer_columns = {
        {"SYNCED", "string", "", "", ".status.conditions[?(@.type=='Synced')].status", 0},
        {"READY", "string", "", "", ".status.conditions[?(@.type=='Ready')].status", 0},
        {"CONNECTION-SECRET", "string", "", "", ".spec.writeConnectionSecretToRef.name", 0},
        {"AGE", "date", "", "", ".metadata.creationTimestamp", 0},
    };
    return r;
  }();
  return r;
}

proxy::Translator MakeTranslator(proxy::Kind kind) {
  return proxy::Translator(proxy::Scope{kCluster, kClaimNs, kind, &Claims()});
}

}  // namespace fuzz
