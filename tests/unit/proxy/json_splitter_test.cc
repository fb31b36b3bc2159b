#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/json.h"
#include "proxy/json_splitter.h"
#include "proxy/translator.h"
#include "test_util.h"

namespace proxy {
namespace {

using namespace proxy::testing;  // NOLINT

// Identity callbacks: members and elements pass through unchanged.
kube::Result<std::optional<std::string>> KeepMember(std::string_view, std::string_view value) {
  return std::optional<std::string>(std::string(value));
}
kube::Result<bool> KeepElement(std::string_view, std::string_view element, std::string& out) {
  out += element;
  return true;
}

struct SplitRun {
  std::string out;
  std::vector<std::string> elements;
  std::vector<std::string> members;
  bool ok = true;
  bool done = false;
  size_t peak = 0;
};

// Feeds `input` in pieces of `step` bytes (0: one piece), uppercasing nothing: elements that
// contain "drop" are removed, the rest wrapped as {"w":element}.
SplitRun Split(std::string_view input, size_t step) {
  SplitRun run;
  ListSplitter sp(
      {"items", "rows"},
      [&](std::string_view key,
          std::string_view value) -> kube::Result<std::optional<std::string>> {
        run.members.push_back(std::string(key) + "=" + std::string(value));
        return std::optional<std::string>(std::string(value));
      },
      [&](std::string_view, std::string_view element, std::string& out) -> kube::Result<bool> {
        run.elements.emplace_back(element);
        if (element.find("drop") != std::string_view::npos) {
          out += "half-written";  // taken back: the element is dropped
          return false;
        }
        out += "{\"w\":" + std::string(element) + "}";
        return true;
      });
  if (step == 0) step = input.size() ? input.size() : 1;
  for (size_t i = 0; i < input.size() && run.ok; i += step) {
    run.ok = sp.Feed(input.substr(i, step), run.out).ok();
  }
  run.done = sp.done();
  run.peak = sp.peak_buffered_bytes();
  return run;
}

constexpr std::string_view kList =
    R"( {"kind" : "KubernetesClusterList", "apiVersion":"v1", "metadata": {"resourceVersion":"12","continue":"a\"}]b"},
       "items" : [ {"a":"x]}\\\"{"}, {"drop":true} ,{"n":[1,2,{"b":null}],"s":"\u00e9\n"}, 42, "str", null, true, -1.5e3 ],
       "extra": [1, {"k": "v"}], "flag": false, "num": 12 } )";

TEST(ListSplitter, SplitsItemsAndPassesMembers) {
  SplitRun r = Split(kList, 0);
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.done);
  ASSERT_EQ(r.elements.size(), 8u);
  EXPECT_EQ(r.elements[0], R"({"a":"x]}\\\"{"})");
  EXPECT_EQ(r.elements[2], R"({"n":[1,2,{"b":null}],"s":"\u00e9\n"})");
  EXPECT_EQ(r.elements[3], "42");
  EXPECT_EQ(r.elements[4], "\"str\"");
  EXPECT_EQ(r.elements[7], "-1.5e3");
  // Output is valid JSON with the dropped element gone and commas right.
  auto doc = kube::json::Parse(r.out);
  ASSERT_TRUE(doc.has_value()) << r.out;
  EXPECT_EQ((*doc)["items"].Size(), 7u);
  EXPECT_EQ(kube::json::GetString(*doc, "kind"), "KubernetesClusterList");
  EXPECT_EQ(kube::json::GetString((*doc)["metadata"], "continue"), "a\"}]b");
  EXPECT_EQ((*doc)["extra"].Size(), 2u);
  EXPECT_EQ((*doc)["num"].GetInt(), 12);
  EXPECT_FALSE((*doc)["flag"].GetBool());
}

// Every chunk boundary, including inside strings, escapes, keys and numbers.
TEST(ListSplitter, SameResultAtEveryChunkBoundary) {
  SplitRun whole = Split(kList, 0);
  for (size_t step = 1; step <= 17; ++step) {
    SplitRun r = Split(kList, step);
    ASSERT_TRUE(r.ok) << step;
    EXPECT_TRUE(r.done) << step;
    EXPECT_EQ(r.out, whole.out) << step;
    EXPECT_EQ(r.elements, whole.elements) << step;
  }
  // Two pieces split at each position.
  for (size_t cut = 0; cut <= kList.size(); ++cut) {
    SplitRun r;
    ListSplitter sp(
        {"items"}, KeepMember,
        [&](std::string_view, std::string_view e, std::string& out) -> kube::Result<bool> {
          if (e.find("drop") != std::string_view::npos) return false;
          out += "{\"w\":" + std::string(e) + "}";
          return true;
        });
    ASSERT_TRUE(sp.Feed(kList.substr(0, cut), r.out).ok()) << cut;
    ASSERT_TRUE(sp.Feed(kList.substr(cut), r.out).ok()) << cut;
    EXPECT_TRUE(sp.done());
    EXPECT_EQ(r.out, whole.out) << cut;
  }
}

