// SHA-256 of byte streams and files (OpenSSL EVP). Value type; one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace hearth {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::string hex_digest();  // finishes; the object must not be updated afterwards

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// progress(bytes_done, bytes_total) is called now and then; may be empty.
Result<std::string> sha256_file(const std::string& path,
                                const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});
std::string sha256_hex(std::string_view data);
bool is_sha256_hex(std::string_view s);

}  // namespace hearth
