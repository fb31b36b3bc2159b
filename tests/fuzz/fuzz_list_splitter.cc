// proxy::ListSplitter (streamed Lists and Tables) fed in fuzzer-chosen chunks, with the
// translator's item/row callbacks or identity callbacks. Input: mode byte, chunk-size byte, body.
//
// Invariants (identity callbacks): the output does not depend on how the input was chunked;
// a valid JSON object input that completes gives valid JSON whose re-serialization equals the
// input's. With the translator: the list relay's one-pass fast path (TryElementFn) gives the
// same result as delimiting each element first.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "kube/json.h"
#include "proxy/json_splitter.h"
#include "proxy/translator.h"

namespace {

struct Run {
  bool ok = true;
  bool done = false;
  std::string out;
};

Run Split(std::string_view body, size_t chunk, bool translate, size_t max_bytes,
          bool one_pass = false) {
  static const proxy::Translator t = fuzz::MakeTranslator();
  static const proxy::TableColumns cols = t.ColumnsOf(nullptr);
  proxy::ListSplitter::MemberFn member =
      [](std::string_view, std::string_view v) -> kube::Result<std::optional<std::string>> {
    return std::optional<std::string>(std::string(v));
  };
  proxy::ListSplitter::ElementFn element;
  if (translate) {
    element = [](std::string_view key, std::string_view v, std::string& out) -> kube::Result<bool> {
      if (key == "rows") return t.AppendRowText(v, cols, true, out);
      return t.AppendItemText(v, out);
    };
  } else {
    element = [](std::string_view, std::string_view v, std::string& out) -> kube::Result<bool> {
      out += v;
      return true;
    };
  }
  proxy::ListSplitter::TryElementFn try_element;
  if (one_pass) {  // the list relay's one-pass fast path (proxy/proxy.cc)
    try_element = [](std::string_view key, std::string_view rest, std::string& out, bool& kept) {
      return t.TryAppendListElement(key, rest, cols, true, out, kept);
    };
  }
  proxy::ListSplitter s({"items", "rows"}, member, element, max_bytes, try_element);
  Run run;
  for (size_t i = 0; i < body.size() && run.ok; i += chunk) {
    auto r = s.Feed(body.substr(i, chunk), run.out);
    run.ok = r.ok();
  }
  if (body.empty()) run.ok = s.Feed("", run.out).ok();
  run.done = run.ok && s.done();
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Init();
  fuzz::Reader in(data, size);
  uint8_t mode = in.Byte();
  size_t chunk = 1 + in.Byte() % 17;
  std::string_view body = in.Rest();
  const size_t max_bytes = (mode & 1) ? 64 : (64u << 20);
  if (mode & 2) {
    // The one-pass fast path changes nothing: same success, same output.
    const size_t c = (mode & 4) ? chunk : body.size() + 1;
    Run usual = Split(body, c, true, max_bytes);
    Run one_pass = Split(body, c, true, max_bytes, /*one_pass=*/true);
    FUZZ_CHECK(usual.ok == one_pass.ok, body);
    FUZZ_CHECK(usual.done == one_pass.done, body);
    if (usual.ok) FUZZ_CHECK(usual.out == one_pass.out, body);
    return 0;
  }
  Run whole = Split(body, body.size() + 1, false, max_bytes);
  Run pieces = Split(body, chunk, false, max_bytes);
  FUZZ_CHECK(whole.ok == pieces.ok, body);
  FUZZ_CHECK(whole.done == pieces.done, body);
  if (whole.ok) FUZZ_CHECK(whole.out == pieces.out, body);
  if (whole.done && (mode & 1) == 0) {
    auto in_doc = kube::json::Parse(body);
    auto out_doc = kube::json::Parse(whole.out);
    if (in_doc && in_doc->IsObject()) {
      FUZZ_CHECK(out_doc.has_value(), whole.out);
      FUZZ_CHECK(kube::json::Serialize(*in_doc) == kube::json::Serialize(*out_doc), whole.out);
    }
  }
  return 0;
}
