// Text extraction per document format (issue #3): plain text, Markdown (md4c), HTML (gumbo),
// PDF (poppler-cpp, in a helper process: hearth-pdf-text) and DOCX (libzip + libxml2) into the
// blocks the chunker takes.
//
// Bad input (a corrupt PDF, a ZIP that is not a Word document, binary data under a text name,
// an unknown extension) is an invalid_argument error naming the file and the problem; nothing
// here aborts or throws.
//
// A PDF is read by hearth-pdf-text, one process per document, with limits on its memory, CPU
// and wall time; a PDF that crashes or hangs the parser is an error for that document.
//
// Thread-safety: extract_document is reentrant.
#pragma once

#include <chrono>
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

struct PdfReader {
  std::string helper;  // the hearth-pdf-text program
  std::chrono::milliseconds timeout{120000};  // wall time, and (rounded up) CPU time
  long max_memory_mb = 2048;  // its address space
};

// $HEARTH_PDF_HELPER, else hearth-pdf-text beside the running program, else the one in the build
// tree this code was compiled in (for tests).
const PdfReader& default_pdf_reader();

// Inputs over `max_bytes` (and DOCX parts that unpack beyond it) are refused.
Result<Extracted> extract_document(std::string_view name, std::string_view bytes, std::size_t max_bytes = 64u << 20,
                                   const PdfReader& pdf_reader = default_pdf_reader());

}  // namespace hearth::knowledge
