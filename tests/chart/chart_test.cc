// Checks the Helm chart without helm (which is not packaged in Debian):
//  - every `.Values.x.y` path used by a template exists in values.yaml and in values.schema.json,
//    and every value in values.yaml is used by some template;
//  - values.yaml and the upstream guide's example values files (testdata/valid/) validate against
//    values.schema.json, after Helm's merge onto the chart defaults;
//  - deliberately wrong values files (testdata/invalid/) fail, with the error their first line
//    names;
//  - the hardening the chart promises (probes, non-root, read-only root, no privilege escalation,
//    no capabilities, RuntimeDefault seccomp) is present in the templates.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/chart/json_schema.h"

namespace chart {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path SourceDir() {
  if (const char* dir = std::getenv("MCP_SOURCE_DIR")) return dir;
  return MCP_CHART_TEST_SOURCE_DIR;
}
fs::path ChartDir() { return SourceDir() / "charts" / "mcp-connector"; }
fs::path TestData() { return SourceDir() / "tests" / "chart" / "testdata"; }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

Value LoadYaml(const fs::path& path) {
  Value v;
  std::string error;
  EXPECT_TRUE(ParseYaml(ReadFile(path), &v, &error)) << path << ": " << error;
  return v;
}

Value LoadSchema() {
  Value v;
  std::string error;
  EXPECT_TRUE(ParseJson(ReadFile(ChartDir() / "values.schema.json"), &v, &error)) << error;
  return v;
}

std::vector<std::string> Split(const std::string& dotted) {
  std::vector<std::string> out;
  std::stringstream ss(dotted);
  for (std::string part; std::getline(ss, part, '.');) out.push_back(part);
  return out;
}

std::vector<fs::path> TemplateFiles() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(ChartDir() / "templates")) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Every `.Values.a.b.c` (or `$.Values...`) reference in the templates, by dotted path.
std::map<std::string, std::set<std::string>> ValuesReferences() {
  static const std::regex kRef(R"(\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+))");
  std::map<std::string, std::set<std::string>> refs;  // path -> files
  for (const auto& file : TemplateFiles()) {
    std::string text = ReadFile(file);
    for (std::sregex_iterator it(text.begin(), text.end(), kRef), end; it != end; ++it) {
      refs[(*it)[1].str().substr(1)].insert(file.filename().string());
    }
  }
  return refs;
}

const Value* Lookup(const Value& root, const std::vector<std::string>& path) {
  const Value* node = &root;
  for (const auto& key : path) {
    node = node->Find(key);
    if (!node) return nullptr;
  }
  return node;
}

std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ChartTest, ChartYamlIsAnApplicationChart) {
  Value chart = LoadYaml(ChartDir() / "Chart.yaml");
  ASSERT_NE(chart.Find("apiVersion"), nullptr);
  EXPECT_EQ(chart.Find("apiVersion")->s, "v2");
  EXPECT_EQ(chart.Find("name")->s, "mcp-connector");
  EXPECT_EQ(chart.Find("type")->s, "application");
  EXPECT_FALSE(chart.Find("version")->s.empty());
  EXPECT_FALSE(chart.Find("appVersion")->s.empty());
}

TEST(ChartTest, SchemaUsesOnlyKeywordsTheValidatorChecks) {
  EXPECT_THAT(UnsupportedKeywords(LoadSchema()), ::testing::IsEmpty());
}

TEST(ChartTest, TemplatesReferenceValues) {
  // Guards the extraction itself: a regex that silently matches nothing would pass everything.
  auto refs = ValuesReferences();
  EXPECT_GE(refs.size(), 30u);
  EXPECT_TRUE(refs.count("spaces.controlPlane.claimNamespace"));
  EXPECT_TRUE(refs.count("spaces.controlPlane.kubeconfigSecret.name"));
  EXPECT_TRUE(refs.count("upbound.token"));
  EXPECT_TRUE(refs.count("replicas"));
}

