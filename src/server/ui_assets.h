// The web app (web/), built at setup and embedded in the binary gzip-compressed
// (scripts/embed_ui.py writes the table at build time), or served from a directory on disk
// (`hearth serve --ui-dir DIR`, for development).
// GET / is the app's index.html, and GET of one of its files is that file (the app routes with
// the URL's fragment, #/c/<id>, so no other path is its); every other path stays the API's 404.
// Served with a strict Content-Security-Policy.
// Thread-safety: the embedded table is constant; handle_ui reads the disk per request.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "server/http_types.h"

namespace hearth {

struct UiAsset {
  std::string_view path;          // "/index.html", "/assets/index-3f2a.js", ...
  std::string_view content_type;
  std::string_view gzip;          // the file, gzip-compressed
  std::size_t size = 0;           // uncompressed bytes
  std::string_view etag;          // hex digest of the content (without quotes)
  bool immutable = false;         // content-hashed names under /assets/: cached for a year
};

// The table generated from web/dist when the binary was built (empty if the app was not built).
std::span<const UiAsset> embedded_ui_assets();

// Whether `path` is the app's: "/" or one of its files (embedded, or in `ui_dir` when not empty).
bool ui_serves(const std::string& path, const std::string& ui_dir);
// The response for a GET of `request.path` (one ui_serves) from the embedded app or `ui_dir`;
// nullopt when there is no such file after all.
std::optional<HttpResponse> ui_response(const HttpRequest& request, const std::string& ui_dir);

// The Content-Security-Policy every page of the app is served with.
extern const char* const kUiContentSecurityPolicy;

}  // namespace hearth
