#include "kube/json.h"

#include <gtest/gtest.h>

namespace kube::json {
namespace {

TEST(JsonTest, ParseRejectsMalformedAndTrailingGarbage) {
  EXPECT_TRUE(Parse(R"({"a":1})").has_value());
  EXPECT_TRUE(Parse(" {\"a\":1}\n ").has_value());
  EXPECT_FALSE(Parse(R"({"a":1} x)").has_value());
  EXPECT_FALSE(Parse(R"({"a":)").has_value());
  EXPECT_FALSE(Parse("").has_value());
  // Not NUL-terminated input: only the view is parsed.
  std::string s = R"({"a":1}garbage)";
  EXPECT_TRUE(Parse(std::string_view(s).substr(0, 7)).has_value());
}

TEST(JsonTest, LookupsTolerateWrongTypes) {
  auto doc = Parse(R"({"metadata":{"name":"x","labels":{"a":"b"}},"n":5,"s":"str","u":1e3})");
  ASSERT_TRUE(doc);
  EXPECT_EQ(GetString(*doc, "s"), "str");
  EXPECT_EQ(GetString(*doc, "n", "fb"), "fb");
  EXPECT_EQ(GetString(*doc, "missing", "fb"), "fb");
  EXPECT_EQ(GetInt(*doc, "n"), 5);
  EXPECT_FALSE(GetInt(*doc, "s").has_value());
  EXPECT_FALSE(GetInt(*doc, "u").has_value());
  const Value* name = FindPath(*doc, "metadata.name");
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(View(*name), "x");
  EXPECT_EQ(FindPath(*doc, "metadata.name.more"), nullptr);
  EXPECT_EQ(FindPath(*doc, "nope.name"), nullptr);
  EXPECT_EQ(View(*FindPath(*doc, "metadata.labels.a")), "b");
  EXPECT_EQ(Find(*name, "x"), nullptr);  // not an object
}

TEST(JsonTest, MutatorsKeepOrder) {
  auto doc = Parse(R"({"a":1,"b":2,"c":3})");
  ASSERT_TRUE(doc);
  auto& a = doc->GetAllocator();
  SetString(*doc, "b", "two", a);
  SetString(*doc, "d", "four", a);
  EXPECT_EQ(Serialize(*doc), R"({"a":1,"b":"two","c":3,"d":"four"})");
  EXPECT_TRUE(RemoveMember(*doc, "a"));
  EXPECT_FALSE(RemoveMember(*doc, "a"));
  EXPECT_EQ(Serialize(*doc), R"({"b":"two","c":3,"d":"four"})");
  Value& md = EnsureObject(*doc, "metadata", a);
  SetString(md, "name", "n", a);
  Value& again = EnsureObject(*doc, "c", a);  // replaces a non-object
  EXPECT_TRUE(again.IsObject());
  SetMember(*doc, "e", Value(7), a);
  std::string out = "prefix:";
  AppendTo(*doc, out);
  EXPECT_EQ(out, R"(prefix:{"b":"two","c":{},"d":"four","metadata":{"name":"n"},"e":7})");
}

TEST(JsonTest, StrCopiesNonTerminatedViews) {
  Document d(rapidjson::kObjectType);
  std::string s = "abcdef";
  Value v = Str(std::string_view(s).substr(1, 3), d.GetAllocator());
  s = "zzzzzz";
  EXPECT_EQ(View(v), "bcd");
}

}  // namespace
}  // namespace kube::json
