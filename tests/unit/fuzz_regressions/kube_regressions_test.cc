// Bugs the fuzzers (tests/fuzz/) found in kube/, each with its reproducer as a unit test.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "kube/json.h"
#include "kube/watch_decoder.h"

namespace {

// An event opened with '{' and closed with ']' was returned as an event ("{...]"), breaking the
// decoder's contract (every event is a "{...}" text); it is a malformed stream.
TEST(FuzzRegressions, WatchEventClosedByBracketIsAStreamError) {
  kube::WatchDecoder d;
  d.Feed("{\"type\":\"ADDED\",\"object\":{}}\n{\"a\":1]\n{\"b\":2}\n");
  auto first = d.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, "{\"type\":\"ADDED\",\"object\":{}}");
  EXPECT_FALSE(d.Next().has_value());
  EXPECT_TRUE(d.failed());
  EXPECT_FALSE(d.Next().has_value());

  // Brackets inside events are fine.
  kube::WatchDecoder ok;
  ok.Feed("{\"a\":[1,[2]],\"s\":\"]}\"}");
  auto ev = ok.Next();
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(*ev, "{\"a\":[1,[2]],\"s\":\"]}\"}");
  EXPECT_FALSE(ok.failed());
}

// kube::json::Parse rounded some numbers (RapidJSON's fast path): "5e200" was forwarded as
// 4.9999999999999998e200; RapidJSON's full-precision path has undefined behaviour on "0e-241".
// What the proxy forwards must be the number the client sent.
TEST(FuzzRegressions, JsonNumbersSurviveAParseSerializeRoundTrip) {
  for (const char* n : {"5e200", "0.1", "1.7976931348623157e308", "2.2250738585072014e-308",
                        "123456789012345.67", "-0.5", "1e-7", "0e-241", "0.0e5", "1e-400"}) {
    SCOPED_TRACE(n);
    auto first = kube::json::Parse(std::string("[") + n + "]");
    ASSERT_TRUE(first.has_value());
    std::string once = kube::json::Serialize(*first);
    auto second = kube::json::Parse(once);
    ASSERT_TRUE(second.has_value());
    EXPECT_EQ(kube::json::Serialize(*second), once);
    EXPECT_EQ((*first)[0].GetDouble(), std::strtod(n, nullptr));
  }
}

// Integers keep their exact value and RapidJSON's typing; numbers too big for a double are
// rejected (as before).
TEST(FuzzRegressions, JsonIntegersAndOverflow) {
  auto doc = kube::json::Parse(
      "[0,-0,1,-1,2147483647,-2147483648,4294967295,4294967296,-2147483649,"
      "9223372036854775807,-9223372036854775808,18446744073709551615,18446744073709551616]");
  ASSERT_TRUE(doc.has_value());
  const auto& a = *doc;
  EXPECT_TRUE(a[0].IsInt());
  EXPECT_EQ(a[1].GetInt(), 0);
  EXPECT_EQ(a[4].GetInt(), 2147483647);
  EXPECT_EQ(a[5].GetInt(), INT32_MIN);
  EXPECT_TRUE(a[6].IsUint());
  EXPECT_FALSE(a[6].IsInt());
  EXPECT_EQ(a[7].GetInt64(), 4294967296LL);
  EXPECT_EQ(a[8].GetInt64(), -2147483649LL);
  EXPECT_EQ(a[9].GetInt64(), INT64_MAX);
  EXPECT_EQ(a[10].GetInt64(), INT64_MIN);
  EXPECT_EQ(a[11].GetUint64(), UINT64_MAX);
  EXPECT_TRUE(a[12].IsDouble());
  EXPECT_EQ(a[12].GetDouble(), 18446744073709551616.0);
  EXPECT_EQ(kube::json::Serialize(a).rfind(
                "[0,0,1,-1,2147483647,-2147483648,4294967295,4294967296,-2147483649,"
                "9223372036854775807,-9223372036854775808,18446744073709551615,",
                0),
            0u);
  EXPECT_FALSE(kube::json::Parse("[1e400]").has_value());
  EXPECT_FALSE(kube::json::Parse("-1e999").has_value());
}

}  // namespace
