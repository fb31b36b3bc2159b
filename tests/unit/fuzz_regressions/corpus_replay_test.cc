// Replays every fuzz target over its seed corpus (tests/fuzz/corpus/<target>/) and its crash
// reproducers (tests/fuzz/regressions/<target>/), so the normal test run (with sanitizers in CI)
// keeps every input the fuzzers ever tripped on, and the targets' invariants, green.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#define X(name) extern "C" int FuzzOne_##name(const uint8_t* data, size_t size);
MCP_FUZZ_TARGETS
#undef X

namespace {

namespace fs = std::filesystem;

std::string SourceDir() {
  const char* s = std::getenv("MCP_SOURCE_DIR");
  return s != nullptr ? s : "/work/main";
}

// Runs `fn` on every file of the target's corpus and regressions; returns how many.
size_t Replay(const std::string& target, int (*fn)(const uint8_t*, size_t)) {
  size_t n = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    fs::path dir = fs::path(SourceDir()) / "tests/fuzz" / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string data = ss.str();
      SCOPED_TRACE(e.path().string());
      fn(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      ++n;
    }
  }
  return n;
}

#define X(name)                                                                   \
  TEST(CorpusReplay, name) {                                                      \
    EXPECT_GT(Replay(#name, &FuzzOne_##name), 0u) << "no seed corpus for " #name; \
  }
MCP_FUZZ_TARGETS
#undef X

}  // namespace
