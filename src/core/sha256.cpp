#include "core/sha256.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace hearth {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t n) { EVP_DigestUpdate(ctx_->md, data, n); }

std::string Sha256::hex_digest() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_->md, out, &n);
  std::string hex;
  hex.reserve(n * 2);
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", out[i]);
  return hex;
}

Result<std::string> sha256_file(const std::string& path,
                                const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return not_found(fmt::format("cannot open {}", path));
  std::error_code ec;
  const std::uint64_t total = std::filesystem::file_size(path, ec);
  Sha256 h;
  std::vector<char> buf(1 << 20);
  std::uint64_t done = 0;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    h.update(buf.data(), n);
    done += n;
    if (progress) progress(done, total);
  }
  const bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) return internal_error(fmt::format("read error on {}", path));
  return h.hex_digest();
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex_digest();
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace hearth
