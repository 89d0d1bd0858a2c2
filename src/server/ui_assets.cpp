#include "server/ui_assets.h"

#include <fmt/format.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/sha256.h"

namespace hearth {

// Scripts, styles, fonts and images come only from Hearth itself; model output rendered in the
// page cannot load or run anything (inline styles are allowed: KaTeX positions glyphs with them).
const char* const kUiContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

namespace {

std::string inflate_gzip(std::string_view packed) {
  std::string out;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  z.avail_in = static_cast<uInt>(packed.size());
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  }
  inflateEnd(&z);
  return out;
}

bool accepts_gzip(const HttpRequest& req) {
  const std::string_view ae = req.header("accept-encoding");
  return ae.find("gzip") != std::string_view::npos;
}

std::string_view type_of(std::string_view path) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".json", "application/json"},
      {".svg", "image/svg+xml"},             {".png", "image/png"},
      {".ico", "image/x-icon"},              {".woff2", "font/woff2"},
      {".woff", "font/woff"},                {".ttf", "font/ttf"}};
  for (const auto& [ext, type] : kTypes) {
    if (path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext) return type;
  }
  return "application/octet-stream";
}

// A path the app may have: no "..", no empty or hidden segments, no backslashes or NULs.
bool safe_path(std::string_view path) {
  if (path.empty() || path[0] != '/' || path.size() > 512) return false;
  std::size_t i = 1;
  while (i <= path.size()) {
    const std::size_t end = std::min(path.find('/', i), path.size());
    const std::string_view seg = path.substr(i, end - i);
    if (seg.empty() ? end != path.size() : seg[0] == '.') return false;
    i = end + 1;
  }
  return path.find_first_of(std::string_view("\\\0%", 3)) == std::string_view::npos;
}

std::string quoted(std::string_view etag) { return fmt::format("\"{}\"", etag); }

void add_common_headers(HttpResponse& res, std::string_view etag, bool immutable) {
  res.headers.emplace_back("Content-Security-Policy", kUiContentSecurityPolicy);
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.headers.emplace_back("X-Frame-Options", "DENY");
  res.headers.emplace_back("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  res.headers.emplace_back("ETag", quoted(etag));
  res.headers.emplace_back("Vary", "Accept-Encoding");
}

HttpResponse asset_response(const HttpRequest& req, const UiAsset& a) {
  HttpResponse res;
  res.content_type = std::string(a.content_type);
  add_common_headers(res, a.etag, a.immutable);
  if (req.header("if-none-match") == quoted(a.etag)) {
    res.status = 304;
    return res;
  }
  if (accepts_gzip(req)) {
    res.headers.emplace_back("Content-Encoding", "gzip");
    res.body.assign(a.gzip);
  } else {
    res.body = inflate_gzip(a.gzip);
  }
  return res;
}

std::optional<HttpResponse> embedded(const HttpRequest& req, std::string_view path) {
  for (const UiAsset& a : embedded_ui_assets()) {
    if (a.path == path) return asset_response(req, a);
  }
  return std::nullopt;
}

std::optional<HttpResponse> from_disk(const std::string& dir, std::string_view path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path file = fs::path(dir) / std::string(path.substr(1));
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  std::string body(std::istreambuf_iterator<char>(in), {});
  HttpResponse res;
  res.content_type = std::string(type_of(path));
  add_common_headers(res, sha256_hex(body).substr(0, 20), false);
  res.body = std::move(body);
  return res;
}

}  // namespace

bool ui_serves(const std::string& path, const std::string& ui_dir) {
  if (path == "/") return true;
  if (!safe_path(path)) return false;
  if (!ui_dir.empty()) {
    std::error_code ec;
    return std::filesystem::is_regular_file(std::filesystem::path(ui_dir) / path.substr(1), ec);
  }
  for (const UiAsset& a : embedded_ui_assets()) {
    if (a.path == path) return true;
  }
  return false;
}

std::optional<HttpResponse> ui_response(const HttpRequest& req, const std::string& ui_dir) {
  const std::string_view path = req.path == "/" ? std::string_view("/index.html") : std::string_view(req.path);
  if (!safe_path(path)) return std::nullopt;
  return ui_dir.empty() ? embedded(req, path) : from_disk(ui_dir, path);
}

}  // namespace hearth
