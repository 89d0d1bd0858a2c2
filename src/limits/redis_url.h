// Where the Redis limiter connects: "redis://[[user]:password@]host[:port][/db]" or
// "unix:///path/to.sock".
#pragma once

#include <string>

#include "core/result.h"

namespace hearth::limits {

struct RedisTarget {
  std::string unix_path;  // set for unix://; host and port unused then
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user, password;  // AUTH [user] password when the password is set
  std::string display;         // the URL with the password replaced by "***", for messages
};

// kInvalidArgument naming the URL (its password hidden) and what is wrong with it.
Result<RedisTarget> parse_redis_url(const std::string& url);

}  // namespace hearth::limits
