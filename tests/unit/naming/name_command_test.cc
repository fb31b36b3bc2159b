// Runs the built `mcp-connector name` the way an operator would.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

struct Result {
  int code = -1;
  std::string out;
};

// Runs the binary with `args` (shell-quoted by the caller); stderr goes to `err_file`.
Result RunBinary(const std::string& args, bool capture_stderr = false) {
  const char* dir = std::getenv("MCP_BUILD_DIR");
  std::string bin = std::string(dir ? dir : ".") + "/mcp-connector";
  std::string cmd =
      "'" + bin + "' " + args + (capture_stderr ? " 2>&1 1>/dev/null" : " 2>/dev/null");
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

const std::string kZero = "00000000-0000-0000-0000-000000000000";

TEST(NameCommandTest, PrintsDocumentedVector) {
  Result r = RunBinary("name --cluster-id " + kZero + " --namespace test my-bucket");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "claim-c603e518969b413e\n");
}

TEST(NameCommandTest, KindAndFlagForms) {
  Result nxr = RunBinary("name --kind nxr --cluster-id=" + kZero + " -n test my-bucket");
  EXPECT_EQ(nxr.code, 0);
  EXPECT_EQ(nxr.out, "nxr-c603e518969b413e\n");
  Result claim = RunBinary("name my-bucket --namespace=test --kind=claim --cluster-id " + kZero);
  EXPECT_EQ(claim.code, 0);
  EXPECT_EQ(claim.out, "claim-c603e518969b413e\n");
}

TEST(NameCommandTest, JsonOutputHasLabels) {
  Result r = RunBinary("name --cluster-id " + kZero + " --namespace test my-bucket --output json");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out,
            "{\n"
            "  \"name\": \"claim-c603e518969b413e\",\n"
            "  \"labels\": {\n"
            "    \"mcp-connector.upbound.io/app-cluster\": \"" +
                kZero +
                "\",\n"
                "    \"mcp-connector.upbound.io/app-namespace\": \"test\",\n"
                "    \"mcp-connector.upbound.io/app-resource-name\": \"my-bucket\"\n"
                "  }\n"
                "}\n");
}

TEST(NameCommandTest, JsonOutputForLongNameHasAnnotation) {
  std::string long_name = std::string(100, 'a') + "." + std::string(100, 'b');
  Result r = RunBinary("name --cluster-id c1 --namespace test -o json " + long_name);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("\"name\": \"claim-9bf438b9e222c66d\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"mcp-connector.upbound.io/app-resource-name\": \"" + std::string(46, 'a') +
                       "-84c1cc443d053dc2\""),
            std::string::npos)
      << r.out;
  EXPECT_NE(
      r.out.find("\"annotations\": {\n    \"mcp-connector.upbound.io/app-resource-name\": \"" +
                 long_name + "\""),
      std::string::npos)
      << r.out;
}

TEST(NameCommandTest, UsageErrorsExitTwo) {
  Result unknown = RunBinary("name --bogus x --cluster-id c --namespace n a", true);
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.out.find("unknown flag \"--bogus\""), std::string::npos) << unknown.out;
  EXPECT_EQ(RunBinary("name --cluster-id c --namespace n a --bogus").code, 2);
  Result missing = RunBinary("name --namespace n a", true);
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("--cluster-id is required"), std::string::npos) << missing.out;
  EXPECT_EQ(RunBinary("name --cluster-id c a").code, 2);
  EXPECT_EQ(RunBinary("name --cluster-id c --namespace n").code, 2);
  EXPECT_EQ(RunBinary("name --cluster-id c --namespace n a b").code, 2);
  EXPECT_EQ(RunBinary("name --cluster-id c --namespace n --kind xr a").code, 2);
  EXPECT_EQ(RunBinary("name --cluster-id c --namespace n -o yaml a").code, 2);
  EXPECT_EQ(RunBinary("name --cluster-id c --namespace").code, 2);
  Result invalid = RunBinary("name --cluster-id c --namespace n My_Bucket", true);
  EXPECT_EQ(invalid.code, 2);
  EXPECT_NE(invalid.out.find("a lowercase RFC 1123 subdomain"), std::string::npos);
}

TEST(NameCommandTest, HelpAndVersion) {
  Result help = RunBinary("name --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("Usage: mcp-connector name"), std::string::npos);
  Result version = RunBinary("--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_TRUE(version.out.starts_with("mcp-connector ")) << version.out;
  EXPECT_EQ(RunBinary("--no-such-flag").code, 2);
}

}  // namespace