TEST(ChartTest, EveryTemplateValueExistsInValuesYamlAndSchema) {
  Value values = LoadYaml(ChartDir() / "values.yaml");
  Value schema = LoadSchema();
  for (const auto& [path, files] : ValuesReferences()) {
    std::string where = path + " (used in " + *files.begin() + ")";
    EXPECT_NE(Lookup(values, Split(path)), nullptr) << where << " is missing from values.yaml";
    EXPECT_NE(SchemaFor(schema, Split(path)), nullptr)
        << where << " is missing from values.schema.json";
  }
}

// The reverse: a value in values.yaml that no template reads is a knob that does nothing.
// Leaves are taken down to where the schema stops declaring properties (free-form maps such as
// resources or podAnnotations are passed through whole).
void CollectLeaves(const Value& values, const Value& schema, const std::string& prefix,
                   std::vector<std::string>* out) {
  const Value* properties = schema.Find("properties");
  if (values.type != Value::Type::kObject || !properties) {
    out->push_back(prefix);
    return;
  }
  for (const auto& [key, v] : values.object) {
    const Value* sub = properties->Find(key);
    std::string path = prefix.empty() ? key : prefix + "." + key;
    if (!sub) {
      out->push_back(path);
      continue;
    }
    CollectLeaves(v, *sub, path, out);
  }
}

TEST(ChartTest, EveryValueInValuesYamlIsUsedByATemplate) {
  Value values = LoadYaml(ChartDir() / "values.yaml");
  Value schema = LoadSchema();
  std::vector<std::string> leaves;
  CollectLeaves(values, schema, "", &leaves);
  ASSERT_GE(leaves.size(), 30u);
  auto refs = ValuesReferences();
  for (const auto& leaf : leaves) {
    bool used = false;
    for (const auto& [ref, files] : refs) {
      // Used directly, or through a parent taken whole (`with .Values.spaces` / toYaml).
      used = used || leaf == ref || leaf.rfind(ref + ".", 0) == 0;
    }
    EXPECT_TRUE(used) << leaf << " is in values.yaml but no template reads it";
  }
}

TEST(ChartTest, ValuesYamlValidates) {
  std::vector<std::string> errors;
  EXPECT_TRUE(Validate(LoadSchema(), LoadYaml(ChartDir() / "values.yaml"), &errors))
      << ::testing::PrintToString(errors);
}

TEST(ChartTest, UpstreamCompatibleInterfaceIsDeclared) {
  // The values of the upstream connector-values.yaml are our interface.
  Value values = LoadYaml(ChartDir() / "values.yaml");
  Value schema = LoadSchema();
  for (const char* path :
       {"clusterID", "upbound.account", "upbound.token", "spaces.host",
        "spaces.insecureSkipTLSVerify", "spaces.controlPlane.name", "spaces.controlPlane.group",
        "spaces.controlPlane.claimNamespace", "spaces.controlPlane.kubeconfigSecret.name",
        "spaces.controlPlane.kubeconfigSecret.key"}) {
    EXPECT_NE(Lookup(values, Split(path)), nullptr) << path;
    EXPECT_NE(SchemaFor(schema, Split(path)), nullptr) << path;
  }
  EXPECT_EQ(Lookup(values, {"replicas"})->i, 2);
}

class ValidValuesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ValidValuesTest, ValidatesAfterMergeOntoDefaults) {
  Value defaults = LoadYaml(ChartDir() / "values.yaml");
  Value user = LoadYaml(TestData() / "valid" / GetParam());
  ASSERT_EQ(user.type, Value::Type::kObject);
  Value schema = LoadSchema();
  std::vector<std::string> errors;
  // Helm validates the merged values; the user's file alone must validate too (nothing in it
  // relies on a default to be well-typed).
  EXPECT_TRUE(Validate(schema, MergeValues(defaults, user), &errors))
      << ::testing::PrintToString(errors);
  EXPECT_TRUE(Validate(schema, user, &errors)) << ::testing::PrintToString(errors);
  // Every example names a claim namespace (the chart's render fails without one).
  const Value merged = MergeValues(defaults, user);  // Lookup points into it: keep it alive
  const Value* ns = Lookup(merged, {"spaces", "controlPlane", "claimNamespace"});
  ASSERT_NE(ns, nullptr);
  EXPECT_FALSE(ns->s.empty());
}

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& f : FilesIn(dir)) names.push_back(f.filename().string());
  return names;
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name;
  for (char c : info.param.substr(0, info.param.size() - 5)) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Examples, ValidValuesTest,
                         ::testing::ValuesIn(Names(TestData() / "valid")), TestName);

