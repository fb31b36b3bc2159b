// Shared pieces of the libFuzzer targets: a quiet glog, the claim API the translator serves, and
// a byte reader that splits one fuzz input into several values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kube/api_resource.h"
#include "proxy/translator.h"

namespace fuzz {

inline constexpr const char* kCluster = "00000000-0000-0000-0000-000000000000";
inline constexpr const char* kClaimNs = "claims";

// Call once (from LLVMFuzzerInitialize or a static): glog quiet, no log files.
void Init();

// The upstream guide's KubernetesCluster claim API (with printer columns).
const kube::APIResource& Claims();
proxy::Translator MakeTranslator(proxy::Kind kind = proxy::Kind::kClaim);

// Aborts with a message: an invariant the target checks was broken (libFuzzer saves the input).
[[noreturn]] inline void Fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "FUZZ INVARIANT BROKEN: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}
#define FUZZ_CHECK(cond, detail)                \
  do {                                          \
    if (!(cond)) ::fuzz::Fail(#cond, (detail)); \
  } while (0)

// Splits an input: Byte() takes one byte (0 when exhausted), Part() the text up to the next
// separator byte (default '\0'; the rest of the input when there is none).
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : s_(reinterpret_cast<const char*>(data), size) {}
  uint8_t Byte() {
    if (s_.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(s_[0]);
    s_.remove_prefix(1);
    return b;
  }
  std::string_view Part(char sep = '\0') {
    size_t p = s_.find(sep);
    std::string_view out = s_.substr(0, p);
    s_.remove_prefix(p == std::string_view::npos ? s_.size() : p + 1);
    return out;
  }
  std::string_view Rest() {
    std::string_view out = s_;
    s_ = {};
    return out;
  }
  bool empty() const { return s_.empty(); }

 private:
  std::string_view s_;
};

}  // namespace fuzz
