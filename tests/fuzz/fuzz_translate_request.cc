// Request-body translation: DecodeBody (JSON, YAML, patches) then PrepareObject /
// PrepareMergePatch / PrepareJsonPatch against a stored object, ResolveGenerateName, BodyName.
// Input: mode byte, "<app namespace>\0<name on the URL>\0<body>".
//
// Invariants: an accepted object always goes to the claim namespace under this cluster's
// control-plane name with this cluster's origin labels; a JSON create body gives the same answer
// whether the DOM-free fast path (proxy::fast::PrepareCreate) takes it or the DOM path does.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "kube/json.h"
#include "naming/naming.h"
#include "proxy/content.h"
#include "proxy/fast_translate.h"
#include "proxy/translator.h"

namespace json = kube::json;

namespace {

const json::Document& Current() {
  static const json::Document d = [] {
    auto p = json::Parse(
        R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{)"
        R"("name":"claim-c603e518969b413e","namespace":"claims","uid":"u","resourceVersion":"7",)"
        R"("labels":{"mcp-connector.upbound.io/app-cluster":)"
        R"("00000000-0000-0000-0000-000000000000",)"
        R"("mcp-connector.upbound.io/app-namespace":"test",)"
        R"("mcp-connector.upbound.io/app-resource-name":"my-bucket","team":"a"},)"
        R"("annotations":{"note":"x"}},"spec":{"parameters":{"nodeCount":3},)"
        R"("writeConnectionSecretToRef":{"name":"conn-0123456789abcdef"}}})");
    return std::move(*p);
  }();
  return d;
}

void CheckPrepared(const json::Document& obj, std::string_view ns, const std::string& name) {
  std::string text = json::Serialize(obj);
  FUZZ_CHECK(json::GetString(*json::Find(obj, "metadata"), "namespace") == fuzz::kClaimNs, text);
  FUZZ_CHECK(json::GetString(*json::Find(obj, "metadata"), "name") ==
                 naming::ControlPlaneName(naming::Kind::kClaim, name, ns, fuzz::kCluster),
             text);
  const json::Value* labels = json::FindPath(obj, "metadata.labels");
  FUZZ_CHECK(labels != nullptr, text);
  FUZZ_CHECK(json::GetString(*labels, naming::kLabelAppCluster) == fuzz::kCluster, text);
  FUZZ_CHECK(json::GetString(*labels, naming::kLabelAppNamespace) == ns, text);
}

// A named JSON create: the fast path declines, or writes what the DOM path writes for the same
// text (parsed without DecodeBody's dedupe: duplicates the connector does not read go upstream as
// sent on the fast path), and the DOM path accepts the body too.
void CheckFastCreate(const proxy::Translator& t, std::string_view ns, std::string_view body) {
  std::string out, name;
  if (proxy::fast::PrepareCreate(t, body, ns, out, name) != proxy::fast::Outcome::kTranslated)
    return;
  const std::string in(body);
  auto decoded = proxy::Translator::DecodeBody(body, proxy::BodyType::kJson);
  FUZZ_CHECK(decoded.ok(), in);
  const proxy::WriteTarget target{"create", std::string(ns), "", ""};
  FUZZ_CHECK(t.PrepareObject(*decoded, target).ok(), in);
  auto doc = json::Parse(body);
  FUZZ_CHECK(doc.has_value(), in);
  FUZZ_CHECK(name == proxy::Translator::BodyName(*doc), in);
  FUZZ_CHECK(t.PrepareObject(*doc, target).ok(), in);
  auto fast = json::Parse(out);
  FUZZ_CHECK(fast.has_value(), out);
  FUZZ_CHECK(json::Serialize(*fast) == json::Serialize(*doc), in);
  CheckPrepared(*fast, ns, name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Init();
  static const proxy::Translator t = fuzz::MakeTranslator();
  fuzz::Reader in(data, size);
  uint8_t mode = in.Byte();
  std::string ns(in.Part());
  std::string url_name(in.Part());
  std::string_view body = in.Rest();
  // The proxy validates the namespace from the path before translating (RequestInfo).
  if (ns.empty() || !naming::IsDNS1123Label(ns).empty()) ns = "test";

  static const proxy::BodyType kTypes[] = {
      proxy::BodyType::kJson, proxy::BodyType::kYaml, proxy::BodyType::kMergePatch,
      proxy::BodyType::kJsonPatch, proxy::BodyType::kApplyPatch};
  proxy::BodyType type = kTypes[mode % 5];
  if (type == proxy::BodyType::kJson && !(mode & 0x20)) CheckFastCreate(t, ns, body);
  auto doc = proxy::Translator::DecodeBody(body, type);
  if (!doc.ok()) return 0;
  const bool with_current = mode & 0x40;
  const json::Value* current = with_current ? &Current() : nullptr;
  switch (type) {
    case proxy::BodyType::kJson:
    case proxy::BodyType::kYaml:
    case proxy::BodyType::kApplyPatch: {
      proxy::WriteTarget target;
      target.app_namespace = ns;
      if (type == proxy::BodyType::kApplyPatch) {
        target.verb = "patch";
        target.name = url_name;
      } else if (mode & 0x20) {
        target.verb = "update";
        target.name = url_name;
        target.subresource = (mode & 0x80) ? "status" : "";
      } else {
        target.verb = "create";
        (void)proxy::Translator::ResolveGenerateName(*doc);
      }
      std::string name = target.verb == "create" ? proxy::Translator::BodyName(*doc) : url_name;
      auto r = t.PrepareObject(*doc, target);
      if (r.ok()) CheckPrepared(*doc, ns, name);
      break;
    }
    case proxy::BodyType::kMergePatch: {
      proxy::WriteTarget target{"patch", ns, url_name, (mode & 0x80) ? "status" : ""};
      auto r = t.PrepareMergePatch(*doc, target, current);
      if (r.ok()) (void)json::Serialize(*doc);
      break;
    }
    case proxy::BodyType::kJsonPatch: {
      proxy::WriteTarget target{"patch", ns, url_name, (mode & 0x80) ? "status" : ""};
      auto r = t.PrepareJsonPatch(*doc, target, current);
      if (r.ok()) (void)json::Serialize(*doc);
      break;
    }
  }
  return 0;
}
