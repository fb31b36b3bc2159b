// Response-body translation: whole documents (objects, Lists, Tables, Status), single items,
// Table rows, watch events and upstream error Status bodies. Input: mode byte, then the body.
//
// Invariants: an object is translated (and so shown to the app side) only when it belongs to
// this cluster, and the result never names a control-plane name of ours; single-object
// responses, items, rows and watch events give the same answer (error, drop, or the same JSON)
// whether the DOM-free fast path (proxy/fast_translate.h) handles them or the DOM path does.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "kube/json.h"
#include "proxy/fast_translate.h"
#include "proxy/translator.h"

namespace json = kube::json;

namespace {

using Text = kube::Result<std::optional<std::string>>;

std::string Normalized(const std::string& text) {
  auto d = json::Parse(text);
  return d ? json::Serialize(*d) : "<invalid JSON>" + text;
}

// The public entry point (fast path first) against the DOM path.
void CheckSame(const Text& got, const Text& dom, std::string_view input) {
  const std::string in(input);
  FUZZ_CHECK(got.ok() == dom.ok(), in);
  if (!got.ok() || !dom.ok()) return;
  FUZZ_CHECK(got->has_value() == dom->has_value(), in);
  if (got->has_value() && dom->has_value()) FUZZ_CHECK(Normalized(**got) == Normalized(**dom), in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Init();
  static const proxy::Translator claims = fuzz::MakeTranslator();
  static const proxy::Translator xrs = fuzz::MakeTranslator(proxy::Kind::kNamespacedXR);
  fuzz::Reader in(data, size);
  uint8_t mode = in.Byte();
  const proxy::Translator& t = (mode & 0x80) ? xrs : claims;
  std::string_view body = in.Rest();
  const bool keep = mode & 0x40;
  switch (mode % 6) {
    case 0: {
      // A whole response document; for single objects the proxy takes the DOM-free path first
      // (fast::TranslateObject): it must decline, or agree with TranslateDocument exactly.
      std::string fast_out;
      const proxy::fast::Outcome o = proxy::fast::TranslateObject(t, body, fast_out);
      auto doc = json::Parse(body);
      if (!doc) {
        FUZZ_CHECK(o == proxy::fast::Outcome::kFallback, std::string(body));
        return 0;
      }
      auto owner = t.Owner(*doc);
      const bool translated = t.TranslateDocument(*doc, keep);
      if (o != proxy::fast::Outcome::kFallback) {
        const std::string kind(json::GetString(*doc, "kind"));
        FUZZ_CHECK(kind != "Status" && kind != "Table", std::string(body));
        FUZZ_CHECK(translated == (o == proxy::fast::Outcome::kTranslated), std::string(body));
        FUZZ_CHECK(translated == owner.has_value(), std::string(body));
        if (translated) {
          FUZZ_CHECK(Normalized(fast_out) == Normalized(json::Serialize(*doc)), std::string(body));
        }
      }
      break;
    }
    case 1: {
      auto doc = json::Parse(body);
      if (!doc) return 0;
      auto owner = t.Owner(*doc);
      json::Document copy;
      copy.CopyFrom(*doc, copy.GetAllocator());
      bool translated = t.TranslateObject(*doc, doc->GetAllocator());
      FUZZ_CHECK(translated == owner.has_value(), json::Serialize(copy));
      // (Compared as text: RapidJSON's == is wrong for duplicate member names.)
      const std::string before = json::Serialize(copy);
      if (!translated) FUZZ_CHECK(json::Serialize(*doc) == before, before);
      break;
    }
    case 2:
      CheckSame(t.TranslateItemText(body), t.TranslateItemTextDom(body), body);
      break;
    case 3:
      CheckSame(t.TranslateWatchEvent(body, keep), t.TranslateWatchEventDom(body, keep), body);
      break;
    case 4: {
      // "<columnDefinitions JSON>\0<row>"
      fuzz::Reader parts(reinterpret_cast<const uint8_t*>(body.data()), body.size());
      auto defs = json::Parse(parts.Part());
      proxy::TableColumns cols = t.ColumnsOf(defs ? &*defs : nullptr);
      std::string_view row = parts.Rest();
      CheckSame(t.TranslateRowText(row, cols, keep), t.TranslateRowTextDom(row, cols, keep), row);
      break;
    }
    default: {
      proxy::AppRef target{"test", "my-bucket"};
      int code = 400 + (mode % 7) * 17;
      (void)t.TranslateStatusBody(code, body, (mode & 0x40) ? &target : nullptr);
      break;
    }
  }
  return 0;
}
