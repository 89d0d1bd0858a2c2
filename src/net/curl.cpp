#include "net/curl.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <mutex>
#include <string>

namespace hearth::curl {
namespace {

constexpr const char* kLibrary = "libcurl.so.4";

struct Loaded {
  detail::Api api{};
  std::string error;  // empty when loaded
};

template <class F>
bool resolve(void* lib, const char* name, F& fn, std::string& error) {
  void* sym = dlsym(lib, name);
  if (!sym) {
    if (error.empty()) error = fmt::format("{} has no symbol {}", kLibrary, name);
    return false;
  }
  fn = reinterpret_cast<F>(sym);
  return true;
}

Loaded load_once() {
  Loaded l;
  void* lib = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);  // never closed: it lives as long as the process
  if (!lib) {
    const char* why = dlerror();
    l.error = fmt::format("libcurl could not be loaded ({}): {}", kLibrary, why ? why : "unknown error");
    return l;
  }
  CURLcode (*global_init)(long) = nullptr;
  detail::Api& a = l.api;
  bool ok = resolve(lib, "curl_global_init", global_init, l.error);
  ok = resolve(lib, "curl_easy_init", a.easy_init, l.error) && ok;
  ok = resolve(lib, "curl_easy_cleanup", a.easy_cleanup, l.error) && ok;
  ok = resolve(lib, "curl_easy_reset", a.easy_reset, l.error) && ok;
  ok = resolve(lib, "curl_easy_perform", a.easy_perform, l.error) && ok;
  ok = resolve(lib, "curl_easy_setopt", a.easy_setopt, l.error) && ok;
  ok = resolve(lib, "curl_easy_getinfo", a.easy_getinfo, l.error) && ok;
  ok = resolve(lib, "curl_easy_strerror", a.easy_strerror, l.error) && ok;
  ok = resolve(lib, "curl_slist_append", a.slist_append, l.error) && ok;
  ok = resolve(lib, "curl_slist_free_all", a.slist_free_all, l.error) && ok;
  ok = resolve(lib, "curl_getdate", a.getdate, l.error) && ok;
  if (!ok) return l;
  if (const CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    l.error = fmt::format("curl_global_init failed: {}", a.easy_strerror(rc));
  }
  return l;
}

const Loaded& loaded() {
  static const Loaded l = load_once();  // thread-safe initialization
  return l;
}

}  // namespace

Status load() {
  const Loaded& l = loaded();
  if (!l.error.empty()) return unavailable(l.error);
  return {};
}

namespace detail {
const Api* api() {
  const Loaded& l = loaded();
  return l.error.empty() ? &l.api : nullptr;
}
}  // namespace detail

CURL* easy_init() {
  const detail::Api* a = detail::api();
  return a ? a->easy_init() : nullptr;
}

void easy_cleanup(CURL* handle) {
  if (const detail::Api* a = detail::api(); a && handle) a->easy_cleanup(handle);
}

void easy_reset(CURL* handle) {
  if (const detail::Api* a = detail::api(); a && handle) a->easy_reset(handle);
}

CURLcode easy_perform(CURL* handle) {
  const detail::Api* a = detail::api();
  return a ? a->easy_perform(handle) : CURLE_FAILED_INIT;
}

const char* easy_strerror(CURLcode code) {
  const detail::Api* a = detail::api();
  return a ? a->easy_strerror(code) : "libcurl is not available";
}

curl_slist* slist_append(curl_slist* list, const char* item) {
  const detail::Api* a = detail::api();
  return a ? a->slist_append(list, item) : nullptr;
}

void slist_free_all(curl_slist* list) {
  if (const detail::Api* a = detail::api(); a && list) a->slist_free_all(list);
}

time_t getdate(const char* date) {
  const detail::Api* a = detail::api();
  return a ? a->getdate(date, nullptr) : static_cast<time_t>(-1);
}

}  // namespace hearth::curl
