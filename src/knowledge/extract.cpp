#include "knowledge/extract.h"

#include <gumbo.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <md4c.h>
#include <zip.h>

#include <string.h>  // strsignal

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "core/subprocess.h"
#include "core/utf8.h"

namespace hearth::knowledge {
namespace {

std::string lower_extension(std::string_view name) {
  std::string ext = std::filesystem::path(std::string(name)).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

std::string stem_of(std::string_view name) { return std::filesystem::path(std::string(name)).stem().string(); }

bool is_cjk_boundary_char(char32_t c) { return (c >= 0x2E80 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFF00 && c <= 0xFFEF); }

char32_t last_char(std::string_view s) {
  if (s.empty()) return 0;
  std::size_t p = s.size() - 1;
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
  return utf8_decode(s, p).code_point;
}

// Collects text into paragraphs: white space collapses to one space, except that none is put
// between two CJK characters (a line break inside Chinese text is not a space).
class BlockBuilder {
 public:
  void text(std::string_view t) {
    for (std::size_t i = 0; i < t.size();) {
      const Utf8Char c = utf8_decode(t, i);
      const bool space = c.code_point == ' ' || c.code_point == '\t' || c.code_point == '\n' ||
                         c.code_point == '\r' || c.code_point == 0xA0 || c.code_point == '\f';
      if (space) {
        pending_space_ = !buf_.empty();
      } else {
        if (pending_space_ && !(is_cjk_boundary_char(last_char(buf_)) && is_cjk_boundary_char(c.code_point))) {
          buf_ += ' ';
        }
        pending_space_ = false;
        buf_.append(t.substr(i, c.length));
      }
      i += c.length;
    }
  }
  void verbatim(std::string_view t) { buf_.append(t); }  // code: keep line breaks
  void soft_break() { pending_space_ = !buf_.empty(); }
  // Ends the current block; empty blocks are dropped.
  void end(Block::Kind kind = Block::Kind::kParagraph, int level = 0, int page = 0) {
    std::string t = utf8_sanitize(buf_);
    buf_.clear();
    pending_space_ = false;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    std::size_t b = 0;
    while (b < t.size() && std::isspace(static_cast<unsigned char>(t[b]))) ++b;
    if (b == t.size()) return;
    blocks.push_back({kind, level, t.substr(b), page});
  }
  std::vector<Block> blocks;

 private:
  std::string buf_;
  bool pending_space_ = false;
};

std::string first_heading(const std::vector<Block>& blocks) {
  for (const Block& b : blocks) {
    if (b.kind == Block::Kind::kHeading) return b.text;
  }
  return {};
}

// Plain text: paragraphs are separated by blank lines.
std::vector<Block> extract_text(std::string_view text, int page = 0) {
  BlockBuilder bb;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool blank = std::all_of(line.begin(), line.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
    if (blank) {
      bb.end(Block::Kind::kParagraph, 0, page);
    } else {
      bb.text(line);
      bb.soft_break();
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  bb.end(Block::Kind::kParagraph, 0, page);
  return std::move(bb.blocks);
}

// Markdown -----------------------------------------------------------------------------------
struct MdState {
  BlockBuilder bb;
  int heading_level = 0;
  int code_depth = 0;
};

std::string_view decode_entity(std::string_view e) {
  if (e == "&amp;") return "&";
  if (e == "&lt;") return "<";
  if (e == "&gt;") return ">";
  if (e == "&quot;") return "\"";
  if (e == "&#39;" || e == "&apos;") return "'";
  if (e == "&nbsp;") return " ";
  return e;
}

int md_enter(MD_BLOCKTYPE type, void* detail, void* user) {
  auto& st = *static_cast<MdState*>(user);
  if (type == MD_BLOCK_H) st.heading_level = static_cast<int>(static_cast<MD_BLOCK_H_DETAIL*>(detail)->level);
  if (type == MD_BLOCK_CODE) ++st.code_depth;
  return 0;
}

int md_leave(MD_BLOCKTYPE type, void*, void* user) {
  auto& st = *static_cast<MdState*>(user);
  switch (type) {
    case MD_BLOCK_H:
      st.bb.end(Block::Kind::kHeading, st.heading_level);
      st.heading_level = 0;
      break;
    case MD_BLOCK_CODE:
      --st.code_depth;
      st.bb.end();
      break;
    case MD_BLOCK_P: case MD_BLOCK_LI: case MD_BLOCK_TD: case MD_BLOCK_TH: case MD_BLOCK_HTML:
    case MD_BLOCK_QUOTE:
      st.bb.end();
      break;
    default:
      break;
  }
  return 0;
}

int md_span(MD_SPANTYPE, void*, void*) { return 0; }

int md_text(MD_TEXTTYPE type, const MD_CHAR* text, MD_SIZE size, void* user) {
  auto& st = *static_cast<MdState*>(user);
  const std::string_view t(text, size);
  switch (type) {
    case MD_TEXT_SOFTBR: st.bb.soft_break(); break;
    case MD_TEXT_BR: st.bb.soft_break(); break;
    case MD_TEXT_ENTITY: st.bb.text(decode_entity(t)); break;
    case MD_TEXT_HTML: break;  // inline tags
    case MD_TEXT_NULLCHAR: break;
    default:
      if (st.code_depth > 0) {
        st.bb.verbatim(t);
      } else {
        st.bb.text(t);
      }
  }
  return 0;
}

Result<std::vector<Block>> extract_markdown(std::string_view name, std::string_view text) {
  MdState st;
  MD_PARSER p{};
  p.flags = MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH | MD_FLAG_PERMISSIVEAUTOLINKS;
  p.enter_block = md_enter;
  p.leave_block = md_leave;
  p.enter_span = md_span;
  p.leave_span = md_span;
  p.text = md_text;
  if (md_parse(text.data(), static_cast<MD_SIZE>(text.size()), &p, &st) != 0) {
    return invalid_argument(fmt::format("'{}': the Markdown parser failed", name), "file");
  }
  st.bb.end();
  return std::move(st.bb.blocks);
}

// HTML ---------------------------------------------------------------------------------------
struct GumboFree {
  void operator()(GumboOutput* o) const { gumbo_destroy_output(&kGumboDefaultOptions, o); }
};

bool is_block_tag(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_LI: case GUMBO_TAG_PRE: case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_TD: case GUMBO_TAG_TH: case GUMBO_TAG_TR: case GUMBO_TAG_DD: case GUMBO_TAG_DT:
    case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_HEADER: case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_TABLE: case GUMBO_TAG_BR: case GUMBO_TAG_HR:
    case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_MAIN: case GUMBO_TAG_ASIDE:
      return true;
    default:
      return false;
  }
}

int heading_level(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_H1: return 1;
    case GUMBO_TAG_H2: return 2;
    case GUMBO_TAG_H3: return 3;
    case GUMBO_TAG_H4: return 4;
    case GUMBO_TAG_H5: return 5;
    case GUMBO_TAG_H6: return 6;
    default: return 0;
  }
}

void walk_html(const GumboNode* node, BlockBuilder& bb, std::string& title, int depth) {
  if (depth > 256) return;  // pathological nesting
  if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_CDATA) {
    bb.text(node->v.text.text);
    return;
  }
  if (node->type == GUMBO_NODE_WHITESPACE) {
    bb.soft_break();
    return;
  }
  if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_TEMPLATE) return;
  const GumboTag tag = node->v.element.tag;
  if (tag == GUMBO_TAG_SCRIPT || tag == GUMBO_TAG_STYLE || tag == GUMBO_TAG_NOSCRIPT || tag == GUMBO_TAG_TEMPLATE ||
      tag == GUMBO_TAG_NAV) {
    return;
  }
  if (tag == GUMBO_TAG_TITLE) {
    BlockBuilder t;
    for (unsigned i = 0; i < node->v.element.children.length; ++i) {
      walk_html(static_cast<const GumboNode*>(node->v.element.children.data[i]), t, title, depth + 1);
    }
    t.end();
    if (!t.blocks.empty() && title.empty()) title = t.blocks.front().text;
    return;
  }
  const int level = heading_level(tag);
  const bool block = level > 0 || is_block_tag(tag);
  if (block) bb.end();
  for (unsigned i = 0; i < node->v.element.children.length; ++i) {
    walk_html(static_cast<const GumboNode*>(node->v.element.children.data[i]), bb, title, depth + 1);
  }
  if (level > 0) {
    bb.end(Block::Kind::kHeading, level);
  } else if (block) {
    bb.end();
  }
}

// PDF ----------------------------------------------------------------------------------------
// poppler runs in hearth-pdf-text (apps/hearth-pdf-text), one process per document; its output
// format is described there.
struct PdfRecordReader {
  std::string_view rest;
  // "<tag> [page ]<len>\n<bytes>"; false on anything malformed.
  bool next(char& tag, int& page, std::string_view& body) {
    const size_t nl = rest.find('\n');
    if (rest.size() < 2 || nl == std::string_view::npos || nl > 40) return false;
    tag = rest[0];
    if (tag == 'E') return nl == 1;
    std::string_view head = rest.substr(2, nl - 2);
    page = 0;
    if (tag == 'P') {
      const size_t sp = head.find(' ');
      if (sp == std::string_view::npos) return false;
      if (std::from_chars(head.data(), head.data() + sp, page).ec != std::errc() || page < 1) return false;
      head.remove_prefix(sp + 1);
    } else if (tag != 'T') {
      return false;
    }
    size_t len = 0;
    const auto [end, ec] = std::from_chars(head.data(), head.data() + head.size(), len);
    if (ec != std::errc() || end != head.data() + head.size() || len > rest.size() - nl - 1) return false;
    body = rest.substr(nl + 1, len);
    rest.remove_prefix(nl + 1 + len);
    return true;
  }
};

Result<Extracted> extract_pdf(std::string_view name, std::string_view bytes, const PdfReader& reader) {
  const std::string memory = std::to_string(reader.max_memory_mb);
  const std::string cpu = std::to_string(std::max<long long>(1, (reader.timeout.count() + 999) / 1000));
  auto run = run_subprocess({reader.helper, "--max-memory-mb", memory, "--max-cpu-s", cpu}, bytes, reader.timeout,
                            std::max<std::size_t>(16u << 20, bytes.size() * 8));
  if (!run) return unavailable(fmt::format("PDF text extraction is unavailable: {}", run.error().message));
  if (run->timed_out) {
    return invalid_argument(fmt::format("'{}': reading the PDF took longer than {} ms; it was stopped", name,
                                        reader.timeout.count()), "file");
  }
  if (run->output_over_limit) return invalid_argument(fmt::format("'{}': the PDF's text is too large", name), "file");
  if (run->signal != 0) {
    return invalid_argument(fmt::format("'{}': the PDF reader failed on this file ({})", name, strsignal(run->signal)),
                            "file");
  }
  if (run->exit_code == 3) return invalid_argument(fmt::format("'{}' is not a readable PDF", name), "file");
  if (run->exit_code == 4) return invalid_argument(fmt::format("'{}' is an encrypted PDF", name), "file");
  if (run->exit_code != 0) {
    return invalid_argument(fmt::format("'{}': the PDF reader failed on this file (exit status {})", name,
                                        run->exit_code), "file");
  }
  Extracted out;
  out.format = DocFormat::kPdf;
  PdfRecordReader rr{run->out};
  for (;;) {
    char tag = 0;
    int page = 0;
    std::string_view body;
    if (!rr.next(tag, page, body)) {
      return internal_error(fmt::format("'{}': {} wrote malformed output", name, reader.helper));
    }
    if (tag == 'E') break;
    if (tag == 'T') {
      out.title = utf8_sanitize(body);
    } else {
      for (Block& b : extract_text(body, page)) out.blocks.push_back(std::move(b));
    }
  }
  return out;
}

// DOCX ---------------------------------------------------------------------------------------
struct ZipClose {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct XmlFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};

bool is_w(const xmlNode* n, const char* local) {
  return n->type == XML_ELEMENT_NODE && std::string_view(reinterpret_cast<const char*>(n->name)) == local;
}

std::string w_val(const xmlNode* n) {
  for (const xmlAttr* a = n->properties; a; a = a->next) {
    if (std::string_view(reinterpret_cast<const char*>(a->name)) == "val" && a->children && a->children->content) {
      return reinterpret_cast<const char*>(a->children->content);
    }
  }
  return {};
}

void docx_runs(const xmlNode* n, BlockBuilder& bb, int depth) {
  for (const xmlNode* c = n->children; c && depth < 64; c = c->next) {
    if (is_w(c, "t") && c->children && c->children->content) {
      bb.verbatim(reinterpret_cast<const char*>(c->children->content));
    } else if (is_w(c, "tab") || is_w(c, "br")) {
      bb.verbatim(" ");
    } else if (c->type == XML_ELEMENT_NODE && !is_w(c, "pPr")) {
      docx_runs(c, bb, depth + 1);
    }
  }
}

void docx_paragraphs(const xmlNode* n, BlockBuilder& bb, std::string& title, int depth) {
  for (const xmlNode* c = n->children; c && depth < 64; c = c->next) {
    if (!is_w(c, "p")) {
      if (c->type == XML_ELEMENT_NODE) docx_paragraphs(c, bb, title, depth + 1);
      continue;
    }
    int level = 0;
    bool is_title = false;
    for (const xmlNode* p = c->children; p; p = p->next) {
      if (!is_w(p, "pPr")) continue;
      for (const xmlNode* s = p->children; s; s = s->next) {
        if (!is_w(s, "pStyle")) continue;
        std::string style = w_val(s);
        for (char& ch : style) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (style == "title") {
          level = 1;
          is_title = true;
        } else if (style.rfind("heading", 0) == 0 && style.size() == 8 && std::isdigit(static_cast<unsigned char>(style[7]))) {
          level = std::max(1, style[7] - '0');
        }
      }
    }
    docx_runs(c, bb, depth + 1);
    const std::size_t before = bb.blocks.size();
    bb.end(level > 0 ? Block::Kind::kHeading : Block::Kind::kParagraph, level);
    if (is_title && title.empty() && bb.blocks.size() > before) title = bb.blocks.back().text;
  }
}

Result<Extracted> extract_docx(std::string_view name, std::string_view bytes, std::size_t max_bytes) {
  zip_error_t zerr;
  zip_error_init(&zerr);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &zerr);
  if (!src) return invalid_argument(fmt::format("'{}' could not be read as a ZIP archive", name), "file");
  std::unique_ptr<zip_t, ZipClose> za(zip_open_from_source(src, ZIP_RDONLY, &zerr));
  if (!za) {
    zip_source_free(src);
    zip_error_fini(&zerr);
    return invalid_argument(fmt::format("'{}' is not a valid DOCX (not a ZIP archive)", name), "file");
  }
  zip_error_fini(&zerr);
  zip_stat_t st;
  if (zip_stat(za.get(), "word/document.xml", 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
    return invalid_argument(fmt::format("'{}' is not a Word document (no word/document.xml)", name), "file");
  }
  if (st.size > max_bytes) {
    return invalid_argument(fmt::format("'{}' unpacks to {} bytes, over the {}-byte limit", name, st.size, max_bytes),
                            "file");
  }
  std::string xml(static_cast<std::size_t>(st.size), '\0');
  zip_file_t* f = zip_fopen(za.get(), "word/document.xml", 0);
  const zip_int64_t n = f ? zip_fread(f, xml.data(), xml.size()) : -1;
  if (f) zip_fclose(f);
  if (n < 0 || static_cast<std::size_t>(n) != xml.size()) {
    return invalid_argument(fmt::format("'{}': word/document.xml is damaged", name), "file");
  }
  std::unique_ptr<xmlDoc, XmlFree> doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "document.xml", nullptr,
                                                     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc || !xmlDocGetRootElement(doc.get())) {
    return invalid_argument(fmt::format("'{}': word/document.xml is not well-formed XML", name), "file");
  }
  Extracted out;
  out.format = DocFormat::kDocx;
  BlockBuilder bb;
  docx_paragraphs(xmlDocGetRootElement(doc.get()), bb, out.title, 0);
  out.blocks = std::move(bb.blocks);
  return out;
}

