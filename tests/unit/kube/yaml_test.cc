#include "kube/yaml.h"

#include <gtest/gtest.h>

#include <string>

namespace kube::yaml {
namespace {

std::string Json(std::string_view text) {
  auto doc = ToJson(text);
  if (!doc.ok()) return "error: " + doc.error().message;
  return json::Serialize(*doc);
}

TEST(YamlTest, ScalarsResolveLikeGoYamlV2) {
  EXPECT_EQ(Json("a: 1\nb: \"1\"\nc: true\nd: null\ne: 1.5\nf: hello\ng: [x, 'y']\nh: yes\n"),
            R"({"a":1,"b":"1","c":true,"d":null,"e":1.5,"f":"hello","g":["x","y"],"h":true})");
  EXPECT_EQ(Json("[on, Off, N, y, ~, '', NULL, 'no']"),
            R"([true,false,false,true,null,"",null,"no"])");
  EXPECT_EQ(Json("[0x1F, 0o17, 017, 0b101, 1_000, -42, +7, 08, 1e3, .5, 3., -.5e-1]"),
            R"([31,15,15,5,1000,-42,7,8.0,1000.0,0.5,3.0,-0.05])");
  EXPECT_EQ(Json("[9223372036854775807, 18446744073709551615, -9223372036854775808]"),
            R"([9223372036854775807,18446744073709551615,-9223372036854775808])");
  EXPECT_EQ(Json("[2001-12-14, 1.2.3, 0x, +, -, v1, 1e, !!str 12, !!int '12', !custom 5]"),
            R"(["2001-12-14","1.2.3","0x","+","-","v1","1e","12",12,"5"])");
  EXPECT_EQ(Json("a: 1\na: 2\n"), R"({"a":2})");  // the last duplicate wins
  EXPECT_EQ(Json(""), "null");
}

TEST(YamlTest, JsonIsParsedExactly) {
  EXPECT_EQ(Json(R"({"n": 1.0, "big": 123456789012345678901234567890, "s": "yes"})"),
            R"({"n":1.0,"big":1.2345678901234568e29,"s":"yes"})");
}

TEST(YamlTest, HostileInputIsRefused) {
  auto bad = ToJson("a: [1, 2");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 400);
  EXPECT_TRUE(bad.error().message.starts_with("error converting YAML to JSON: yaml: "))
      << bad.error().message;
  // Billion laughs: each level doubles; refused by the value budget, not expanded.
  std::string laughs = "a: &a [x, x]\n";
  for (char c = 'b'; c <= 'z'; ++c) {
    laughs += std::string(1, c) + ": &" + c + " [*" + static_cast<char>(c - 1) + ", *" +
              static_cast<char>(c - 1) + "]\n";
  }
  auto exploded = ToJson(laughs);
  ASSERT_FALSE(exploded.ok());
  EXPECT_NE(exploded.error().message.find("too many values"), std::string::npos);
  // Nesting beyond the depth limit.
  std::string deep(300, '[');
  deep += std::string(300, ']');
  EXPECT_FALSE(ToJson("a: " + deep).ok());
  EXPECT_FALSE(ToJson("x: .nan").ok());
  EXPECT_FALSE(ToJson("? [a]\n: b\n").ok());  // a non-scalar key
}

TEST(YamlTest, MultipleDocuments) {
  auto docs = ToJsonDocuments("---\na: 1\n---\n---\n- b\n");
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ(json::Serialize((*docs)[0]), R"({"a":1})");
  EXPECT_EQ(json::Serialize((*docs)[1]), R"(["b"])");
  EXPECT_FALSE(ToJsonDocuments("a: 1\n---\nb: [").ok());
}

}  // namespace
}  // namespace kube::yaml
