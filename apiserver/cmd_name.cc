// `mcp-connector name`: prints where an app-cluster claim (or namespaced XR) lives in the control
// plane, so an operator can find a user's object there.
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "apiserver/commands.h"
#include "naming/naming.h"

namespace apiserver {
namespace {

constexpr std::string_view kNameUsage =
    "Usage: mcp-connector name [--kind claim|nxr] --cluster-id ID --namespace NS NAME "
    "[--output json]\n"
    "\n"
    "Prints the control-plane name of the app-cluster object NAME in namespace NS:\n"
    "\"claim-\" (claims) or \"nxr-\" (namespaced XRs) + 16 hex characters of\n"
    "SHA-256(NAME-x-NS-x-ID). With --output json, also prints the origin labels (and the\n"
    "annotation written for names longer than 63 characters).\n"
    "\n"
    "Flags:\n"
    "  --kind claim|nxr     object kind (default claim)\n"
    "  --cluster-id ID      the connector's cluster ID (its --cluster-id, or the UID of the app\n"
    "                       cluster's kube-system namespace)\n"
    "  --namespace, -n NS   the object's namespace in the app cluster\n"
    "  --output, -o json    print JSON {\"name\", \"labels\"[, \"annotations\"]}\n"
    "  --help, -h           show this help\n";

int UsageError(const std::string& msg) {
  std::cerr << "mcp-connector name: " << msg << "\n\n" << kNameUsage;
  return 2;
}

void WriteObject(rapidjson::PrettyWriter<rapidjson::StringBuffer>& w,
                 const naming::StringPairs& pairs) {
  w.StartObject();
  for (const auto& [k, v] : pairs) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  w.EndObject();
}

}  // namespace

int RunNameCommand(int argc, char** argv) {
  std::string kind = "claim";
  std::optional<std::string> cluster_id;
  std::optional<std::string> ns;
  std::string output;
  std::optional<std::string> name;

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kNameUsage;
      return 0;
    }
    if (arg == "--") {
      for (++i; i < argc; ++i) {
        if (name)
          return UsageError("expected exactly one NAME, got another: \"" + std::string(argv[i]) +
                            "\"");
        name = argv[i];
      }
      break;
    }
    if (arg.size() > 1 && arg.front() == '-') {
      std::string_view flag = arg;
      std::optional<std::string> value;
      if (auto eq = arg.find('='); eq != std::string_view::npos && arg.starts_with("--")) {
        flag = arg.substr(0, eq);
        value = std::string(arg.substr(eq + 1));
      }
      std::string* target = nullptr;
      if (flag == "--kind") {
        target = &kind;
      } else if (flag == "--output" || flag == "-o") {
        target = &output;
      } else if (flag == "--cluster-id") {
        cluster_id.emplace();
        target = &*cluster_id;
      } else if (flag == "--namespace" || flag == "-n") {
        ns.emplace();
        target = &*ns;
      } else {
        return UsageError("unknown flag \"" + std::string(flag) + "\"");
      }
      if (!value) {
        if (i + 1 >= argc) return UsageError("flag " + std::string(flag) + " needs a value");
        value = argv[++i];
      }
      *target = *value;
      continue;
    }
    if (name) {
      return UsageError("expected exactly one NAME, got another: \"" + std::string(arg) + "\"");
    }
    name = std::string(arg);
  }

  naming::Kind k;
  if (kind == "claim") {
    k = naming::Kind::kClaim;
  } else if (kind == "nxr") {
    k = naming::Kind::kNamespacedXR;
  } else {
    return UsageError("--kind must be \"claim\" or \"nxr\", not \"" + kind + "\"");
  }
  if (!output.empty() && output != "json") {
    return UsageError("--output must be \"json\", not \"" + output + "\"");
  }
  if (!cluster_id || cluster_id->empty()) return UsageError("--cluster-id is required");
  if (!ns || ns->empty()) return UsageError("--namespace is required");
  if (!name || name->empty()) return UsageError("NAME is required");
  // App-side names are validated as kube-apiserver would; an invalid one cannot exist there.
  if (auto errs = naming::IsDNS1123Label(*ns); !errs.empty()) {
    return UsageError("invalid namespace \"" + *ns + "\": " + errs.front());
  }
  if (auto errs = naming::IsDNS1123Subdomain(*name); !errs.empty()) {
    return UsageError("invalid NAME \"" + *name + "\": " + errs.front());
  }

  std::string cp_name = naming::ControlPlaneName(k, *name, *ns, *cluster_id);
  if (output.empty()) {
    std::cout << cp_name << "\n";
    return 0;
  }
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("name");
  w.String(cp_name.data(), static_cast<rapidjson::SizeType>(cp_name.size()));
  w.Key("labels");
  WriteObject(w, naming::OriginLabels(*cluster_id, *ns, *name));
  if (auto ann = naming::OriginAnnotations(*name); !ann.empty()) {
    w.Key("annotations");
    WriteObject(w, ann);
  }
  w.EndObject();
  std::cout << std::string_view(buf.GetString(), buf.GetSize()) << "\n";
  return 0;
}

}  // namespace apiserver