bool has_nul(std::string_view bytes) { return bytes.find('\0') != std::string_view::npos; }

}  // namespace

const char* format_name(DocFormat f) {
  switch (f) {
    case DocFormat::kText: return "text";
    case DocFormat::kMarkdown: return "markdown";
    case DocFormat::kHtml: return "html";
    case DocFormat::kPdf: return "pdf";
    case DocFormat::kDocx: return "docx";
  }
  return "text";
}

Result<DocFormat> detect_format(std::string_view name, std::string_view bytes) {
  const std::string ext = lower_extension(name);
  DocFormat f;
  if (ext == ".txt" || ext == ".text" || ext == ".rst" || ext == ".log" || ext == ".csv") {
    f = DocFormat::kText;
  } else if (ext == ".md" || ext == ".markdown") {
    f = DocFormat::kMarkdown;
  } else if (ext == ".html" || ext == ".htm" || ext == ".xhtml") {
    f = DocFormat::kHtml;
  } else if (ext == ".pdf") {
    f = DocFormat::kPdf;
  } else if (ext == ".docx") {
    f = DocFormat::kDocx;
  } else {
    return invalid_argument(
        fmt::format("'{}': unsupported file type '{}' (txt, md, html, pdf, docx)", name, ext.empty() ? "(none)" : ext),
        "file");
  }
  if (f == DocFormat::kPdf && bytes.substr(0, 5) != "%PDF-") {
    return invalid_argument(fmt::format("'{}' is not a PDF (no %PDF- header)", name), "file");
  }
  if (f == DocFormat::kDocx && bytes.substr(0, 4) != std::string_view("PK\x03\x04", 4)) {
    return invalid_argument(fmt::format("'{}' is not a DOCX (not a ZIP archive)", name), "file");
  }
  if ((f == DocFormat::kText || f == DocFormat::kMarkdown || f == DocFormat::kHtml) && has_nul(bytes)) {
    return invalid_argument(fmt::format("'{}' looks like a binary file (it contains NUL bytes)", name), "file");
  }
  return f;
}

