// kube::WatchDecoder fed in fuzzer-chosen chunks; every event goes through the translator's
// TranslateWatchEvent. Input: chunk-size byte, max-size byte, stream bytes.
//
// Invariants: the events do not depend on the chunking; each is a "{...}" text.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "kube/watch_decoder.h"
#include "proxy/translator.h"

namespace {

struct Run {
  std::vector<std::string> events;
  bool failed = false;
  size_t pending = 0;
};

Run Decode(std::string_view stream, size_t chunk, size_t max) {
  kube::WatchDecoder d(max);
  Run run;
  for (size_t i = 0; i < stream.size(); i += chunk) {
    d.Feed(stream.substr(i, chunk));
    while (auto ev = d.Next()) {
      FUZZ_CHECK(ev->size() >= 2 && ev->front() == '{' && ev->back() == '}', *ev);
      run.events.emplace_back(*ev);
    }
  }
  run.failed = d.failed();
  run.pending = d.pending_bytes();
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Init();
  static const proxy::Translator t = fuzz::MakeTranslator();
  fuzz::Reader in(data, size);
  size_t chunk = 1 + in.Byte() % 31;
  uint8_t m = in.Byte();
  size_t max = (m & 1) ? 16 + m : 16 * 1024 * 1024;
  std::string_view stream = in.Rest();
  Run whole = Decode(stream, stream.size() + 1, max);
  Run pieces = Decode(stream, chunk, max);
  FUZZ_CHECK(whole.events == pieces.events, stream);
  FUZZ_CHECK(whole.failed == pieces.failed, stream);
  if (!whole.failed) FUZZ_CHECK(whole.pending == pieces.pending, stream);
  for (const auto& ev : whole.events) (void)t.TranslateWatchEvent(ev, m & 2);
  return 0;
}