TEST(ChartTest, UpstreamExamplesArePresent) {
  auto names = Names(TestData() / "valid");
  for (const char* n : {"upstream-cloud-connected.yaml", "upstream-cloud-connected-up-cli.yaml",
                        "upstream-disconnected.yaml", "upstream-migration.yaml"}) {
    EXPECT_THAT(names, ::testing::Contains(n));
  }
  Value migration = LoadYaml(TestData() / "valid" / "upstream-migration.yaml");
  EXPECT_EQ(Lookup(migration, {"clusterID"})->s, "my-appcluster");
}

class InvalidValuesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(InvalidValuesTest, FailsWithTheExpectedError) {
  fs::path file = TestData() / "invalid" / GetParam();
  std::string text = ReadFile(file);
  static const std::regex kExpect(R"(^# expect: (\S+))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, kExpect)) << file << " must start with '# expect: '";
  std::string expected = m[1];

  Value schema = LoadSchema();
  Value merged = MergeValues(LoadYaml(ChartDir() / "values.yaml"), LoadYaml(file));
  std::vector<std::string> errors;
  EXPECT_FALSE(Validate(schema, merged, &errors));
  ASSERT_FALSE(errors.empty());
  EXPECT_THAT(::testing::PrintToString(errors), HasSubstr(expected));
}

INSTANTIATE_TEST_SUITE_P(Wrong, InvalidValuesTest,
                         ::testing::ValuesIn(Names(TestData() / "invalid")), TestName);

TEST(ChartTest, InvalidExamplesArePresent) { EXPECT_GE(Names(TestData() / "invalid").size(), 10u); }

TEST(ChartTest, DeploymentIsHardenedAndProbed) {
  std::string helpers = ReadFile(ChartDir() / "templates" / "_helpers.tpl");
  std::string deploy = ReadFile(ChartDir() / "templates" / "deployment.yaml");
  std::string hook = ReadFile(ChartDir() / "templates" / "uninstall-hook.yaml");
  for (const char* s :
       {"runAsNonRoot: true", "readOnlyRootFilesystem: true", "allowPrivilegeEscalation: false",
        "drop: [\"ALL\"]", "type: RuntimeDefault"}) {
    EXPECT_THAT(helpers, HasSubstr(s));
  }
  for (const std::string* t : {&deploy, &hook}) {
    EXPECT_THAT(*t, HasSubstr("mcp-connector.podSecurityContext"));
    EXPECT_THAT(*t, HasSubstr("mcp-connector.containerSecurityContext"));
  }
  EXPECT_THAT(deploy, HasSubstr("path: /livez"));
  EXPECT_THAT(deploy, HasSubstr("path: /readyz"));
  EXPECT_THAT(deploy, HasSubstr("scheme: HTTPS"));
  EXPECT_THAT(deploy, HasSubstr("containerPort: 8443"));
  EXPECT_THAT(deploy, HasSubstr("--cert-dir="));
  EXPECT_THAT(deploy, HasSubstr("emptyDir"));
  EXPECT_THAT(deploy, HasSubstr("--v={{ .Values.logLevel }}"));
  EXPECT_THAT(hook, HasSubstr("helm.sh/hook: pre-delete"));
  EXPECT_THAT(hook, HasSubstr("- uninstall"));
  std::string service = ReadFile(ChartDir() / "templates" / "service.yaml");
  EXPECT_THAT(service, HasSubstr("port: 443"));
  EXPECT_THAT(service, HasSubstr("targetPort: https"));
}

TEST(ChartTest, RbacGrantsWhatTheConnectorNeeds) {
  std::string rbac = ReadFile(ChartDir() / "templates" / "rbac.yaml");
  for (const char* s :
       {"name: system:auth-delegator", "name: extension-apiserver-authentication-reader",
        "namespace: kube-system", "resources: [\"apiservices\"]", "resources: [\"namespaces\"]",
        "resources: [\"tokenreviews\"]", "resources: [\"subjectaccessreviews\"]",
        "resources: [\"leases\"]", "resources: [\"secrets\"]", "resources: [\"events\"]"}) {
    EXPECT_THAT(rbac, HasSubstr(s));
  }
  // Namespaces are only read (the cluster ID), never listed or changed.
  EXPECT_THAT(rbac, HasSubstr("resources: [\"namespaces\"]\n  verbs: [\"get\"]"));
}

// The flags `mcp-connector serve` accepts, read from the flag table in apiserver/options.cc
// (entries look like `{"secure-port", "PORT", ...}`).
std::set<std::string> ConnectorFlags() {
  std::string text = ReadFile(SourceDir() / "apiserver" / "options.cc");
  static const std::regex kFlag(R"re(\{"([a-z][a-z0-9-]*)",\s*"[A-Z]*",)re");
  std::set<std::string> flags;
  for (std::sregex_iterator it(text.begin(), text.end(), kFlag), end; it != end; ++it) {
    flags.insert((*it)[1]);
  }
  return flags;
}

TEST(ChartTest, EveryFlagTheChartPassesIsAConnectorFlag) {
  std::set<std::string> known = ConnectorFlags();
  ASSERT_GE(known.size(), 15u) << "could not read the flag table of apiserver/options.cc";
  static const std::regex kArg(R"(^\s*- --([a-z][a-z0-9-]*))");
  int checked = 0;
  for (const char* file : {"deployment.yaml", "uninstall-hook.yaml"}) {
    std::istringstream in(ReadFile(ChartDir() / "templates" / file));
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, kArg)) continue;
      ++checked;
      EXPECT_TRUE(known.count(m[1]))
          << file << " passes --" << m[1] << ", which mcp-connector does not accept";
    }
  }
  EXPECT_GE(checked, 15);
}

