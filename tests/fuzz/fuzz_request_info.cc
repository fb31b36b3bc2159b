// kube::RequestInfoFactory::NewRequestInfo on arbitrary methods, paths and queries.
// Input: method byte, then "<path>[?<query>]".
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "kube/http.h"
#include "kube/request_info.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Init();
  static const kube::RequestInfoFactory factory;
  static const char* kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", ""};
  fuzz::Reader in(data, size);
  const char* method = kMethods[in.Byte() % 8];
  std::string_view raw = in.Rest();
  size_t q = raw.find('?');
  std::string path = kube::http::PercentDecode(raw.substr(0, q));
  kube::http::Query query(q == std::string_view::npos ? std::string_view() : raw.substr(q + 1));
  auto info = factory.NewRequestInfo(method, path, query);
  if (info.ok() && info->is_resource_request) {
    FUZZ_CHECK(info->api_prefix == "api" || info->api_prefix == "apis", path);
    // (verb is "" for unknown methods, as in kube-apiserver.)
    if (!info->parts.empty()) FUZZ_CHECK(info->parts[0] == info->resource, path);
  }
  (void)query.Encode();
  (void)kube::http::PercentEncode(path);
  return 0;
}
