// kube::LoadKubeconfigFromString on arbitrary YAML (relative files resolve into a directory
// that does not exist), then the config is rendered back and loaded again.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "kube/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Init();
  fuzz::Reader in(data, size);
  std::string context(in.Part('\n'));
  if (context.size() > 1 && context[0] == '#') {
    context = context.substr(1);
  } else {
    in = fuzz::Reader(data, size);
    context.clear();
  }
  std::string_view yaml = in.Rest();
  auto cfg = kube::LoadKubeconfigFromString(yaml, "/nonexistent/fuzz", context);
  if (!cfg.ok()) return 0;
  kube::KubeconfigSpec spec;
  spec.server = cfg->server;
  spec.ca_pem = cfg->ca_pem;
  spec.insecure_skip_tls_verify = cfg->insecure_skip_tls_verify;
  spec.tls_server_name = cfg->tls_server_name;
  spec.token = cfg->bearer_token.RevealCopy();
  spec.client_cert_pem = cfg->client_cert_pem;
  spec.client_key_pem = cfg->client_key_pem.RevealCopy();
  std::string text = kube::RenderKubeconfig(spec);
  auto again = kube::LoadKubeconfigFromString(text, "/nonexistent/fuzz");
  // What we render from a config we accepted must load and mean the same (for printable ASCII:
  // yaml-cpp's emitter replaces invalid UTF-8 with U+FFFD, which is fine for a kubeconfig).
  auto printable = [](std::string_view s) {
    for (char c : s) {
      if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
  };
  if (!spec.server.empty() && again.ok() && printable(spec.server) && printable(spec.token)) {
    FUZZ_CHECK(again->server == cfg->server, text);
    FUZZ_CHECK(again->bearer_token.Equals(spec.token), text);
  }
  return 0;
}
