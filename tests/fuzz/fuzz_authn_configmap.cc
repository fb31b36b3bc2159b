// The extension-apiserver-authentication ConfigMap (apiserver::ParseAuthenticationConfigMap) and
// the app cluster's TokenReview answers (apiserver::ParseTokenReviewResponse), both untrusted
// JSON. Input: mode byte, body.
#include <cstdint>
#include <string>

#include "apiserver/authn.h"
#include "fuzz_util.h"
#include "kube/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Init();
  fuzz::Reader in(data, size);
  uint8_t mode = in.Byte();
  std::string_view body = in.Rest();
  if (mode & 1) {
    (void)apiserver::ParseTokenReviewResponse(body);
    return 0;
  }
  auto doc = kube::json::Parse(body);
  if (!doc) return 0;
  apiserver::AuthenticationConfig base;
  if (mode & 2) base.client_ca_pem = "base";
  auto cfg = apiserver::ParseAuthenticationConfigMap(*doc, base);
  (void)cfg;
  return 0;
}
