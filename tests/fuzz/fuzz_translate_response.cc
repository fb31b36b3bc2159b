// Response-body translation: whole documents (objects, Lists, Tables, Status), single items,
// Table rows, watch events and upstream error Status bodies. Input: mode byte, then the body.
//
// Invariant: an object is translated (and so shown to the app side) only when it belongs to
// this cluster, and the result never names a control-plane name of ours.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "kube/json.h"
#include "proxy/translator.h"

namespace json = kube::json;

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
      auto doc = json::Parse(body);
      if (!doc) return 0;
      auto owner = t.Owner(*doc);
      (void)t.TranslateDocument(*doc, keep);
      (void)owner;
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
      (void)t.TranslateItemText(body);
      break;
    case 3:
      (void)t.TranslateWatchEvent(body, keep);
      break;
    case 4: {
      // "<columnDefinitions JSON>\0<row>"
      fuzz::Reader parts(reinterpret_cast<const uint8_t*>(body.data()), body.size());
      auto defs = json::Parse(parts.Part());
      proxy::TableColumns cols = t.ColumnsOf(defs ? &*defs : nullptr);
      (void)t.TranslateRowText(parts.Rest(), cols, keep);
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
