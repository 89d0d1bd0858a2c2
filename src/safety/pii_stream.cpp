// safety/pii: StreamRedactor. Each push scans what has arrived with the same scan loop as
// redact(), over the emitted tail (for look-behind) plus what is held; the loop stops at the first
// position whose decision needs input that has not arrived, everything before it is emitted, the
// rest waits. Because the matchers' answers depend only on the characters they read (pii_scan.h),
// a decision taken early is the decision the whole text gets, whatever the chunking.
#include <algorithm>

#include "safety/pii.h"
#include "safety/pii_scan.h"

namespace hearth::safety {

StreamRedactor::StreamRedactor(RedactionPolicy policy) : policy_(std::move(policy)) {}

std::string StreamRedactor::push(std::string_view chunk) {
  if (finished_) return {};
  pending_.append(chunk);
  return advance(false);
}

std::string StreamRedactor::finish() {
  if (finished_) return {};
  finished_ = true;
  return advance(true);
}

std::string StreamRedactor::advance(bool final) {
  using detail::Pos;
  const std::string window = history_ + pending_;
  const detail::UnitView view(window, final);
  const auto from = static_cast<Pos>(history_units_);
  std::vector<detail::UnitMatch> found;
  const Pos stop = detail::scan_units(view, from, detail::policy_mask(policy_), found);

  Redacted out;
  detail::apply_policy(view, from, stop, found, policy_, pending_offset_ - history_.size(), out);
  matches_.insert(matches_.end(), out.matches.begin(), out.matches.end());
  if (!blocked_by_ && out.blocked_by) blocked_by_ = out.blocked_by;

  // What was emitted leaves pending_; its last characters stay as the look-behind.
  const Pos keep = std::max<Pos>(0, stop - detail::kHistoryUnits);
  const std::size_t emitted = view.byte_begin(stop) - history_.size();
  history_ = window.substr(view.byte_begin(keep), view.byte_begin(stop) - view.byte_begin(keep));
  history_units_ = static_cast<std::size_t>(stop - keep);
  pending_.erase(0, emitted);
  pending_offset_ += emitted;
  return std::move(out.text);
}

}  // namespace hearth::safety
