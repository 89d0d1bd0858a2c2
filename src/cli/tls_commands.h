// `hearth tls ...`: certificates for trying HTTPS. `tls self-signed` writes a self-signed ECDSA
// P-256 certificate and its key for `hearth serve --tls-cert ... --tls-key ...` (clients must
// trust that certificate itself, e.g. `curl --cacert cert.pem`).
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace CLI {
class App;
}

namespace hearth {

struct TlsArgs {
  std::string action;              // self-signed (set by the subcommand parsed)
  std::string out_dir;             // where cert.pem and key.pem go (created if missing)
  std::vector<std::string> hosts;  // more subject alternative names: DNS names or IP addresses
  int days = 365;
};

// The subjectAltName value: DNS:localhost, IP:127.0.0.1 and each host (IP: when it is an IPv4 or
// IPv6 address, else DNS:), without repeats. Errors name a host that cannot be a DNS name.
Result<std::string> self_signed_alt_names(const std::vector<std::string>& hosts);

// Writes out_dir/cert.pem and out_dir/key.pem (mode 0600; each replaced whole, by rename) and
// returns the certificate's SHA-256 fingerprint (hex, colon-separated).
Result<std::string> write_self_signed(const std::string& out_dir, const std::vector<std::string>& hosts, int days);

// Exit codes: 0 done; 1 failed; 2 bad input.
int cmd_tls(const TlsArgs& args);

// Registers `tls` and its subcommand self-signed on `app`; the subcommand sets args.action.
CLI::App* add_tls_commands(CLI::App& app, TlsArgs& args);

}  // namespace hearth
