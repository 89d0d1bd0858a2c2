// Typed TOML getters that name the key in their errors, shared by the config parsers
// (catalog.cpp, catalog_security.cpp). Internal to src/models.
#pragma once

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/result.h"

namespace hearth {
struct Config;
namespace config_detail {

inline std::string resolve(const std::string& base, const std::string& p) {
  if (p.empty()) return p;
  std::filesystem::path path(p);
  if (path.is_relative()) path = std::filesystem::path(base) / path;
  return path.lexically_normal().string();
}

// Typed getters that name the key in their errors.
template <typename T>
Status get(const toml::table& t, std::string_view key, const std::string& where, T& out) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  if constexpr (std::is_same_v<T, bool>) {
    if (n->is_boolean()) { out = *n->value<bool>(); return {}; }
  } else if constexpr (std::is_integral_v<T>) {
    if (n->is_integer()) {
      const int64_t v = *n->value<int64_t>();
      const bool fits = std::is_signed_v<T>
                            ? (v >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                               v <= static_cast<int64_t>(std::numeric_limits<T>::max()))
                            : (v >= 0 && static_cast<uint64_t>(v) <= std::numeric_limits<T>::max());
      if (!fits) return invalid_argument(fmt::format("{}{} = {} is out of range", where, key, v), std::string(key));
      out = static_cast<T>(v);
      return {};
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (auto v = n->value<double>()) { out = static_cast<T>(*v); return {}; }
  } else {
    if (auto v = n->value<std::string>()) { out = *v; return {}; }
  }
  return invalid_argument(fmt::format("{}{} has the wrong type", where, key), std::string(key));
}

// A list of strings; `what` names it in errors.
inline Status get_strings(const toml::table& t, std::string_view key, const std::string& where, std::vector<std::string>& out) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  const toml::array* arr = n->as_array();
  if (!arr) return invalid_argument(fmt::format("{}{} must be an array of strings", where, key), std::string(key));
  out.clear();
  for (const auto& v : *arr) {
    auto str = v.value<std::string>();
    if (!str || str->empty()) {
      return invalid_argument(fmt::format("{}{} must be an array of non-empty strings", where, key), std::string(key));
    }
    out.push_back(*str);
  }
  return {};
}

inline Status check_keys(const toml::table& t, const std::set<std::string>& allowed, const std::string& where) {
  for (const auto& [k, v] : t) {
    if (!allowed.count(std::string(k.str()))) {
      return invalid_argument(fmt::format("unknown key {}{}", where, k.str()), std::string(k.str()));
    }
  }
  return {};
}

// [auth], [outbound], [audit], [limits], [safety] and [tls] (catalog_security.cpp).
Status parse_security_sections(const toml::table& root, const std::string& base_dir, Config& c);

}  // namespace config_detail
}  // namespace hearth