TEST(ListSplitter, EmptyAndNullItems) {
  SplitRun empty = Split(R"({"items":[],"metadata":{}})", 1);
  ASSERT_TRUE(empty.ok);
  EXPECT_EQ(empty.out, R"({"items":[],"metadata":{}})");
  SplitRun all_dropped = Split(R"({"items":["drop","drop"]})", 3);
  ASSERT_TRUE(all_dropped.ok);
  EXPECT_EQ(all_dropped.out, R"({"items":[]})");
  SplitRun null_items = Split(R"({"items":null})", 1);
  ASSERT_TRUE(null_items.ok);
  EXPECT_EQ(null_items.out, R"({"items":null})");
}

TEST(ListSplitter, MalformedInputIsAnError) {
  for (std::string_view bad :
       {"[1,2]", "{\"items\":[1,]}", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":1} x", "{\"items\":[}]}",
        "{\"a\":}", "{,}", "{\"items\":[1 2]}"}) {
    for (size_t step : {size_t{0}, size_t{1}}) {
      SplitRun r = Split(bad, step);
      EXPECT_FALSE(r.ok && r.done) << bad << " step " << step;
    }
  }
  SplitRun truncated = Split(R"({"items":[{"a":1})", 0);
  EXPECT_TRUE(truncated.ok);
  EXPECT_FALSE(truncated.done);
}

// Over the limit is an error, whether the element comes whole or in pieces, and the splitter
// never holds more than the limit.
TEST(ListSplitter, OversizedElementIsAnError) {
  const std::string big = R"({"items":[")" + std::string(200, 'x') + R"("]})";
  for (size_t step : {big.size(), size_t{1}, size_t{7}, size_t{50}}) {
    std::string out;
    ListSplitter sp({"items"}, KeepMember, KeepElement, /*max_value_bytes=*/64);
    bool ok = true;
    for (size_t i = 0; i < big.size() && ok; i += step) ok = sp.Feed(big.substr(i, step), out).ok();
    EXPECT_FALSE(ok) << step;
    EXPECT_LE(sp.peak_buffered_bytes(), 64u + 5u) << step;
  }
}

TEST(ListSplitter, CallbackErrorsStopTheRelay) {
  std::string out;
  ListSplitter sp({"items"}, KeepMember,
                  [](std::string_view, std::string_view, std::string&) -> kube::Result<bool> {
                    return kube::NewInternalError("boom");
                  });
  auto r = sp.Feed(R"({"items":[1]})", out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "Internal error occurred: boom");
}

// The memory bound: relaying a list through the real translator holds about one item, however
// many items there are.
std::string BigList(int n) {
  std::string s =
      R"({"kind":"KubernetesClusterList","apiVersion":"k8s.starter.org/v1alpha1","metadata":{"resourceVersion":"1"},"items":[)";
  for (int i = 0; i < n; ++i) {
    if (i) s += ",";
    s += StoredClaim("claim-number-" + std::to_string(i % 10), "ns" + std::to_string(i % 10),
                     i % 3 == 0 ? kOtherCluster : kCluster);
  }
  return s + "]}";
}

struct Relayed {
  size_t peak = 0;
  size_t items_out = 0;
  size_t max_out_chunk = 0;
};

Relayed RelayThroughTranslator(const std::string& input, size_t chunk) {
  Translator t = MakeTranslator();
  ListSplitter sp(
      {"items", "rows"}, KeepMember,
      [&](std::string_view, std::string_view e, std::string& o) { return t.AppendItemText(e, o); });
  Relayed r;
  std::string out;
  for (size_t i = 0; i < input.size(); i += chunk) {
    EXPECT_TRUE(sp.Feed(std::string_view(input).substr(i, chunk), out).ok());
    r.max_out_chunk = std::max(r.max_out_chunk, out.size());
    out.clear();  // written to the client
  }
  EXPECT_TRUE(sp.done());
  r.peak = sp.peak_buffered_bytes();
  r.items_out = sp.elements_seen();
  return r;
}

