// libcurl, loaded on first use (dlopen) rather than linked.
//
// Linking libcurl makes the dynamic loader map it and the ~30 libraries it needs (GnuTLS,
// Kerberos, LDAP, SSH, ...) at start, and run their initializers: about 4 MiB resident in a
// server that may never fetch a URL. Only URL sources, remote embedders and `models pull` need
// it, so it is loaded the first time one of them does.
//
// The functions mirror libcurl's (curl::easy_setopt is curl_easy_setopt). Until load() has
// succeeded they fail the way libcurl reports failure (nullptr, CURLE_FAILED_INIT); callers
// call load() first to get the reason.
#pragma once

#include <curl/curl.h>

#include <ctime>
#include <memory>
#include <type_traits>

#include "core/result.h"

namespace hearth::curl {

// Loads libcurl.so.4 and runs curl_global_init, once for the process; later calls return the
// first outcome. Thread-safe.
Status load();

namespace detail {
struct Api {
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL*);
  void (*easy_reset)(CURL*);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
  time_t (*getdate)(const char*, const time_t*);
};
const Api* api();  // loads on first use; nullptr when libcurl could not be loaded
}  // namespace detail

CURL* easy_init();
void easy_cleanup(CURL* handle);
void easy_reset(CURL* handle);
CURLcode easy_perform(CURL* handle);
const char* easy_strerror(CURLcode code);
curl_slist* slist_append(curl_slist* list, const char* item);
void slist_free_all(curl_slist* list);
time_t getdate(const char* date);  // -1 when it cannot be parsed

// The value goes through C varargs, so only the types libcurl reads are accepted: long (and
// curl_off_t, the same type here), and pointers (data, strings, callbacks).
template <class T>
CURLcode easy_setopt(CURL* handle, CURLoption option, T value) {
  static_assert(std::is_same_v<T, long> || std::is_same_v<T, curl_off_t> || std::is_pointer_v<T>,
                "libcurl options take long, curl_off_t or a pointer");
  const detail::Api* a = detail::api();
  return a ? a->easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

// Owning handles.
struct EasyDeleter {
  void operator()(CURL* handle) const { easy_cleanup(handle); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { slist_free_all(list); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

template <class T>
CURLcode easy_getinfo(CURL* handle, CURLINFO info, T* out) {
  const detail::Api* a = detail::api();
  return a ? a->easy_getinfo(handle, info, out) : CURLE_FAILED_INIT;
}

}  // namespace hearth::curl
