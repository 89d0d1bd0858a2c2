// The server application: wires the registry, services, route table, middleware and transport,
// runs until SIGINT/SIGTERM, then shuts down gracefully (stop accepting, let in-flight requests
// finish until the grace deadline, cancel the rest, exit).
#pragma once

#include "models/catalog.h"

namespace hearth {

// Blocks until shutdown. Returns the process exit code.
// The caller has set the outbound rules (net::set_outbound_rules; the CLI: apply_outbound_rules).
int run_server(const Config& config);

}  // namespace hearth
