// OpenSSL's error queue as one message (and the queue emptied), for errors that name the cause.
#pragma once

#include <string>

namespace hearth {

std::string openssl_errors();  // "error:...; error:...", or "unknown error" when the queue is empty

}  // namespace hearth
