#include "knowledge/text_tokenizer.h"

#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <unicode/ubrk.h>
#include <unicode/unistr.h>

#include <fmt/format.h>

#include "core/utf8.h"

namespace hearth::knowledge {

struct TextTokenizer::Impl {
  std::unique_ptr<icu::BreakIterator> words;
  const icu::Normalizer2* nfkc_casefold = nullptr;  // owned by ICU
  icu::UnicodeString text;
  std::vector<std::size_t> byte_at;  // UTF-16 index -> byte offset in the input
};

TextTokenizer::TextTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextTokenizer::~TextTokenizer() = default;

Result<std::unique_ptr<TextTokenizer>> TextTokenizer::create() {
  auto impl = std::make_unique<Impl>();
  UErrorCode status = U_ZERO_ERROR;
  impl->words.reset(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
  if (U_FAILURE(status) || !impl->words) {
    return unavailable(fmt::format("ICU word break iterator unavailable: {}", u_errorName(status)));
  }
  impl->nfkc_casefold = icu::Normalizer2::getNFKCCasefoldInstance(status);
  if (U_FAILURE(status) || !impl->nfkc_casefold) {
    return unavailable(fmt::format("ICU NFKC_Casefold normalizer unavailable: {}", u_errorName(status)));
  }
  return std::unique_ptr<TextTokenizer>(new TextTokenizer(std::move(impl)));
}

std::vector<TextToken> TextTokenizer::tokenize(std::string_view input) {
  Impl& m = *impl_;
  // Decode ourselves so that every UTF-16 index maps back to a byte of the input.
  m.text.remove();
  m.byte_at.clear();
  for (std::size_t i = 0; i < input.size();) {
    const Utf8Char c = utf8_decode(input, i);
    m.byte_at.push_back(i);
    if (c.code_point > 0xFFFF) m.byte_at.push_back(i);
    m.text.append(static_cast<UChar32>(c.code_point));
    i += c.length;
  }
  m.byte_at.push_back(input.size());

  std::vector<TextToken> out;
  m.words->setText(m.text);
  int32_t start = m.words->first();
  for (int32_t end = m.words->next(); end != icu::BreakIterator::DONE; start = end, end = m.words->next()) {
    if (m.words->getRuleStatus() < UBRK_WORD_NONE_LIMIT) continue;  // spaces, punctuation
    UErrorCode status = U_ZERO_ERROR;
    const icu::UnicodeString word = m.nfkc_casefold->normalize(m.text.tempSubStringBetween(start, end), status);
    if (U_FAILURE(status) || word.isEmpty()) continue;
    TextToken t;
    word.toUTF8String(t.text);
    t.begin = m.byte_at[static_cast<std::size_t>(start)];
    t.end = m.byte_at[static_cast<std::size_t>(end)];
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::string> TextTokenizer::words(std::string_view text) {
  std::vector<std::string> out;
  for (TextToken& t : tokenize(text)) out.push_back(std::move(t.text));
  return out;
}

}  // namespace hearth::knowledge
