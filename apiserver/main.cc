// mcp-connector: entry point. Dispatches sub-commands; the default runs the server.
#include <cstring>
#include <iostream>
#include <string_view>

#include "apiserver/commands.h"

namespace {

constexpr std::string_view kUsage =
    "mcp-connector: serves a control plane's claim APIs in this cluster.\n"
    "\n"
    "Usage:\n"
    "  mcp-connector name [--kind claim|nxr] --cluster-id ID --namespace NS NAME [--output json]\n"
    "  mcp-connector --version\n"
    "  mcp-connector --help\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2) {
    std::string_view cmd = argv[1];
    if (cmd == "--version" || cmd == "version") {
      std::cout << "mcp-connector " << MCP_CONNECTOR_VERSION << "\n";
      return 0;
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (cmd == "name") return apiserver::RunNameCommand(argc - 1, argv + 1);
  }
  std::cerr << "mcp-connector: unknown command or flag";
  if (argc >= 2) std::cerr << " \"" << argv[1] << "\"";
  std::cerr << "\n\n" << kUsage;
  return 2;
}
