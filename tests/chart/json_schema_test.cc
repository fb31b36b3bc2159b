// The validator the chart checks rely on: each keyword accepts what it should and rejects what
// it should, and YAML scalars are typed the way Helm types them.
#include "tests/chart/json_schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chart {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Value Yaml(const std::string& text) {
  Value v;
  std::string error;
  EXPECT_TRUE(ParseYaml(text, &v, &error)) << error;
  return v;
}

Value Json(const std::string& text) {
  Value v;
  std::string error;
  EXPECT_TRUE(ParseJson(text, &v, &error)) << error;
  return v;
}

std::vector<std::string> Errors(const std::string& schema, const std::string& yaml) {
  std::vector<std::string> errors;
  Validate(Json(schema), Yaml(yaml), &errors);
  return errors;
}

TEST(YamlTypingTest, PlainScalarsResolveLikeGoYamlV2) {
  Value v = Yaml(
      "i: 42\nneg: -3\nhex: 0x1F\nf: 1.5\nb1: true\nb2: yes\nb3: Off\nn1: ~\nn2: null\nn3:\n"
      "s: hello\nq: \"42\"\nq2: 'true'\nver: 1.30.1\n");
  EXPECT_EQ(v.Find("i")->type, Value::Type::kInt);
  EXPECT_EQ(v.Find("i")->i, 42);
  EXPECT_EQ(v.Find("neg")->i, -3);
  EXPECT_EQ(v.Find("hex")->i, 31);
  EXPECT_EQ(v.Find("f")->type, Value::Type::kFloat);
  EXPECT_TRUE(v.Find("b1")->b);
  EXPECT_EQ(v.Find("b2")->type, Value::Type::kBool);
  EXPECT_TRUE(v.Find("b2")->b);
  EXPECT_EQ(v.Find("b3")->type, Value::Type::kBool);
  EXPECT_FALSE(v.Find("b3")->b);
  EXPECT_EQ(v.Find("n1")->type, Value::Type::kNull);
  EXPECT_EQ(v.Find("n2")->type, Value::Type::kNull);
  EXPECT_EQ(v.Find("n3")->type, Value::Type::kNull);
  EXPECT_EQ(v.Find("s")->s, "hello");
  EXPECT_EQ(v.Find("q")->type, Value::Type::kString);
  EXPECT_EQ(v.Find("q")->s, "42");
  EXPECT_EQ(v.Find("q2")->type, Value::Type::kString);
  EXPECT_EQ(v.Find("ver")->type, Value::Type::kString);
}

TEST(YamlTypingTest, SyntaxErrorIsReported) {
  Value v;
  std::string error;
  EXPECT_FALSE(ParseYaml("a: [1, 2\nb: c", &v, &error));
  EXPECT_FALSE(error.empty());
}

TEST(JsonTest, ParsesAndReportsErrors) {
  Value v = Json(R"({"a": [1, 2.5, "x", true, null], "b": {"c": -7}})");
  EXPECT_EQ(v.Find("a")->array.size(), 5u);
  EXPECT_EQ(v.Find("a")->array[0].type, Value::Type::kInt);
  EXPECT_EQ(v.Find("a")->array[1].type, Value::Type::kFloat);
  EXPECT_EQ(v.Find("b")->Find("c")->i, -7);
  std::string error;
  EXPECT_FALSE(ParseJson("{\"a\": }", &v, &error));
  EXPECT_THAT(error, HasSubstr("offset"));
}

TEST(ValidateTest, Type) {
  const char* schema = R"({"properties": {"n": {"type": "integer"}, "s": {"type": "string"},
    "b": {"type": "boolean"}, "o": {"type": "object"}, "a": {"type": "array"},
    "x": {"type": ["string", "null"]}, "num": {"type": "number"}}})";
  EXPECT_THAT(Errors(schema, "n: 1\ns: a\nb: false\no: {}\na: []\nx: ~\nnum: 1.5"), IsEmpty());
  EXPECT_THAT(Errors(schema, "n: 1.0"), IsEmpty());  // draft-07: integral numbers are integers
  EXPECT_THAT(Errors(schema, "n: 1.5"), ElementsAre("n: got number, want integer"));
  EXPECT_THAT(Errors(schema, "n: \"1\""), ElementsAre("n: got string, want integer"));
  EXPECT_THAT(Errors(schema, "s: 3"), ElementsAre("s: got integer, want string"));
  EXPECT_THAT(Errors(schema, "b: \"yes\""), ElementsAre("b: got string, want boolean"));
  EXPECT_THAT(Errors(schema, "o: []"), ElementsAre("o: got array, want object"));
  EXPECT_THAT(Errors(schema, "a: {}"), ElementsAre("a: got object, want array"));
  EXPECT_THAT(Errors(schema, "x: 1"), ElementsAre("x: got integer, want string or null"));
  EXPECT_THAT(Errors(R"({"type": "object"})", "[1]"),
              ElementsAre("(root): got array, want object"));
}

TEST(ValidateTest, RequiredAndAdditionalProperties) {
  const char* schema = R"({"type": "object", "required": ["a"], "additionalProperties": false,
    "properties": {"a": {"type": "string"}, "b": {"type": "object",
      "additionalProperties": {"type": "integer"}}}})";
  EXPECT_THAT(Errors(schema, "a: x\nb: {p: 1, q: 2}"), IsEmpty());
  EXPECT_THAT(Errors(schema, "b: {}"), ElementsAre("a: is required"));
  EXPECT_THAT(Errors(schema, "a: x\nc: 1"), ElementsAre("c: additional property not allowed here"));
  EXPECT_THAT(Errors(schema, "a: x\nb: {p: one}"), ElementsAre("b.p: got string, want integer"));
}

