// kube::json helpers on arbitrary text: Parse, Serialize (round trip), Find*, Get*.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "kube/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Init();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = kube::json::Parse(text);
  if (!doc) return 0;
  std::string s = kube::json::Serialize(*doc);
  auto again = kube::json::Parse(s);
  FUZZ_CHECK(again.has_value(), s);
  FUZZ_CHECK(kube::json::Serialize(*again) == s, s);
  for (const char* path : {"metadata.name", "metadata", "", ".", "a..b", "items", "spec.x.y"}) {
    (void)kube::json::FindPath(*doc, path);
  }
  for (const char* key : {"metadata", "kind", "apiVersion", "items", ""}) {
    (void)kube::json::Find(*doc, key);
    (void)kube::json::GetString(*doc, key);
    (void)kube::json::GetInt(*doc, key);
  }
  if (doc->IsObject()) {
    kube::json::Value& meta = kube::json::EnsureObject(*doc, "metadata", doc->GetAllocator());
    kube::json::SetString(meta, "name", "x", doc->GetAllocator());
    kube::json::RemoveMember(*doc, "kind");
  }
  return 0;
}
