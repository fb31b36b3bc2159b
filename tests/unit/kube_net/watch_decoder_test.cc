#include "kube/watch_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kube {
namespace {

const std::vector<std::string> kEvents = {
    R"({"type":"ADDED","object":{"metadata":{"name":"a"},"data":{"k":"}{][\"\\"}}})",
    R"({"type":"MODIFIED","object":{"s":"\u00e9 \\\" {","arr":[1,[2,{"x":"]"}]],"e":{}}})",
    R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"42"}}})",
};

std::vector<std::string> Drain(WatchDecoder& d) {
  std::vector<std::string> out;
  while (auto e = d.Next()) out.emplace_back(*e);
  return out;
}

std::string Join(const std::string& sep) {
  std::string s;
  for (const auto& e : kEvents) s += e + sep;
  return s;
}

TEST(WatchDecoderTest, SplitAtEveryBytePosition) {
  for (const std::string sep : {"\n", "", "\r\n  "}) {
    const std::string stream = Join(sep);
    for (size_t i = 0; i <= stream.size(); ++i) {
      WatchDecoder d;
      std::vector<std::string> got;
      d.Feed(std::string_view(stream).substr(0, i));
      for (auto& e : Drain(d)) got.push_back(e);
      d.Feed(std::string_view(stream).substr(i));
      for (auto& e : Drain(d)) got.push_back(e);
      ASSERT_EQ(got, kEvents) << "split at " << i << " sep '" << sep << "'";
      EXPECT_FALSE(d.failed());
      EXPECT_EQ(d.pending_bytes(), 0u);
    }
  }
}

TEST(WatchDecoderTest, OneByteAtATime) {
  const std::string stream = Join("\n");
  WatchDecoder d;
  std::vector<std::string> got;
  for (char c : stream) {
    d.Feed(std::string_view(&c, 1));
    for (auto& e : Drain(d)) got.push_back(e);
  }
  EXPECT_EQ(got, kEvents);
}

TEST(WatchDecoderTest, PartialEventIsPending) {
  WatchDecoder d;
  d.Feed(R"({"type":"ADDED","obj)");
  EXPECT_FALSE(d.Next().has_value());
  EXPECT_GT(d.pending_bytes(), 0u);
  EXPECT_FALSE(d.failed());
}

TEST(WatchDecoderTest, EventOverTheLimitFails) {
  WatchDecoder d(64);
  d.Feed(R"({"type":"ADDED","object":{"data":")" + std::string(100, 'x'));
  EXPECT_FALSE(d.Next().has_value());
  ASSERT_TRUE(d.failed());
  EXPECT_EQ(d.error()->code, 413);
  d.Feed("\"}}");
  EXPECT_FALSE(d.Next().has_value());  // stays failed

  WatchDecoder complete(64);
  complete.Feed(R"({"type":"ADDED","object":{"data":")" + std::string(100, 'x') + "\"}}\n");
  EXPECT_FALSE(complete.Next().has_value());
  EXPECT_TRUE(complete.failed());
}

TEST(WatchDecoderTest, GarbageBetweenEventsFails) {
  WatchDecoder d;
  d.Feed("{\"a\":1}\nnot json");
  EXPECT_EQ(std::string(*d.Next()), "{\"a\":1}");
  EXPECT_FALSE(d.Next().has_value());
  EXPECT_TRUE(d.failed());
}

}  // namespace
}  // namespace kube
