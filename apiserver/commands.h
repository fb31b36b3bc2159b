// Sub-commands of the mcp-connector binary. Each returns the process exit code
// (0 ok, 1 failure, 2 usage error).
#pragma once

namespace apiserver {

// `mcp-connector name [--kind claim|nxr] --cluster-id ID --namespace NS NAME [--output json]`
int RunNameCommand(int argc, char** argv);

}  // namespace apiserver
