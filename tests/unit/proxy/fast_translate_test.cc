// The DOM-free translation of single objects, list items, Table rows and watch events
// (proxy/fast_translate.h) against the DOM path it replaces: over generated objects of many shapes,
// the fast path either declines (kFallback) or gives the same JSON (compared after a parse +
// re-serialize) and the same keep/drop decision. Typical objects must take the fast path.
#include "proxy/fast_translate.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kube/json.h"
#include "proxy/translator.h"
#include "test_util.h"

namespace proxy {
namespace {

using namespace proxy::testing;  // NOLINT
namespace json = kube::json;

std::string Normalize(std::string_view text) {
  auto d = json::Parse(text);
  return d ? json::Serialize(*d) : "<invalid JSON: " + std::string(text) + ">";
}

std::string Quoted(std::string_view s) {
  json::Document d;
  return json::Serialize(json::Str(s, d.GetAllocator()));
}

// What the proxy's buffered reply does with a 2xx body without the fast path: parse (500 when
// malformed), TranslateDocument (404 when not this cluster's), serialize.
kube::Result<std::optional<std::string>> DocumentDom(const Translator& t, std::string_view text,
                                                     bool keep) {
  auto doc = json::Parse(text);
  if (!doc) return kube::NewInternalError("invalid response from the control plane");
  if (!t.TranslateDocument(*doc, keep)) return std::optional<std::string>();
  return std::optional<std::string>(json::Serialize(*doc));
}

enum class Entry { kItem, kRow, kEvent, kObject };

struct Counts {
  int translated = 0, dropped = 0, fallback = 0;
  void Add(fast::Outcome o) {
    switch (o) {
      case fast::Outcome::kTranslated:
        ++translated;
        break;
      case fast::Outcome::kDropped:
        ++dropped;
        break;
      case fast::Outcome::kFallback:
        ++fallback;
        break;
    }
  }
};

// Checks one text through both paths; returns the fast outcome.
fast::Outcome Check(const Translator& t, Entry entry, std::string_view text,
                    const TableColumns& cols = {}, bool keep = true) {
  std::string out;
  fast::Outcome o = fast::Outcome::kFallback;
  kube::Result<std::optional<std::string>> dom = std::optional<std::string>();
  kube::Result<std::optional<std::string>> pub = std::optional<std::string>();
  switch (entry) {
    case Entry::kItem:
      o = fast::TranslateItem(t, text, out);
      dom = t.TranslateItemTextDom(text);
      pub = t.TranslateItemText(text);
      break;
    case Entry::kRow:
      o = fast::TranslateRow(t, text, cols, keep, out);
      dom = t.TranslateRowTextDom(text, cols, keep);
      pub = t.TranslateRowText(text, cols, keep);
      break;
    case Entry::kEvent:
      o = fast::TranslateWatchEvent(t, text, out);
      dom = t.TranslateWatchEventDom(text, keep);
      pub = t.TranslateWatchEvent(text, keep);
      break;
    case Entry::kObject:
      // A single-object response: the DOM path is the proxy's (parse, TranslateDocument).
      o = fast::TranslateObject(t, text, out);
      dom = DocumentDom(t, text, keep);
      pub = dom;
      break;
  }
  // The public entry point behaves exactly like the DOM path.
  EXPECT_EQ(pub.ok(), dom.ok()) << text;
  if (pub.ok() && dom.ok()) {
    EXPECT_EQ(pub->has_value(), dom->has_value()) << text;
    if (pub->has_value() && dom->has_value()) {
      EXPECT_EQ(Normalize(**pub), Normalize(**dom)) << text;
    }
  }
  if (o == fast::Outcome::kFallback) return o;
  EXPECT_TRUE(dom.ok()) << "the fast path accepted what the DOM path rejects: " << text;
  if (!dom.ok()) return o;
  if (o == fast::Outcome::kDropped) {
    EXPECT_FALSE(dom->has_value()) << text;
  } else {
    EXPECT_TRUE(dom->has_value()) << text;
    if (dom->has_value()) {
      EXPECT_TRUE(json::Parse(out).has_value()) << out;
      EXPECT_EQ(Normalize(out), Normalize(**dom)) << text;
    }
  }
  return o;
}

// Random objects: members in random order, random whitespace, optional parts of every kind the
// translator reads, and values of every JSON type.
class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}
  bool Coin(int percent = 50) { return static_cast<int>(rng_() % 100) < percent; }
  size_t Pick(size_t n) { return rng_() % n; }
  std::string Ws() {
    static const char* kWs[] = {"", "", "", " ", "\n  ", "\t", "\r\n"};
    return kWs[Pick(7)];
  }
  std::string Object(std::vector<std::pair<std::string, std::string>> members, bool shuffle) {
    if (shuffle) std::shuffle(members.begin(), members.end(), rng_);
    std::string s = "{" + Ws();
    for (size_t i = 0; i < members.size(); ++i) {
      if (i > 0) s += Ws() + "," + Ws();
      s += Quoted(members[i].first) + Ws() + ":" + Ws() + members[i].second;
    }
    return s + Ws() + "}";
  }
  std::string Array(const std::vector<std::string>& elems) {
    std::string s = "[" + Ws();
    for (size_t i = 0; i < elems.size(); ++i) {
      if (i > 0) s += Ws() + "," + Ws();
      s += elems[i];
    }
    return s + Ws() + "]";
  }
  std::string Scalar() {
    static const char* kScalars[] = {"0",
                                     "-1",
                                     "42",
                                     "3.25",
                                     "-0.5",
                                     "123456789012345678",
                                     "true",
                                     "false",
                                     "null",
                                     "\"\"",
                                     "\"x\"",
                                     R"("a\"b\\c\/d\n\t")",
                                     R"("\u00e9t\u00C9")",
                                     R"("caf\u00e9 \u4e2d")",
                                     "\"\xc3\xa9\"",
                                     "[]",
                                     "{}",
                                     "[1,2.5,\"s\",null]"};
    return kScalars[Pick(sizeof(kScalars) / sizeof(kScalars[0]))];
  }
  std::string Any(int depth = 0) {
    if (depth > 3 || Coin(60)) return Scalar();
    if (Coin()) {
      std::vector<std::string> e;
      for (size_t i = Pick(4); i > 0; --i) e.push_back(Any(depth + 1));
      return Array(e);
    }
    std::vector<std::pair<std::string, std::string>> m;
    for (size_t i = Pick(4); i > 0; --i) m.push_back({"k" + std::to_string(i), Any(depth + 1)});
    return Object(m, false);
  }

  // A stored claim (usually this cluster's) with random extras.
  std::string Claim(std::string* out_name = nullptr) {
    static const char* kNames[] = {"a", "my-bucket", "x.y-z"};
    const std::string name = Pick(4) == 3 ? std::string(70, 'n') : kNames[Pick(3)];
    const std::string ns = Coin(80) ? "test" : "other-ns";
    const char* cluster = Coin(85) ? kCluster : kOtherCluster;
    if (out_name) *out_name = name;
    std::vector<std::pair<std::string, std::string>> labels = {
        {std::string(naming::kLabelAppCluster), Quoted(cluster)},
        {std::string(naming::kLabelAppNamespace), Quoted(ns)},
        {std::string(naming::kLabelAppResourceName), Quoted(naming::LabelValueForName(name))}};
    if (Coin(10)) labels.erase(labels.begin() + static_cast<long>(Pick(3)));
    if (Coin(40)) labels.push_back({"team", Quoted("blue")});
    if (Coin(10)) labels.push_back({"esc", R"("v\u00e9\"q")"});
    std::vector<std::pair<std::string, std::string>> ann;
    if (name.size() > 63 || Coin(20))
      ann.push_back({std::string(naming::kAnnotationAppResourceName), Quoted(name)});
    if (Coin(40)) {
      ann.push_back({std::string(kConnectionSecretAnnotation), Quoted("kubeconfig")});
    }
    if (Coin(40)) {
      static const char* kOwners[] = {
          R"([{"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"u1","controller":true}])",
          R"([])", R"(not json)", R"({"an":"object"})",
          R"([{"name":"caf\u00e9","n":1.5,"x":[1,2,{"y":null}]}])"};
      ann.push_back({std::string(kOwnerReferencesAnnotation), Quoted(kOwners[Pick(5)])});
    }
    if (Coin(40)) ann.push_back({"big", Quoted(std::string(Pick(1300), 'z'))});
    if (Coin(20)) ann.push_back({"mcp-connector.upbound.io/other", Quoted("ours")});
    if (Coin(10)) ann.push_back({"MCP-Connector.upbound.io/case", Quoted("ours too")});
    if (Coin(10)) ann.push_back({"quote", R"("say \"hi\"\n")"});

    std::vector<std::pair<std::string, std::string>> meta;
    std::string cp = Cp(name, ns, cluster);
    if (Coin(5)) cp = Cp("someone-else", ns, cluster);
    meta.push_back({"name", Coin(3) ? "42" : Quoted(cp)});
    meta.push_back({"namespace", Quoted(Coin(95) ? kClaimNs : "elsewhere")});
    meta.push_back({"uid", Quoted("uid-1")});
    meta.push_back({"resourceVersion", Quoted("7")});
    meta.push_back({"generation", std::to_string(Pick(100))});
    if (Coin(30)) meta.push_back({"selfLink", Quoted("/apis/x/claims/" + cp)});
    if (Coin(30)) meta.push_back({"ownerReferences", R"([{"kind":"X","name":"n","uid":"cp"}])"});
    if (Coin(95)) meta.push_back({"labels", Coin(5) ? "\"not-a-map\"" : Object(labels, true)});
    if (!ann.empty() || Coin(10)) meta.push_back({"annotations", Object(ann, true)});
    if (Coin(10)) meta.push_back({"finalizers", R"(["a","b"])"});
    if (Coin(40)) {
      std::vector<std::string> entries;
      for (size_t i = 1 + Pick(3); i > 0; --i) {
        std::vector<std::pair<std::string, std::string>> fl;
        if (Coin()) fl.push_back({"f:team", "{}"});
        if (Coin()) fl.push_back({"f:mcp-connector.upbound.io/app-cluster", "{}"});
        std::vector<std::pair<std::string, std::string>> fm;
        if (Coin(70)) fm.push_back({"f:labels", Object(fl, true)});
        if (Coin(50))
          fm.push_back({"f:annotations", R"({"f:mcp-connector.upbound.io/owner-references":{}})"});
        if (Coin(30)) fm.push_back({"f:finalizers", R"({".":{}})"});
        std::vector<std::pair<std::string, std::string>> fv = {
            {"f:metadata", Coin(90) ? Object(fm, true) : "null"}, {"f:spec", R"({"f:x":{}})"}};
        std::vector<std::pair<std::string, std::string>> entry = {
            {"manager", Quoted("kubectl")},
            {"operation", Quoted("Apply")},
            {"fieldsType", Quoted("FieldsV1")},
            {"fieldsV1", Object(fv, true)}};
        entries.push_back(Coin(95) ? Object(entry, true) : Scalar());
      }
      meta.push_back({"managedFields", Array(entries)});
    }

    std::vector<std::pair<std::string, std::string>> spec = {{"parameters", Any()}};
    if (Coin(60)) {
      std::vector<std::pair<std::string, std::string>> ref;
      if (Coin(85)) ref.push_back({"name", Coin(90) ? Quoted("conn-0123456789abcdef") : "7"});
      if (Coin(30)) ref.push_back({"namespace", Quoted("claims")});
      spec.push_back({"writeConnectionSecretToRef", Coin(95) ? Object(ref, true) : "null"});
    }
    if (Coin(20)) spec.push_back({"compositionRef", R"({"name":"c"})"});

    std::vector<std::pair<std::string, std::string>> obj = {
        {"apiVersion", Quoted("k8s.starter.org/v1alpha1")},
        {"kind", Quoted(Coin(90) ? "KubernetesCluster" : "PartialObjectMetadata")},
        {"metadata", Coin(98) ? Object(meta, true) : "[]"}};
    if (Coin(90)) obj.push_back({"spec", Coin(95) ? Object(spec, true) : "\"str\""});
    if (Coin(70)) {
      obj.push_back({"status",
                     R"({"conditions":[{"type":"Ready","status":"True","reason":"Available"}],)"
                     R"("ratio":0.75,"n":-3})"});
    }
    if (Coin(20)) obj.push_back({"extra", Any()});
    return Object(obj, Coin(30));
  }

  // A create request body as kubectl, Helm, ArgoCD or a migration restore sends it, with the
  // mistakes PrepareObject refuses mixed in.
  std::string CreateBody() {
    auto pick = [&](std::vector<std::string> choices) { return choices[Pick(choices.size())]; };
    std::vector<std::pair<std::string, std::string>> meta;
    if (Coin(95)) {
      meta.push_back(
          {"name", Coin(85) ? pick({R"("my-bucket")", R"("a")", R"("x.y-z")", R"("my-bucket")"})
                            : pick({R"("")", "7", "null", R"("Bad_Name")",
                                    "\"" + std::string(260, 'n') + "\""})});
    }
    if (Coin(10)) meta.push_back({"generateName", pick({R"("gen-")", R"("")", "3"})});
    if (Coin(60)) {
      meta.push_back(
          {"namespace", Coin(85) ? Quoted("test") : pick({R"("")", "null", R"("other")", "1"})});
    }
    std::vector<std::pair<std::string, std::string>> labels;
    if (Coin(60)) labels.push_back({"team", Quoted("blue")});
    if (Coin(10)) labels.push_back({"esc", R"("v\u00e9\"q")"});
    if (Coin(5)) labels.push_back({std::string(naming::kLabelAppCluster), Quoted("spoof")});
    if (Coin(5)) labels.push_back({"n", "5"});
    if (Coin(70)) {
      meta.push_back({"labels", Coin(90) ? Object(labels, true) : pick({"null", "[]", R"("x")"})});
    }
    std::vector<std::pair<std::string, std::string>> ann;
    if (Coin(50)) {
      ann.push_back({"kubectl.kubernetes.io/last-applied-configuration",
                     Quoted(R"({"apiVersion":"k8s.starter.org/v1alpha1"})")});
    }
    if (Coin(5)) ann.push_back({std::string(kConnectionSecretAnnotation), Quoted("spoof")});
    if (Coin(50)) {
      meta.push_back({"annotations", Coin(90) ? Object(ann, true) : pick({"null", "[]"})});
    }
    if (Coin(10)) meta.push_back({"selfLink", Quoted("/apis/x")});
    if (Coin(15)) {
      meta.push_back({"ownerReferences",
                      pick({"[]", "null", R"("x")",
                            R"([{"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"u"}])"})});
    }
    if (Coin(10)) meta.push_back({"finalizers", R"(["a"])"});
    if (Coin(10)) meta.push_back({"managedFields", R"([{"manager":"m","fieldsV1":{}}])"});
    if (Coin(10)) meta.push_back({"uid", Quoted("u-1")});

    std::vector<std::pair<std::string, std::string>> spec = {{"parameters", Any()}};
    if (Coin(50)) {
      std::vector<std::pair<std::string, std::string>> ref;
      if (Coin(85)) ref.push_back({"name", pick({R"("kubeconfig")", R"("")", "7", R"("k\"c")"})});
      if (Coin(30)) ref.push_back({"namespace", Quoted("test")});
      if (Coin(10)) ref.push_back({"other", Any()});
      spec.push_back({"writeConnectionSecretToRef", Coin(95) ? Object(ref, true) : "null"});
    }
    std::vector<std::pair<std::string, std::string>> obj;
    if (Coin(90)) {
      obj.push_back({"apiVersion", Coin(90) ? Quoted("k8s.starter.org/v1alpha1")
                                            : pick({R"("")", R"("v1")", "null", "1"})});
    }
    if (Coin(90)) {
      obj.push_back(
          {"kind", Coin(90) ? Quoted("KubernetesCluster") : pick({R"("")", R"("Other")", "null"})});
    }
    if (Coin(97)) obj.push_back({"metadata", Coin(97) ? Object(meta, true) : pick({"null", "[]"})});
    if (Coin(90)) obj.push_back({"spec", Coin(95) ? Object(spec, true) : pick({"null", "[1]"})});
    if (Coin(10)) obj.push_back({"status", Any()});
    if (Coin(10)) obj.push_back({"extra", Any()});
    return Object(obj, Coin(30));
  }

 private:
  std::mt19937 rng_;
};

TEST(FastTranslate, TypicalObjectsTakeTheFastPath) {
  Translator t = MakeTranslator();
  std::string out;
  EXPECT_EQ(fast::TranslateItem(t, StoredClaim("my-bucket", "test"), out),
            fast::Outcome::kTranslated);
  EXPECT_EQ(Normalize(out), Normalize(**t.TranslateItemTextDom(StoredClaim("my-bucket", "test"))));
  EXPECT_EQ(fast::TranslateItem(t, StoredClaim("my-bucket", "test", kOtherCluster), out),
            fast::Outcome::kDropped);
  const std::string event = R"({"type":"MODIFIED","object":)" + StoredClaim("a", "test") + "}";
  EXPECT_EQ(fast::TranslateWatchEvent(t, event, out), fast::Outcome::kTranslated);
  EXPECT_NE(out.find(R"("name":"a")"), std::string::npos) << out;
  const std::string row = R"({"cells":[")" + Cp("a", "test") + R"(","True"],"object":)" +
                          StoredClaim("a", "test") + "}";
  EXPECT_EQ(fast::TranslateRow(t, row, t.ColumnsOf(nullptr), true, out),
            fast::Outcome::kTranslated);
  EXPECT_EQ(out.find(Cp("a", "test")), std::string::npos) << out;
}

// Prefix mode (a list relay's chunk): the item at the start of the text, whatever follows it.
TEST(FastTranslate, ItemAtTheStartOfAChunk) {
  Translator t = MakeTranslator();
  const std::string item = StoredClaim("my-bucket", "test");
  std::string whole;
  ASSERT_EQ(fast::AppendItem(t, item, whole), fast::Outcome::kTranslated);
  std::string out = "prefix,";
  size_t length = 0;
  EXPECT_EQ(fast::AppendItem(t, item + " , {\"next\":", out, &length), fast::Outcome::kTranslated);
  EXPECT_EQ(length, item.size());
  EXPECT_EQ(out, "prefix," + whole);
  // Another cluster's item: dropped, its length still known; `out` untouched.
  const std::string other = StoredClaim("my-bucket", "test", kOtherCluster);
  out = "prefix,";
  EXPECT_EQ(fast::AppendItem(t, other + "]}", out, &length), fast::Outcome::kDropped);
  EXPECT_EQ(length, other.size());
  EXPECT_EQ(out, "prefix,");
  // Cut short anywhere: declined, nothing written.
  for (size_t cut = 0; cut < item.size(); cut += 37) {
    out.clear();
    EXPECT_EQ(fast::AppendItem(t, std::string_view(item).substr(0, cut), out, &length),
              fast::Outcome::kFallback)
        << cut;
    EXPECT_EQ(out, "") << cut;
  }
}

TEST(FastTranslate, GeneratedItemsMatchTheDomPath) {
  const Translator t = MakeTranslator();
  const Translator xrs = MakeTranslator(kCluster, Kind::kNamespacedXR);
  Gen g(20261121);
  Counts c;
  for (int i = 0; i < 1000; ++i) {
    const std::string text = g.Claim();
    c.Add(Check(i % 7 == 0 ? xrs : t, Entry::kItem, text));
    if (::testing::Test::HasFailure()) break;
  }
  // Escapes in label values or annotation keys are fine; only the unusual falls back.
  EXPECT_GT(c.translated, 500);
  EXPECT_GT(c.dropped, 60);
  EXPECT_EQ(c.fallback, 0);
}

TEST(FastTranslate, GeneratedSingleObjectsMatchTheDomPath) {
  const Translator t = MakeTranslator();
  const Translator xrs = MakeTranslator(kCluster, Kind::kNamespacedXR);
  Gen g(9);
  Counts c;
  for (int i = 0; i < 1000; ++i) {
    c.Add(Check(i % 7 == 0 ? xrs : t, Entry::kObject, g.Claim(), {}, g.Coin()));
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(c.translated, 500);
  EXPECT_GT(c.dropped, 60);
  EXPECT_EQ(c.fallback, 0);
}

TEST(FastTranslate, SingleObjectResponses) {
  const Translator t = MakeTranslator();
  std::string out;
  // Typical objects (full and PartialObjectMetadata) take the fast path.
  const std::string mine = StoredClaim("my-bucket", "test");
  ASSERT_EQ(Check(t, Entry::kObject, mine), fast::Outcome::kTranslated);
  ASSERT_EQ(fast::TranslateObject(t, mine, out), fast::Outcome::kTranslated);
  auto doc = json::Parse(out);
  ASSERT_TRUE(doc.has_value()) << out;
  EXPECT_EQ(json::GetString(*json::Find(*doc, "metadata"), "name"), "my-bucket");
  EXPECT_EQ(json::GetString(*json::Find(*doc, "metadata"), "namespace"), "test");
  EXPECT_EQ(out.find("mcp-connector.upbound.io"), std::string::npos) << out;
  const std::string meta_only =
      R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":)" +
      json::Serialize(*json::Find(Parse(mine), "metadata")) + "}";
  EXPECT_EQ(Check(t, Entry::kObject, meta_only), fast::Outcome::kTranslated);
  // Never another cluster's object, nor one whose labels were copied onto another name, nor
  // one outside the claim namespace, nor one without metadata.
  EXPECT_EQ(Check(t, Entry::kObject, StoredClaim("my-bucket", "test", kOtherCluster)),
            fast::Outcome::kDropped);
  std::string forged = mine;
  forged.replace(forged.find(Cp("my-bucket", "test")), Cp("my-bucket", "test").size(),
                 Cp("other", "test"));
  EXPECT_EQ(Check(t, Entry::kObject, forged), fast::Outcome::kDropped);
  std::string elsewhere = mine;
  elsewhere.replace(elsewhere.find(R"("namespace":"claims")"), 20, R"("namespace":"other1")");
  EXPECT_EQ(Check(t, Entry::kObject, elsewhere), fast::Outcome::kDropped);
  EXPECT_EQ(Check(t, Entry::kObject, R"({"kind":"KubernetesCluster","spec":{}})"),
            fast::Outcome::kDropped);
  EXPECT_EQ(Check(t, Entry::kObject, R"({"kind":"KubernetesCluster","metadata":null})"),
            fast::Outcome::kDropped);
  // Whole documents of other kinds are the DOM path's: Status (a delete's success), Table, List.
  const std::string list = R"({"kind":"KubernetesClusterList","metadata":{},"items":[)" + mine +
                           "," + StoredClaim("x", "test", kOtherCluster) + "]}";
  const std::string cases[] = {
      R"({"kind":"Status","apiVersion":"v1","status":"Success","details":{"name":"x"}})",
      R"({"kind":"Status","status":"Success"})",
      R"({"kind":"Table","columnDefinitions":[],"rows":[{"cells":["x"],"object":)" + mine + "]}",
      list,
      R"({"kind":"PartialObjectMetadataList","items":[]})",
      R"({"kind":"List","items":[]})",
      R"({"kind":"Status","kind":"KubernetesCluster","metadata":{}})",  // duplicate kind
      mine.substr(0, mine.size() - 1),
      "[" + mine + "]",
      "null",
      "",
  };
  for (const std::string& text : cases) {
    EXPECT_EQ(fast::TranslateObject(t, text, out), fast::Outcome::kFallback) << text;
    Check(t, Entry::kObject, text);
  }
}

TEST(FastTranslate, GeneratedRowsAndEventsMatchTheDomPath) {
  const Translator t = MakeTranslator();
  Gen g(7);
  Counts c;
  const std::string defs =
      R"([{"name":"Name","type":"string","format":"name"},{"name":"SYNCED"},{"name":"READY"},)"
      R"({"name":"CONNECTION-SECRET"},{"name":"AGE"}])";
  const auto defs_doc = json::Parse(defs);
  const TableColumns with_defs = t.ColumnsOf(&*defs_doc);
  const TableColumns no_defs = t.ColumnsOf(nullptr);
  TableColumns odd;
  odd.name = 1;
  odd.connection_secret = {1, 3, 9};
  const TableColumns* all_cols[] = {&with_defs, &no_defs, &odd};
  for (int i = 0; i < 600; ++i) {
    std::string name;
    const std::string obj = g.Claim(&name);
    std::vector<std::string> cells = {Quoted(Cp(name, "test")), "\"True\"", g.Scalar(),
                                      Quoted("conn-0123456789abcdef"), "\"5m\""};
    cells.resize(g.Pick(6));
    std::vector<std::pair<std::string, std::string>> row;
    if (g.Coin(95)) row.push_back({"cells", g.Array(cells)});
    if (g.Coin(95)) row.push_back({"object", obj});
    if (g.Coin(20)) row.push_back({"conditions", "null"});
    const bool keep = g.Coin(70);
    fast::Outcome o = Check(t, Entry::kRow, g.Object(row, true), *all_cols[g.Pick(3)], keep);
    static const char* kTypes[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK"};
    std::vector<std::pair<std::string, std::string>> ev = {{"type", Quoted(kTypes[g.Pick(4)])},
                                                           {"object", obj}};
    fast::Outcome oe = Check(t, Entry::kEvent, g.Object(ev, g.Coin(20)));
    c.Add(o);
    c.Add(oe);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(c.translated, 600);
  EXPECT_GT(c.dropped, 60);
  EXPECT_EQ(c.fallback, 0);
}

TEST(FastTranslate, UnusualTextFallsBackToTheDomPath) {
  const Translator t = MakeTranslator();
  const std::string claim = StoredClaim("a", "test");
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string s = claim;
    size_t pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) s.replace(pos, from.size(), to);
    return s;
  };
  const std::string cases[] = {
      // Escapes in member names the translator looks at.
      replaced(R"("metadata":)", R"("met\u0061data":)"),
      replaced(R"("labels":)", R"("label\u0073":)"),
      replaced(R"("mcp-connector.upbound.io/app-cluster")",
               R"("mcp-connector.upbound.io\/app-cluster")"),
      // Duplicate member names.
      replaced(R"("uid":"uid-1")", R"("name":"dup","uid":"uid-1")"),
      replaced(R"("spec":)", R"("spec":{},"spec":)"),
      // Numbers the DOM path converts (or rejects) itself.
      replaced(R"("nodeCount":3)", R"("nodeCount":3e2)"),
      replaced(R"("nodeCount":3)", R"("nodeCount":1234567890123456789012)"),
      replaced(R"("nodeCount":3)", R"("nodeCount":1e400)"),
      // Surrogate escapes, valid and not.
      replaced(R"("uid-1")", R"("\ud83d\ude00")"),
      replaced(R"("uid-1")", R"("\ud83d")"),
      // Deep nesting.
      replaced(R"("nodeCount":3)",
               R"("nodeCount":)" + std::string(100, '[') + std::string(100, ']')),
      // Malformed text of every kind: the DOM path's error.
      claim.substr(0, claim.size() - 1),
      claim + "x",
      replaced(R"("nodeCount":3)", R"("nodeCount":03)"),
      replaced(R"("nodeCount":3)", R"("nodeCount":-)"),
      replaced(R"("nodeCount":3)", R"("nodeCount":1.)"),
      replaced(R"("nodeCount":3)", R"("nodeCount":tru)"),
      replaced(R"("nodeCount":3)", R"("nodeCount":[1,])"),
      replaced(R"("uid-1")", "\"uid\x01\""),
      replaced(R"("uid-1")", R"("\x")"),
      replaced(R"("uid-1")", R"("\u12g4")"),
      replaced(R"("uid":)", R"("uid" )"),
      std::string("[") + claim + "]",
      "",
      "   ",
  };
  for (const std::string& text : cases) {
    std::string out;
    EXPECT_EQ(fast::TranslateItem(t, text, out), fast::Outcome::kFallback) << text;
    Check(t, Entry::kItem, text);
  }
  // The DOM path still translates what falls back.
  auto r = t.TranslateItemText(replaced(R"("nodeCount":3)", R"("nodeCount":3e2)"));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_NE((*r)->find(R"("name":"a")"), std::string::npos);
  // Events the fast path leaves to the DOM path: ERROR, Table objects, no object.
  std::string out;
  EXPECT_EQ(fast::TranslateWatchEvent(
                t, R"({"type":"ERROR","object":{"kind":"Status","code":410}})", out),
            fast::Outcome::kFallback);
  EXPECT_EQ(fast::TranslateWatchEvent(t, R"({"type":"ADDED","object":{"kind":"Table"}})", out),
            fast::Outcome::kFallback);
  EXPECT_EQ(fast::TranslateWatchEvent(t, R"({"type":"ADDED"})", out), fast::Outcome::kFallback);
}

// Values the translator does not look at (spec.parameters here) are validated by one loop that
// keeps the open levels as bits: every grammar error in them falls back, valid nesting of any
// mix translates like the DOM path, and the depth limit sits where the recursive scan had it.
TEST(FastTranslate, SkippedValuesAreValidatedInOneLoop) {
  const Translator t = MakeTranslator();
  auto with_parameters = [](std::string_view parameters) {
    return StoredClaim("a", "test", kCluster, "",
                       std::string(R"({"parameters":)") + std::string(parameters) + "}");
  };
  for (const char* bad :
       {R"({"a":1,})", "[1 2]", R"({"a" 1})", R"({"a":})", "{,}", "[}", "{]", "[[]", "[1,]",
        R"({"a":[1,{"b":2]}})", R"({"a":1}})", R"({a:1})", R"({"a":1 "b":2})", "[,1]", "["}) {
    const std::string text = with_parameters(bad);
    std::string out;
    EXPECT_EQ(fast::TranslateItem(t, text, out), fast::Outcome::kFallback) << bad;
    Check(t, Entry::kItem, text);
  }
  for (const char* good :
       {R"([{"a":[{"b":[]},{}],"c":{"d":[1,"x",true,null,-2.5,{"e":"\u00e9\n"}]}},[],{}])",
        R"( { "a" : [ 1 , { } , [ ] ] , "b" : { "c" : { } } } )", "[[[[]]],[[{}]]]", "{}", "[]"}) {
    const std::string text = with_parameters(good);
    std::string out;
    EXPECT_EQ(fast::TranslateItem(t, text, out), fast::Outcome::kTranslated) << good;
    EXPECT_EQ(Check(t, Entry::kItem, text), fast::Outcome::kTranslated) << good;
  }
  // parameters is 2 levels down (item, spec), its value at depth 2, so 62 levels open at most.
  auto nested = [&](int levels) {
    std::string v;
    for (int i = 0; i < levels; ++i) v += i % 2 ? R"({"k":)" : "[";
    v += "1";
    for (int i = levels - 1; i >= 0; --i) v += i % 2 ? "}" : "]";
    return with_parameters(v);
  };
  std::string out;
  EXPECT_EQ(fast::TranslateItem(t, nested(62), out), fast::Outcome::kTranslated);
  EXPECT_EQ(Check(t, Entry::kItem, nested(62)), fast::Outcome::kTranslated);
  EXPECT_EQ(fast::TranslateItem(t, nested(63), out), fast::Outcome::kFallback);
  Check(t, Entry::kItem, nested(63));
}

TEST(FastTranslate, EscapedValuesAreDecodedAndOutputIsValidJson) {
  const Translator t = MakeTranslator();
  // The name annotation (long names live there); escapes in its value must be decoded before
  // the name is hashed and compared with the label.
  const std::string name = "my-bucket";
  const std::string escaped_name = R"("\u006dy-bucket")";
  const std::string text =
      StoredClaim(name, "test", kCluster,
                  R"("annotations":{"mcp-connector.upbound.io/app-resource-name":)" + escaped_name +
                      R"(,"mcp-connector.upbound.io/connection-secret-name":"kube\"config\u00e9"})",
                  R"({"writeConnectionSecretToRef":{"name":"conn-x","namespace":"claims"}})");
  std::string out;
  ASSERT_EQ(Check(t, Entry::kItem, text), fast::Outcome::kTranslated);
  ASSERT_EQ(fast::TranslateItem(t, text, out), fast::Outcome::kTranslated);
  auto doc = json::Parse(out);
  ASSERT_TRUE(doc.has_value()) << out;
  EXPECT_EQ(json::GetString(*json::FindPath(*doc, "spec.writeConnectionSecretToRef"), "name"),
            "kube\"config\xc3\xa9");
  EXPECT_EQ(json::GetString(*json::FindPath(*doc, "spec.writeConnectionSecretToRef"), "namespace"),
            "test");
  EXPECT_EQ(json::GetString(*json::Find(*doc, "metadata"), "name"), name);
}

// --- Create bodies (fast::PrepareCreate against DecodeBody + PrepareObject + Serialize)

// What the proxy's DOM path sends for a named create, or its refusal.
kube::Result<std::string> CreateDom(const Translator& t, std::string_view body) {
  auto doc = Translator::DecodeBody(body, BodyType::kJson);
  if (!doc.ok()) return doc.error();
  if (auto r = t.PrepareObject(*doc, {"create", "test", "", ""}); !r.ok()) return r.error();
  return json::Serialize(*doc);
}

// Checks one body through both paths; returns the fast outcome.
fast::Outcome CheckCreate(const Translator& t, std::string_view body) {
  std::string out = "stale";
  std::string name = "stale";
  const fast::Outcome o = fast::PrepareCreate(t, body, "test", out, name);
  EXPECT_NE(o, fast::Outcome::kDropped) << body;
  if (o != fast::Outcome::kTranslated) return o;
  auto dom = CreateDom(t, body);
  EXPECT_TRUE(dom.ok()) << "the fast path accepted what the DOM path refuses: " << body;
  if (!dom.ok()) return o;
  EXPECT_TRUE(json::Parse(out).has_value()) << out;
  // The same members in the same order, every value the same.
  EXPECT_EQ(Normalize(out), Normalize(*dom)) << body;
  auto parsed = json::Parse(body);
  EXPECT_EQ(name, Translator::BodyName(*parsed)) << body;
  return o;
}

TEST(FastCreate, TypicalBodiesTakeTheFastPath) {
  const Translator t = MakeTranslator();
  // kubectl create -f (with last-applied from kubectl apply --server-side=false).
  const std::string kubectl =
      R"({"apiVersion":"k8s.starter.org/v1alpha1","kind":"KubernetesCluster","metadata":{)"
      R"("annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"a\":1}\n"},)"
      R"("name":"my-bucket","namespace":"test"},"spec":{"parameters":{"nodeCount":3},)"
      R"("writeConnectionSecretToRef":{"name":"kubeconfig"}}})";
  std::string out, name;
  ASSERT_EQ(CheckCreate(t, kubectl), fast::Outcome::kTranslated);
  ASSERT_EQ(fast::PrepareCreate(t, kubectl, "test", out, name), fast::Outcome::kTranslated);
  EXPECT_EQ(name, "my-bucket");
  auto doc = json::Parse(out);
  ASSERT_TRUE(doc.has_value()) << out;
  const json::Value& meta = *json::Find(*doc, "metadata");
  EXPECT_EQ(json::GetString(meta, "name"), Cp("my-bucket", "test"));
  EXPECT_EQ(json::GetString(meta, "namespace"), kClaimNs);
  EXPECT_EQ(json::GetString(*json::Find(meta, "labels"), naming::kLabelAppCluster), kCluster);
  EXPECT_EQ(json::GetString(*json::Find(meta, "labels"), naming::kLabelAppNamespace), "test");
  EXPECT_EQ(json::GetString(*json::Find(meta, "annotations"), kConnectionSecretAnnotation),
            "kubeconfig");
  EXPECT_EQ(json::GetString(*json::FindPath(*doc, "spec.writeConnectionSecretToRef"), "name"),
            ConnectionSecretName("kubeconfig", "test", kCluster));
  // Values the connector does not rewrite are copied as they were written.
  EXPECT_NE(out.find(R"(/last-applied-configuration":"{\"a\":1}\n")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("parameters":{"nodeCount":3})"), std::string::npos) << out;

  // The same claim without apiVersion, kind and namespace (filled in, as the DOM path does), a
  // 70-character name (kept in an annotation) and a namespaced XR translator.
  const std::string bare = R"({"metadata":{"name":")" + std::string(70, 'n') + R"("}})";
  EXPECT_EQ(CheckCreate(t, bare), fast::Outcome::kTranslated);
  EXPECT_EQ(CheckCreate(MakeTranslator(kCluster, Kind::kNamespacedXR), kubectl),
            fast::Outcome::kTranslated);
}

TEST(FastCreate, GeneratedBodiesMatchTheDomPath) {
  const Translator t = MakeTranslator();
  const Translator xrs = MakeTranslator(kCluster, Kind::kNamespacedXR);
  Gen g(20261208);
  Counts c;
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string body = g.CreateBody();
    const Translator& tr = i % 7 == 0 ? xrs : t;
    const fast::Outcome o = CheckCreate(tr, body);
    c.Add(o);
    if (!CreateDom(tr, body).ok()) ++refused;
    if (::testing::Test::HasFailure()) break;
  }
  // Most bodies are fine and take the fast path; every refusal was the DOM path's.
  EXPECT_GT(c.translated, 1200);
  EXPECT_GT(refused, 1000);
  EXPECT_GE(c.fallback, refused);
}

TEST(FastCreate, EveryRefusalAndEveryUnusualBodyIsTheDomPaths) {
  const Translator t = MakeTranslator();
  const std::string cases[] = {
      // PrepareObject's refusals (400 / 422).
      R"([1])",
      R"({"metadata":"x"})",
      R"({"metadata":null})",
      R"({"spec":{}})",
      R"({"metadata":{"name":""}})",
      R"({"metadata":{"name":7}})",
      R"({"metadata":{"name":"Bad_Name"}})",
      R"({"apiVersion":"v1","metadata":{"name":"a"}})",
      R"({"apiVersion":3,"metadata":{"name":"a"}})",
      R"({"kind":"Other","metadata":{"name":"a"}})",
      R"({"kind":null,"metadata":{"name":"a"}})",
      R"({"metadata":{"name":"a","namespace":"other"}})",
      R"({"metadata":{"name":"a","namespace":5}})",
      R"({"metadata":{"name":"a","labels":[]}})",
      R"({"metadata":{"name":"a","labels":{"n":5}}})",
      R"({"metadata":{"name":"a","labels":{"mcp-connector.upbound.io/app-cluster":"x"}}})",
      R"({"metadata":{"name":"a","annotations":{"mcp-connector.upbound.io/x":"y"}}})",
      // generateName: the DOM path picks the name (and retries on a clash).
      R"({"metadata":{"generateName":"gen-"}})",
      // ownerReferences go to an annotation the DOM path serializes.
      R"({"metadata":{"name":"a","ownerReferences":[{"kind":"ConfigMap","name":"o"}]}})",
      // Duplicates where the connector reads, and other unusual text.
      R"({"metadata":{"name":"a","name":"b"}})",
      R"({"metadata":{"name":"a"},"metadata":{"name":"b"}})",
      R"({"metadata":{"name":"a","labels":{"x":"1","x":"2"}}})",
      R"({"metadata":{"name":"a"},"spec":{"writeConnectionSecretToRef":{"name":"a","name":"b"}}})",
      R"({"metadata":{"na\u006de":"a"}})",
      R"({"metadata":{"name":"a"},"spec":{"n":1e3}})",
      R"({"metadata":{"name":"a"}} x)",
      R"({"metadata":{"name":"a"})",
      "",
  };
  for (const std::string& body : cases) {
    std::string out = "untouched?";
    std::string name;
    EXPECT_EQ(fast::PrepareCreate(t, body, "test", out, name), fast::Outcome::kFallback) << body;
  }
  // The refusals are the DOM path's to write: it does refuse the first group.
  for (size_t i = 0; i < 17; ++i) EXPECT_FALSE(CreateDom(t, cases[i]).ok()) << cases[i];
}

// Duplicates inside values the connector never reads go to the control plane as written: it
// applies its fieldValidation to them, as it would to a direct request.
TEST(FastCreate, DuplicatesTheConnectorDoesNotReadGoAsSent) {
  const Translator t = MakeTranslator();
  const std::string body =
      R"({"metadata":{"name":"a"},"spec":{"parameters":{"nodeCount":3,"nodeCount":4}}})";
  std::string out, name;
  ASSERT_EQ(fast::PrepareCreate(t, body, "test", out, name), fast::Outcome::kTranslated);
  EXPECT_NE(out.find(R"("parameters":{"nodeCount":3,"nodeCount":4})"), std::string::npos) << out;
}

}  // namespace
}  // namespace proxy
