// mcp-connector: entry point. Dispatches sub-commands; `serve` (or flags without a sub-command)
// runs the server.
#include <glog/logging.h>

#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/commands.h"
#include "apiserver/options.h"
#include "apiserver/server.h"

#ifdef MCP_USE_MIMALLOC
// operator new and delete go straight to mimalloc, without a call through malloc (only in this
// translation unit: the header defines them).
#include <mimalloc-new-delete.h>
#endif

namespace {

#ifdef MCP_USE_MIMALLOC
constexpr std::string_view kBuiltWith = " (mimalloc)";
#else
constexpr std::string_view kBuiltWith = "";
#endif

constexpr std::string_view kUsage =
    "mcp-connector: serves a control plane's claim APIs in this cluster.\n"
    "\n"
    "Usage:\n"
    "  mcp-connector [serve] [flags]   run the aggregated API server (see flags below)\n"
    "  mcp-connector uninstall [--kubeconfig FILE] [--cluster-id ID]\n"
    "                                  delete every APIService this connector owns\n"
    "  mcp-connector name [--kind claim|nxr] --cluster-id ID --namespace NS NAME [--output json]\n"
    "                                  print the control-plane name of an app-cluster object\n"
    "  mcp-connector --version\n"
    "  mcp-connector --help\n"
    "\n"
    "Flags of serve (uninstall takes the same cluster flags):\n";

void InitLogging(const char* argv0, int verbosity) {
  FLAGS_logtostderr = true;
  FLAGS_v = verbosity;
  google::InitGoogleLogging(argv0);
}

int Usage(std::ostream& os, int rc) {
  os << kUsage << apiserver::OptionsHelp();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view cmd = argc >= 2 ? std::string_view(argv[1]) : std::string_view();
  if (cmd == "--version" || cmd == "version") {
    std::cout << "mcp-connector " << MCP_CONNECTOR_VERSION << kBuiltWith << "\n";
    return 0;
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") return Usage(std::cout, 0);
  if (cmd == "name") return apiserver::RunNameCommand(argc - 1, argv + 1);

  bool serve = cmd.empty() || cmd == "serve" || cmd.starts_with("-");
  bool uninstall = cmd == "uninstall";
  if (!serve && !uninstall) {
    std::cerr << "mcp-connector: unknown command \"" << cmd
              << "\"\nRun 'mcp-connector --help' for usage.\n";
    return 2;
  }
  int first = (cmd == "serve" || uninstall) ? 2 : 1;
  std::vector<std::string> args(argv + first, argv + argc);
  apiserver::Options options;
  bool help = false;
  if (auto err = apiserver::ParseOptions(args, options, help)) {
    std::cerr << "mcp-connector: " << *err << "\nRun 'mcp-connector --help' for usage.\n";
    return 2;
  }
  if (help) return Usage(std::cout, 0);
  InitLogging(argv[0], options.verbosity);
  if (uninstall) return apiserver::RunUninstall(options);
  return apiserver::RunServe(options);
}