TEST(ChartTest, EveryConnectorFlagIsDocumented) {
  std::string doc = ReadFile(SourceDir() / "docs" / "flags.md");
  for (const auto& flag : ConnectorFlags()) {
    EXPECT_THAT(doc, HasSubstr("--" + flag)) << "docs/flags.md does not describe --" << flag;
  }
}

TEST(ChartTest, TemplatesHaveBalancedActions) {
  // A cheap syntax check in lieu of `helm template`: every {{ has its }}, and block keywords
  // (if/with/range/define) balance with end.
  static const std::regex kAction(R"(\{\{-?\s*(/\*[\s\S]*?\*/|[^}]*?)\s*-?\}\})");
  for (const auto& file : TemplateFiles()) {
    std::string text = ReadFile(file);
    size_t open = 0, close = 0;
    for (size_t p = text.find("{{"); p != std::string::npos; p = text.find("{{", p + 2)) ++open;
    for (size_t p = text.find("}}"); p != std::string::npos; p = text.find("}}", p + 2)) ++close;
    EXPECT_EQ(open, close) << file;
    int depth = 0;
    for (std::sregex_iterator it(text.begin(), text.end(), kAction), end; it != end; ++it) {
      std::string body = (*it)[1];
      if (body.rfind("/*", 0) == 0) continue;
      static const std::regex kOpen(R"(^(if|with|range|define|block)\b)");
      static const std::regex kEnd(R"(^end\b)");
      if (std::regex_search(body, kOpen)) ++depth;
      if (std::regex_search(body, kEnd)) --depth;
      EXPECT_GE(depth, 0) << file << ": unexpected end";
    }
    EXPECT_EQ(depth, 0) << file << ": unbalanced blocks";
  }
}

}  // namespace
}  // namespace chart
