// Label and field selectors: kube's parsers (kube/selectors.h) and the proxy's
// translation of a user's selectors into the upstream query. Input: mode byte, verb byte,
// "<labelSelector>\0<fieldSelector>\0<app namespace>".
//
// Invariants: a selector's canonical String() parses again to the same String(); whatever the
// user sends, the translated upstream labelSelector pins this cluster (and the namespace when one
// is addressed), so a request can never reach another cluster's objects.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "kube/http.h"
#include "kube/selectors.h"
#include "naming/naming.h"
#include "proxy/translator.h"

namespace {

void CheckKubeSelectors(std::string_view label, std::string_view field) {
  auto l = kube::LabelSelector::Parse(label);
  if (auto* sel = std::get_if<kube::LabelSelector>(&l)) {
    std::string s = sel->String();
    auto again = kube::LabelSelector::Parse(s);
    auto* sel2 = std::get_if<kube::LabelSelector>(&again);
    FUZZ_CHECK(sel2 != nullptr, s);
    FUZZ_CHECK(sel2->String() == s, s);
    kube::LabelMap labels{{"a", "b"}, {"app", "x"}, {"mcp-connector.upbound.io/app-cluster", "c"}};
    (void)sel->Matches(labels);
    for (const auto& r : sel->requirements()) (void)sel->RequiresExactMatch(r.key);
  }
  auto f = kube::FieldSelector::Parse(field);
  if (auto* sel = std::get_if<kube::FieldSelector>(&f)) {
    std::string s = sel->String();
    auto again = kube::FieldSelector::Parse(s);
    auto* sel2 = std::get_if<kube::FieldSelector>(&again);
    FUZZ_CHECK(sel2 != nullptr, s);
    FUZZ_CHECK(sel2->String() == s, s);
    (void)sel->Matches([](std::string_view f) -> std::optional<std::string> {
      if (f == "metadata.name") return "n";
      return std::nullopt;
    });
    (void)sel->RequiresExactMatch("metadata.name");
  }
}

void CheckTranslation(uint8_t verb_byte, std::string_view label, std::string_view field,
                      std::string_view ns) {
  static const proxy::Translator t = fuzz::MakeTranslator();
  static const char* kVerbs[] = {"list", "watch", "deletecollection", "get", "delete"};
  std::string_view verb = kVerbs[verb_byte % 5];
  kube::http::Query q;
  if (verb_byte & 0x10) q.Set("labelSelector", std::string(label));
  if (verb_byte & 0x20) q.Set("fieldSelector", std::string(field));
  if (verb_byte & 0x40) q.Set("resourceVersion", "0");
  auto out = t.TranslateQuery(q, verb, ns);
  if (!out.ok() || verb == "get" || verb == "delete") return;
  // The upstream selector must pin this cluster (and the namespace when one is addressed).
  std::string upstream(out->Get("labelSelector").value_or(""));
  auto parsed = kube::LabelSelector::Parse(upstream);
  auto* sel = std::get_if<kube::LabelSelector>(&parsed);
  FUZZ_CHECK(sel != nullptr, upstream);
  FUZZ_CHECK(sel->RequiresExactMatch(naming::kLabelAppCluster) == fuzz::kCluster, upstream);
  // Exactly one requirement on the cluster key (users may not name reserved keys), and when a
  // namespace is addressed, an equality on it (others may be ANDed: they only narrow).
  FUZZ_CHECK(sel->RequirementsFor(naming::kLabelAppCluster).size() == 1, upstream);
  if (!ns.empty()) {
    bool pinned = false;
    for (const auto* r : sel->RequirementsFor(naming::kLabelAppNamespace)) {
      pinned =
          pinned ||
          ((r->op == kube::LabelOperator::kEquals || r->op == kube::LabelOperator::kDoubleEquals) &&
           r->values.size() == 1 && r->values[0] == ns);
    }
    FUZZ_CHECK(pinned, upstream);
  }
  if (auto fs = out->Get("fieldSelector")) {
    auto fparsed = kube::FieldSelector::Parse(*fs);
    auto* fsel = std::get_if<kube::FieldSelector>(&fparsed);
    FUZZ_CHECK(fsel != nullptr, *fs);
    // The control-plane namespace is the claim namespace; nothing may point elsewhere.
    for (const auto& r : fsel->requirements()) {
      if (r.field == "metadata.namespace" && !r.not_equals) {
        FUZZ_CHECK(r.value == fuzz::kClaimNs, *fs);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Init();
  fuzz::Reader in(data, size);
  uint8_t mode = in.Byte();
  uint8_t verb = in.Byte();
  std::string_view label = in.Part();
  std::string_view field = in.Part();
  std::string_view ns = in.Part();
  if (ns.size() > 63) ns = ns.substr(0, 63);
  switch (mode % 2) {
    case 0:
      CheckKubeSelectors(label, field);
      break;
    default:
      // The proxy only ever passes validated namespaces (from RequestInfo + naming validation).
      if (ns.empty() || naming::IsDNS1123Label(ns).empty()) {
        CheckTranslation(verb, label, field, ns);
      }
      break;
  }
  return 0;
}
