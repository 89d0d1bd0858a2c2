// hearth-pdf-text: the text of a PDF, read by poppler in a process of its own. The server runs it
// for every PDF it ingests (src/knowledge/extract.cpp), so a PDF that crashes or hangs the parser
// costs one document, not the server, and poppler's libraries stay out of the server's memory.
//
//   hearth-pdf-text [--max-memory-mb N] [--max-cpu-s N] < file.pdf
//
// Output on stdout, one record per item, lengths in bytes:
//   T <len>\n<title>            the document's Title (UTF-8), possibly empty
//   P <page> <len>\n<text>      each page's text (UTF-8), pages from 1
//   E\n                         the end
// Exit status: 0 done, 2 bad arguments or unreadable input, 3 not a readable PDF, 4 encrypted.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

namespace {

void quiet(const std::string&, void*) {}  // poppler reports recoverable damage on stderr

void limit(int resource, rlim_t value) {
  const rlimit r{value, value};
  setrlimit(resource, &r);
}

void record(const std::string& head, const std::vector<char>& body) {
  std::fwrite(head.data(), 1, head.size(), stdout);
  std::fwrite(body.data(), 1, body.size(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  long memory_mb = 2048, cpu_s = 120;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--max-memory-mb" || a == "--max-cpu-s") && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v <= 0) return 2;
      (a == "--max-memory-mb" ? memory_mb : cpu_s) = v;
    } else {
      std::fprintf(stderr, "usage: hearth-pdf-text [--max-memory-mb N] [--max-cpu-s N] < file.pdf\n");
      return 2;
    }
  }
  limit(RLIMIT_CPU, static_cast<rlim_t>(cpu_s));
  limit(RLIMIT_CORE, 0);
#if !defined(__SANITIZE_ADDRESS__)  // ASan reserves terabytes of address space up front
  limit(RLIMIT_AS, static_cast<rlim_t>(memory_mb) << 20);
#endif
  std::vector<char> data;
  char buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), stdin)) > 0;) data.insert(data.end(), buf, buf + n);
  if (std::ferror(stdin)) return 2;
  poppler::set_debug_error_function(quiet, nullptr);
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(data.data(), static_cast<int>(data.size())));
  if (!doc) return 3;
  if (doc->is_locked()) return 4;
  const std::vector<char> title = doc->info_key("Title").to_utf8();
  record("T " + std::to_string(title.size()) + "\n", title);
  for (int i = 0; i < doc->pages(); ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) continue;
    const std::vector<char> text = page->text().to_utf8();
    record("P " + std::to_string(i + 1) + " " + std::to_string(text.size()) + "\n", text);
  }
  std::fputs("E\n", stdout);
  return std::fflush(stdout) == 0 ? 0 : 2;
}