// The try_element fast path (the list relay's one-pass translation) gives the same output as
// delimiting every element first, at any chunk size; elements cut short by a chunk's end, and
// unusual ones it declines, take the usual path.
TEST(ListSplitter, TryElementFastPathMatchesTheUsualPath) {
  Translator t = MakeTranslator();
  // Whitespace around elements, an unusual element (an exponent: the fast path declines it) and
  // other clusters' items (dropped).
  std::string list = BigList(12);
  list.insert(list.find("[") + 1, " \n ");
  const std::string unusual = StoredClaim("expo", "ns1");
  std::string odd = unusual;
  odd.insert(odd.rfind('}'), R"(,"n":1e3)");
  list.insert(list.rfind(']'), " , " + odd + " ");
  auto relay = [&](size_t chunk, bool fast_path, size_t* taken) {
    *taken = 0;
    ListSplitter::TryElementFn try_element;
    if (fast_path) {
      try_element = [&](std::string_view key, std::string_view rest, std::string& out, bool& kept) {
        const size_t length =
            t.TryAppendListElement(key, rest, t.ColumnsOf(nullptr), true, out, kept);
        if (length > 0) ++*taken;
        return length;
      };
    }
    ListSplitter sp(
        {"items"}, KeepMember,
        [&](std::string_view, std::string_view e, std::string& o) {
          return t.AppendItemText(e, o);
        },
        ListSplitter::kDefaultMaxValueBytes, try_element);
    std::string out;
    for (size_t i = 0; i < list.size(); i += chunk) {
      EXPECT_TRUE(sp.Feed(std::string_view(list).substr(i, chunk), out).ok()) << chunk;
    }
    EXPECT_TRUE(sp.done()) << chunk;
    EXPECT_EQ(sp.elements_seen(), 13u) << chunk;
    return out;
  };
  size_t taken = 0;
  const std::string expected = relay(list.size(), false, &taken);
  auto doc = kube::json::Parse(expected);
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ((*doc)["items"].Size(), 9u);  // 12 - 4 other cluster's + the unusual one
  EXPECT_EQ(relay(list.size(), true, &taken), expected);
  EXPECT_EQ(taken, 12u);  // all but the unusual one in one pass
  for (size_t chunk : {1u, 7u, 100u, 1000u, 4096u}) {
    EXPECT_EQ(relay(chunk, true, &taken), expected) << chunk;
    if (chunk < 100) {
      EXPECT_EQ(taken, 0u) << chunk;  // never a whole item in one chunk
    }
  }
}

// An element the fast path takes still counts against the size limit.
TEST(ListSplitter, TryElementRespectsTheSizeLimit) {
  std::string out;
  bool tried = false;
  ListSplitter sp(
      {"items"}, KeepMember, KeepElement, /*max_value_bytes=*/64,
      [&](std::string_view, std::string_view rest, std::string& o, bool& kept) -> size_t {
        tried = true;
        const size_t end = rest.find('}');
        if (end == std::string_view::npos) return 0;
        o += "{}";
        kept = true;
        return end + 1;
      });
  const std::string big = R"({"items":[{"a":")" + std::string(200, 'x') + R"("}]})";
  EXPECT_FALSE(sp.Feed(big, out).ok());
  EXPECT_TRUE(tried);
}

TEST(ListSplitter, MemoryStaysFlatFrom1000To10000Items) {
  std::string small = BigList(1000);
  std::string large = BigList(10000);
  Relayed a = RelayThroughTranslator(small, 16 * 1024);
  Relayed b = RelayThroughTranslator(large, 16 * 1024);
  EXPECT_EQ(a.items_out, 1000u);
  EXPECT_EQ(b.items_out, 10000u);
  const size_t one_item = StoredClaim("claim-number-0", "ns0").size();
  EXPECT_LE(b.peak, one_item + 64) << "peak " << b.peak << " item " << one_item;
  EXPECT_EQ(a.peak, b.peak);
  // Output per input chunk is bounded by the chunk (plus one translated item), not the list.
  EXPECT_LE(b.max_out_chunk, 16 * 1024 + 2 * one_item);
  EXPECT_GT(large.size(), 4u * 1024 * 1024);
}

}  // namespace
}  // namespace proxy