const PdfReader& default_pdf_reader() {
  static const PdfReader reader = [] {
    PdfReader r;
    if (const char* env = std::getenv("HEARTH_PDF_HELPER"); env && *env) {
      r.helper = env;
      return r;
    }
    std::error_code ec;
    const std::string beside = executable_dir() + "/hearth-pdf-text";
    r.helper = std::filesystem::exists(beside, ec) ? beside : std::string(HEARTH_BUILD_DIR) + "/hearth-pdf-text";
    return r;
  }();
  return reader;
}

Result<Extracted> extract_document(std::string_view name, std::string_view bytes, std::size_t max_bytes,
                                   const PdfReader& pdf_reader) {
  if (bytes.size() > max_bytes) {
    return invalid_argument(fmt::format("'{}' is {} bytes, over the {}-byte limit", name, bytes.size(), max_bytes),
                            "file");
  }
  auto format = detect_format(name, bytes);
  if (!format) return format.take_error();
  Extracted out;
  out.format = *format;
  switch (*format) {
    case DocFormat::kText:
      out.blocks = extract_text(bytes);
      break;
    case DocFormat::kMarkdown: {
      auto blocks = extract_markdown(name, bytes);
      if (!blocks) return blocks.take_error();
      out.blocks = std::move(*blocks);
      break;
    }
    case DocFormat::kHtml: {
      std::unique_ptr<GumboOutput, GumboFree> html(gumbo_parse_with_options(&kGumboDefaultOptions, bytes.data(),
                                                                            bytes.size()));
      if (!html) return invalid_argument(fmt::format("'{}' could not be parsed as HTML", name), "file");
      BlockBuilder bb;
      walk_html(html->root, bb, out.title, 0);
      bb.end();
      // Broken markup is recovered as browsers recover it (gumbo is an HTML5 parser); a page with
      // no text left at all is an error, so that a sync names it instead of indexing nothing.
      if (bb.blocks.empty()) {
        return invalid_argument(
            fmt::format("'{}' has no text to index (markup, scripts or styles only, or not HTML at all)", name), "file");
      }
      out.blocks = std::move(bb.blocks);
      break;
    }
    case DocFormat::kPdf: {
      auto pdf = extract_pdf(name, bytes, pdf_reader);
      if (!pdf) return pdf.take_error();
      out = std::move(*pdf);
      break;
    }
    case DocFormat::kDocx: {
      auto docx = extract_docx(name, bytes, max_bytes);
      if (!docx) return docx.take_error();
      out = std::move(*docx);
      break;
    }
  }
  if (out.title.empty()) out.title = first_heading(out.blocks);
  if (out.title.empty()) out.title = stem_of(name);
  return out;
}

}  // namespace hearth::knowledge
