// Bugs the fuzzers (tests/fuzz/) found in request/response translation, each with its reproducer
// as a plain unit test. The raw reproducer files are in tests/fuzz/regressions/<target>/ and are
// also replayed through the fuzz targets by corpus_replay_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "kube/http.h"
#include "kube/json.h"
#include "kube/selectors.h"
#include "proxy/translator.h"

namespace {

namespace json = kube::json;
using proxy::BodyType;
using proxy::Translator;

std::string Nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// Deeply nested JSON overflowed the stack: RapidJSON's parser (and its writer, copies and our
// recursive member de-duplication) recurse once per level. Any user could crash the connector
// with a ~200 KB request body; a control plane with a deep object, with any response.
TEST(FuzzRegressions, DeeplyNestedJsonIsRejectedNotACrash) {
  const std::string deep(200000, '[');
  EXPECT_FALSE(json::Parse(deep).has_value());
  EXPECT_FALSE(json::Parse(Nested(200000)).has_value());
  auto body = Translator::DecodeBody(Nested(200000), BodyType::kJson);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.error().code, 400);
  EXPECT_FALSE(Translator::DecodeBody(Nested(200000), BodyType::kMergePatch).ok());

  proxy::Translator t = fuzz::MakeTranslator();
  std::string item;
  for (int i = 0; i < 100000; ++i) item += "{\"a\":";
  EXPECT_FALSE(t.TranslateItemText(item).ok());
  EXPECT_FALSE(
      t.TranslateWatchEvent("{\"type\":\"ADDED\",\"object\":" + Nested(100000) + "}", true).ok());
  EXPECT_FALSE(t.TranslateRowText(Nested(100000), t.ColumnsOf(nullptr), true).ok());
  // Ordinary nesting still parses.
  EXPECT_TRUE(json::Parse(Nested(100)).has_value());
  EXPECT_TRUE(Translator::DecodeBody(R"({"spec":)" + Nested(100) + "}", BodyType::kJson).ok());
}

// YAML aliases expanded without bound ("billion laughs", CVE-2019-11253 in kube): a 600-byte
// YAML body expanded to 9^9 JSON values.
TEST(FuzzRegressions, YamlAliasBombIsRejected) {
  std::string yaml =
      "apiVersion: k8s.starter.org/v1alpha1\nkind: KubernetesCluster\nmetadata: {name: lol}\n"
      "spec:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    yaml += "  a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 9; ++j) yaml += (j ? ", " : "") + prev;
    yaml += "]\n";
  }
  auto start = std::chrono::steady_clock::now();
  auto doc = Translator::DecodeBody(yaml, BodyType::kYaml);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().code, 400);
  EXPECT_FALSE(Translator::DecodeBody(yaml, BodyType::kApplyPatch).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // A few aliases are fine.
  auto ok = Translator::DecodeBody("a: &x [1, 2]\nb: *x\nc: *x\n", BodyType::kYaml);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(json::Serialize(*ok), R"({"a":[1,2],"b":[1,2],"c":[1,2]})");
}

// Duplicate member names were resolved in O(members x unique members): one duplicate in an
// object with 100,000 members took minutes (any user, one create request under 3 MiB).
TEST(FuzzRegressions, DuplicateMembersAreResolvedInLinearTime) {
  std::string body = "{";
  for (int i = 0; i < 100000; ++i) body += "\"k" + std::to_string(i) + "\":1,";
  body += "\"k0\":2}";
  auto start = std::chrono::steady_clock::now();
  auto doc = Translator::DecodeBody(body, BodyType::kJson);
  ASSERT_TRUE(doc.ok());
  // Linear: ~1 s in a sanitized debug build; the quadratic version took minutes.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(doc->MemberCount(), 100000u);
  EXPECT_EQ(json::GetInt(*doc, "k0"), 2);  // the last one wins, like encoding/json
}

}  // namespace

namespace {

// A fieldSelector value no label can hold (here metadata.name with a control character, across
// namespaces) was copied raw into the upstream labelSelector, which the control plane then
// refused to parse (a 400 naming our reserved label key). It names no object: "=" must select
// nothing, "!=" everything, and the upstream selector must stay well-formed and pinned.
TEST(FuzzRegressions, FieldSelectorValueThatNoLabelCanHoldKeepsTheUpstreamSelectorValid) {
  proxy::Translator t = fuzz::MakeTranslator();
  for (const char* fs :
       {"metadata.name==\x01"
        "3mcof",
        "metadata.name!=a b", "metadata.namespace=a\\,b", "metadata.namespace!=x y"}) {
    SCOPED_TRACE(fs);
    kube::http::Query in;
    in.Set("labelSelector", "a==b");
    in.Set("fieldSelector", fs);
    auto q = t.TranslateQuery(in, "list", "");
    ASSERT_TRUE(q.ok()) << q.error().message;
    std::string upstream(q->Get("labelSelector").value_or(""));
    auto parsed = kube::LabelSelector::Parse(upstream);
    auto* sel = std::get_if<kube::LabelSelector>(&parsed);
    ASSERT_NE(sel, nullptr) << upstream;
    EXPECT_EQ(sel->RequiresExactMatch("mcp-connector.upbound.io/app-cluster"), fuzz::kCluster);
    const bool not_equals = std::string_view(fs).find("!=") != std::string_view::npos;
    size_t found = 0;
    for (const char* key :
         {"mcp-connector.upbound.io/app-namespace", "mcp-connector.upbound.io/app-resource-name"}) {
      for (const auto* r : sel->RequirementsFor(key)) {
        ++found;
        EXPECT_EQ(r->values, std::vector<std::string>{""}) << upstream;
        EXPECT_EQ(r->op,
                  not_equals ? kube::LabelOperator::kNotEquals : kube::LabelOperator::kEquals);
      }
    }
    EXPECT_EQ(found, 1u) << upstream;
  }
}

}  // namespace
