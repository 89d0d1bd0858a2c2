// The API-key hashing secret: a file of 32 random bytes that only its owner may read.
// Internal to hearth_auth (key_store.cpp). Thread-safety: free functions, no shared state.
#pragma once

#include <cstddef>
#include <string>

#include "core/result.h"

namespace hearth::auth {

inline constexpr std::size_t kSecretBytes = 32;

// Reads the secret at `path`, first creating it (RAND_bytes, mode 0600, written to a temporary
// file and linked into place, so that two processes starting at once agree on one secret) if it
// is missing. A file of another size, or one that group or others may read, is an error naming
// the file and the fix.
Result<std::string> load_or_create_secret(const std::string& path);

// `n` random bytes from RAND_bytes.
Result<std::string> random_bytes(std::size_t n);

}  // namespace hearth::auth