TEST(ValidateTest, EnumMinimumMaximum) {
  const char* schema = R"({"properties": {"e": {"enum": ["soft", "hard", 3]},
    "r": {"type": "integer", "minimum": 1, "maximum": 10}}})";
  EXPECT_THAT(Errors(schema, "e: hard\nr: 1"), IsEmpty());
  EXPECT_THAT(Errors(schema, "e: 3\nr: 10"), IsEmpty());
  EXPECT_THAT(Errors(schema, "e: always"),
              ElementsAre("e: \"always\" is not one of [\"soft\", \"hard\", 3]"));
  EXPECT_THAT(Errors(schema, "r: 0"), ElementsAre("r: 0 is less than the minimum 1"));
  EXPECT_THAT(Errors(schema, "r: 11"), ElementsAre("r: 11 is greater than the maximum 10"));
}

TEST(ValidateTest, PatternIsAnUnanchoredEcmaScriptSearch) {
  const char* schema = R"({"properties": {"p": {"type": "string", "pattern": "^[a-z]+$"},
    "u": {"type": "string", "pattern": "b"}, "l": {"type": "string", "minLength": 2,
    "maxLength": 3}}})";
  EXPECT_THAT(Errors(schema, "p: abc\nu: abc\nl: ab"), IsEmpty());
  EXPECT_THAT(Errors(schema, "p: Abc"), ElementsAre("p: \"Abc\" does not match \"^[a-z]+$\""));
  EXPECT_THAT(Errors(schema, "u: xyz"), ElementsAre("u: \"xyz\" does not match \"b\""));
  EXPECT_THAT(Errors(schema, "l: a"), ElementsAre("l: shorter than 2 characters"));
  EXPECT_THAT(Errors(schema, "l: abcd"), ElementsAre("l: longer than 3 characters"));
  EXPECT_THAT(Errors(schema, "l: \"\xc3\xa9t\xc3\xa9\""), IsEmpty());  // 3 code points
}

TEST(ValidateTest, ItemsWithIndexedPaths) {
  const char* schema = R"({"properties": {"l": {"type": "array", "items": {"type": "object",
    "required": ["name"], "properties": {"name": {"type": "string"}}}}}})";
  EXPECT_THAT(Errors(schema, "l: [{name: a}, {name: b}]"), IsEmpty());
  EXPECT_THAT(Errors(schema, "l: [{name: a}, {nam: b}, 3]"),
              ElementsAre("l[1].name: is required", "l[2]: got integer, want object"));
}

TEST(ValidateTest, BooleanSchemas) {
  EXPECT_THAT(Errors(R"({"properties": {"a": false, "b": true}})", "b: 1"), IsEmpty());
  EXPECT_THAT(Errors(R"({"properties": {"a": false}})", "a: 1"), ElementsAre("a: not allowed"));
}

TEST(UnsupportedKeywordsTest, ReportsKeywordsTheValidatorIgnores) {
  Value schema = Json(R"({"type": "object", "properties": {"a": {"oneOf": []},
    "b": {"type": "array", "items": {"format": "x"}}}, "additionalProperties": {"const": 1}})");
  EXPECT_THAT(UnsupportedKeywords(schema), ElementsAre("a: oneOf", "b[]: format", ".*: const"));
  EXPECT_THAT(UnsupportedKeywords(Json(R"({"$schema": "x", "title": "t", "description": "d",
    "type": "string", "default": "", "pattern": "a"})")),
              IsEmpty());
}

TEST(MergeValuesTest, CoalescesLikeHelm) {
  Value merged = MergeValues(Yaml("a: {b: 1, c: 2}\nl: [1, 2]\nd: x\nkeep: 1"),
                             Yaml("a: {c: 3, e: 4}\nl: [9]\nd: ~\nnew: yy"));
  EXPECT_EQ(merged.Find("a")->Find("b")->i, 1);
  EXPECT_EQ(merged.Find("a")->Find("c")->i, 3);
  EXPECT_EQ(merged.Find("a")->Find("e")->i, 4);
  ASSERT_EQ(merged.Find("l")->array.size(), 1u);  // lists replace, never merge
  EXPECT_EQ(merged.Find("l")->array[0].i, 9);
  EXPECT_EQ(merged.Find("d"), nullptr);  // null deletes
  EXPECT_EQ(merged.Find("keep")->i, 1);
  EXPECT_EQ(merged.Find("new")->s, "yy");
}

TEST(SchemaForTest, FollowsProperties) {
  Value schema = Json(R"({"properties": {"a": {"properties": {"b": {"type": "string"}}}}})");
  ASSERT_NE(SchemaFor(schema, {"a", "b"}), nullptr);
  EXPECT_EQ(SchemaFor(schema, {"a", "b"})->Find("type")->s, "string");
  EXPECT_EQ(SchemaFor(schema, {"a", "c"}), nullptr);
  EXPECT_EQ(SchemaFor(schema, {"a", "b", "c"}), nullptr);
}

}  // namespace
}  // namespace chart
