#include "cli/tls_commands.h"
#include "core/openssl_error.h"

#include <CLI/CLI.hpp>
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

namespace hearth {
namespace fs = std::filesystem;

namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

Error openssl_failure(const std::string& what) { return internal_error(fmt::format("{}: {}", what, openssl_errors())); }

bool is_ip(const std::string& h) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, h.c_str(), buf) == 1 || ::inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

// A DNS name as certificates hold them: letters, digits, '-', '.', and a leading "*." wildcard.
bool is_dns_name(const std::string& h) {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.') return false;
  const std::size_t start = h.rfind("*.", 0) == 0 ? 2 : 0;
  if (start == h.size()) return false;
  for (std::size_t i = start; i < h.size(); ++i) {
    const char c = h[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  return true;
}

Status add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return openssl_failure(fmt::format("certificate extension {}", value));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return openssl_failure(fmt::format("certificate extension {}", value));
  return {};
}

// A self-signed X.509 v3 certificate for `key`, valid from 5 minutes ago (clock skew) for `days`.
Result<X509Ptr> make_certificate(EVP_PKEY* key, const std::string& alt_names, int days) {
  X509Ptr cert(X509_new(), X509_free);
  if (!cert) return openssl_failure("X509_new");
  X509* x = cert.get();
  X509_set_version(x, 2);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x))) {
    return openssl_failure("certificate serial number");
  }
  X509_gmtime_adj(X509_getm_notBefore(x), -300);
  X509_time_adj_ex(X509_getm_notAfter(x), days, 0, nullptr);
  if (X509_set_pubkey(x, key) != 1) return openssl_failure("certificate public key");
  X509_NAME* name = X509_get_subject_name(x);
  const auto text = [](const char* s) { return reinterpret_cast<const unsigned char*>(s); };
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, text("Hearth"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, text("Hearth self-signed"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  HEARTH_TRY(add_extension(x, NID_basic_constraints, "critical,CA:FALSE"));
  HEARTH_TRY(add_extension(x, NID_ext_key_usage, "serverAuth"));
  HEARTH_TRY(add_extension(x, NID_subject_key_identifier, "hash"));
  HEARTH_TRY(add_extension(x, NID_authority_key_identifier, "keyid:always"));
  HEARTH_TRY(add_extension(x, NID_subject_alt_name, alt_names));
  if (X509_sign(x, key, EVP_sha256()) == 0) return openssl_failure("signing the certificate");
  return cert;
}

// Writes `path` whole: a temporary file in the same directory with `mode`, then a rename.
template <typename WritePem>
Status write_pem(const fs::path& path, mode_t mode, WritePem write) {
  const std::string tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return unavailable(fmt::format("cannot create {}: {}", tmp, std::strerror(errno)));
  ::fchmod(fd, mode);  // whatever the umask
  std::FILE* f = ::fdopen(fd, "w");
  if (!f) {
    ::close(fd);
    return unavailable(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  }
  const bool written = write(f) == 1;
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) {
    ::unlink(tmp.c_str());
    return written ? unavailable(fmt::format("cannot write {}", tmp)) : openssl_failure(fmt::format("writing {}", tmp));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return unavailable(fmt::format("cannot rename {} to {}: {}", tmp, path.string(), ec.message()));
  return {};
}

std::string fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), md, &n);
  std::string out;
  for (unsigned int i = 0; i < n; ++i) out += fmt::format("{}{:02X}", i ? ":" : "", md[i]);
  return out;
}

}  // namespace

Result<std::string> self_signed_alt_names(const std::vector<std::string>& hosts) {
  std::vector<std::string> names = {"DNS:localhost", "IP:127.0.0.1"};
  std::set<std::string> seen(names.begin(), names.end());
  for (const auto& h : hosts) {
    std::string name;
    if (is_ip(h)) {
      name = "IP:" + h;
    } else if (is_dns_name(h)) {
      name = "DNS:" + h;
    } else {
      return invalid_argument(fmt::format("--host '{}' is neither an IP address nor a DNS name", h), "host");
    }
    if (seen.insert(name).second) names.push_back(name);
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

Result<std::string> write_self_signed(const std::string& out_dir, const std::vector<std::string>& hosts, int days) {
  if (days < 1 || days > 36500) return invalid_argument("--days must be 1..36500", "days");
  auto alt_names = self_signed_alt_names(hosts);
  if (!alt_names) return alt_names.take_error();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return unavailable(fmt::format("cannot create {}: {}", out_dir, ec.message()));
  ERR_clear_error();
  PkeyPtr key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return openssl_failure("generating an ECDSA P-256 key");
  auto cert = make_certificate(key.get(), *alt_names, days);
  if (!cert) return cert.take_error();
  const fs::path dir(out_dir);
  HEARTH_TRY(write_pem(dir / "key.pem", 0600, [&](std::FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }));
  HEARTH_TRY(write_pem(dir / "cert.pem", 0644, [&](std::FILE* f) { return PEM_write_X509(f, cert->get()); }));
  return fingerprint(cert->get());
}

int cmd_tls(const TlsArgs& a) {
  if (a.action != "self-signed") {
    fmt::print(stderr, "error: unknown tls action '{}'\n", a.action);
    return 2;
  }
  auto fp = write_self_signed(a.out_dir, a.hosts, a.days);
  if (!fp) {
    fmt::print(stderr, "error: {}\n", fp.error().message);
    return fp.error().code == ErrorCode::kInvalidArgument ? 2 : 1;
  }
  const fs::path dir(a.out_dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  fmt::print("{}\n{}\nSHA-256 fingerprint: {}\n", cert, key, *fp);
  fmt::print(stderr,
             "A self-signed certificate, for trying HTTPS: clients must trust this certificate itself.\n"
             "  hearth serve --tls-cert {} --tls-key {}\n  curl --cacert {} https://localhost:8080/health\n",
             cert, key, cert);
  return 0;
}

CLI::App* add_tls_commands(CLI::App& app, TlsArgs& a) {
  auto* t = app.add_subcommand("tls", "TLS certificates for HTTPS");
  t->require_subcommand(1);
  auto* s = t->add_subcommand("self-signed",
                              "Write a self-signed ECDSA P-256 certificate (cert.pem) and its key (key.pem, mode 0600) "
                              "for localhost, 127.0.0.1 and --host names");
  s->add_option("--out", a.out_dir, "Directory for cert.pem and key.pem (created if missing)")->required();
  s->add_option("--host", a.hosts, "Another DNS name or IP address the certificate is for (repeatable)");
  s->add_option("--days", a.days, "Days the certificate is valid (default 365)")->check(CLI::Range(1, 36500));
  s->callback([&a, s] { a.action = s->get_name(); });
  return t;
}

}  // namespace hearth
