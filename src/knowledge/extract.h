// Text extraction per document format (issue #3): plain text, Markdown (md4c), HTML (gumbo),
// PDF (poppler-cpp) and DOCX (libzip + libxml2) into the blocks the chunker takes.
//
// Bad input (a corrupt PDF, a ZIP that is not a Word document, binary data under a text name,
// an unknown extension) is an invalid_argument error naming the file and the problem; nothing
// here aborts or throws.
//
// Thread-safety: extract_document is reentrant (poppler's error hook is set once, process-wide).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "knowledge/chunker.h"

namespace hearth::knowledge {

enum class DocFormat { kText, kMarkdown, kHtml, kPdf, kDocx };

const char* format_name(DocFormat f);

// By extension (.txt .text .rst .log .csv, .md .markdown, .html .htm .xhtml, .pdf, .docx),
// checked against the content: a PDF must start with "%PDF-", a DOCX be a ZIP, and text formats
// must not hold NUL bytes.
Result<DocFormat> detect_format(std::string_view name, std::string_view bytes);

struct Extracted {
  DocFormat format = DocFormat::kText;
  std::string title;          // the document's own title, else its first heading, else the file name
  std::vector<Block> blocks;  // valid UTF-8
};

// Inputs over `max_bytes` (and DOCX parts that unpack beyond it) are refused.
Result<Extracted> extract_document(std::string_view name, std::string_view bytes,
                                   std::size_t max_bytes = 64u << 20);

}  // namespace hearth::knowledge
