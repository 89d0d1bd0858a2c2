// SlotScheduler on the fake backend (engine_fake_backend.h): limits, stops, cancellation, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine_fake_backend.h"

using namespace hearth;
using namespace hearth::testing_fake;
using namespace std::chrono_literals;

TEST(SlotScheduler, MaxTokensAndContextLimitEndWithLength) {
  Fixture f(config(1, 64, 40));
  auto p = make_prompt(30, 11);
  Collected c;
  ASSERT_TRUE(f.sched->submit(request(p, 100), c.sink()).ok());
  ASSERT_TRUE(c.wait());
  const auto ref = reference(p, 100);
  if (std::find(ref.begin(), ref.begin() + std::min<size_t>(ref.size(), 10), kEog) == ref.begin() + std::min<size_t>(ref.size(), 10)) {
    EXPECT_EQ(c.last.finish, FinishReason::kLength);
    EXPECT_EQ(c.last.usage.prompt_tokens + c.last.usage.completion_tokens, 40);  // exactly the context
  }
}

TEST(SlotScheduler, PromptThatDoesNotFitIsRejectedWithTokenCounts) {
  Fixture f(config(1, 64, 32));
  Collected c;
  auto r = f.sched->submit(request(make_prompt(40, 1), 5), c.sink());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().type_override, "context_length_exceeded");
  EXPECT_NE(r.error().message.find("40"), std::string::npos);
  EXPECT_NE(r.error().message.find("32"), std::string::npos);
  auto empty = f.sched->submit(request({}, 5), c.sink());
  EXPECT_FALSE(empty.ok());
}

TEST(SlotScheduler, StopStringsAcrossTokensAreNotEmitted) {
  Fixture f(config(1));
  auto p = make_prompt(10, 12);
  const auto ref = reference(p, 6);
  const std::string full = render(ref);
  ASSERT_GE(ref.size(), 4u);
  // Stop on the text of tokens 2..3 (spanning a token boundary).
  const std::string t2 = angle(ref[2]);
  const std::string stop = t2.substr(1) + "<";
  GenerationRequest r = request(p, 6);
  r.stop = {stop};
  Collected c;
  ASSERT_TRUE(f.sched->submit(std::move(r), c.sink()).ok());
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.text, full.substr(0, full.find(stop)));
  EXPECT_EQ(c.last.finish, FinishReason::kStop);
  for (const auto& d : c.deltas) EXPECT_EQ(d.find(stop), std::string::npos);
}

TEST(SlotScheduler, Utf8CharacterSplitAcrossTokensIsHeldBack) {
  // A backend whose sequence is forced: tokens 7 then 8 form one character.
  class Forced final : public DecodeBackend {
   public:
    Status begin(int, const SamplingParams&) override { return {}; }
    void end(int) override {}
    void kv_truncate(int, int) override {}
    bool kv_copy(int, int, int) override { return true; }
    Status decode(std::span<const BatchItem>) override { return {}; }
    Token sample(int, int) override { return seq_[std::min(i_++, seq_.size() - 1)]; }
    std::string piece(Token t) const override { return t == 7 ? "\xE4\xBD" : t == 8 ? "\xA0" : "x"; }
    bool is_end_of_generation(Token t) const override { return t == kEog; }

   private:
    std::vector<Token> seq_{9, 7, 8, 9, kEog};
    size_t i_ = 0;
  };
  SlotScheduler s(std::make_unique<Forced>(), config(1));
  Collected c;
  ASSERT_TRUE(s.submit(request({5, 6}, 10), c.sink()).ok());
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.text, "x你x");
  for (const auto& d : c.deltas) EXPECT_NE(d, "\xE4\xBD");
  EXPECT_EQ(c.last.finish, FinishReason::kStop);
}

TEST(SlotScheduler, CancellingARunningRequestFreesItsSlot) {
  Fixture f(config(1), 500us);
  Collected c1, c2;
  auto h = f.sched->submit(request(make_prompt(8, 13), 100000), c1.sink());
  ASSERT_TRUE(h.ok());
  std::this_thread::sleep_for(20ms);
  (*h)->cancel();
  ASSERT_TRUE(c1.wait());
  EXPECT_EQ(c1.last.finish, FinishReason::kCancelled);
  // With one slot, the next request can only run if the slot was freed.
  auto p = make_prompt(8, 14);
  ASSERT_TRUE(f.sched->submit(request(p, 3), c2.sink()).ok());
  ASSERT_TRUE(c2.wait());
  EXPECT_EQ(c2.text, render(reference(p, 3)));
  EXPECT_EQ(f.sched->stats().requests_cancelled, 1u);
}

TEST(SlotScheduler, CancellingAQueuedRequestRemovesIt) {
  Fixture f(config(1), 300us);
  Collected running, queued;
  auto h1 = f.sched->submit(request(make_prompt(8, 15), 400), running.sink());
  auto h2 = f.sched->submit(request(make_prompt(8, 16), 5), queued.sink());
  ASSERT_TRUE(h1.ok() && h2.ok());
  (*h2)->cancel();
  ASSERT_TRUE(queued.wait());
  EXPECT_EQ(queued.last.finish, FinishReason::kCancelled);
  EXPECT_EQ(queued.text, "");
  (*h1)->cancel();
  ASSERT_TRUE(running.wait());
}

TEST(SlotScheduler, FullQueueIsRejected) {
  Fixture f(config(1, 64, 512, 2), 1000us);
  std::vector<std::unique_ptr<Collected>> cs;
  std::vector<std::shared_ptr<RequestHandle>> handles;
  int rejected = 0;
  for (int i = 0; i < 6; ++i) {
    cs.push_back(std::make_unique<Collected>());
    auto h = f.sched->submit(request(make_prompt(8, i), 200), cs.back()->sink());
    if (h.ok()) {
      handles.push_back(*h);
    } else {
      EXPECT_EQ(h.error().code, ErrorCode::kResourceExhausted);
      EXPECT_GT(h.error().retry_after_s, 0);
      ++rejected;
    }
  }
  EXPECT_GE(rejected, 3);  // one running (maybe), two waiting, the rest refused
  for (auto& h : handles) h->cancel();
  // Every accepted request ends (as cancelled) before its collector goes away.
  int ended = 0;
  for (auto& c : cs) ended += c->wait(std::chrono::seconds(0)) ? 1 : 0;
  for (int tries = 0; tries < 2000 && ended < static_cast<int>(handles.size()); ++tries) {
    std::this_thread::sleep_for(1ms);
    ended = 0;
    for (auto& c : cs) ended += c->wait(std::chrono::seconds(0)) ? 1 : 0;
  }
  EXPECT_EQ(ended, static_cast<int>(handles.size()));
  EXPECT_EQ(f.sched->stats().requests_rejected, static_cast<std::uint64_t>(rejected));
}

TEST(SlotScheduler, DecodeFailureReportsAnErrorAndTheSchedulerRecovers) {
  Fixture f(config(1));
  {
    std::lock_guard lk(f.log->mu);
    f.log->fail_next_decodes = 1;
  }
  Collected c1, c2;
  ASSERT_TRUE(f.sched->submit(request(make_prompt(8, 17), 4), c1.sink()).ok());
  ASSERT_TRUE(c1.wait());
  EXPECT_EQ(c1.last.kind, GenEvent::Kind::kError);
  EXPECT_NE(c1.last.error.message.find("injected"), std::string::npos);
  auto p = make_prompt(8, 18);
  ASSERT_TRUE(f.sched->submit(request(p, 4), c2.sink()).ok());
  ASSERT_TRUE(c2.wait());
  EXPECT_EQ(c2.text, render(reference(p, 4)));
  EXPECT_EQ(f.sched->stats().decode_failures, 1u);
}

TEST(SlotScheduler, BadSamplerSetupIsAnErrorEvent) {
  Fixture f(config(1));
  GenerationRequest r = request(make_prompt(5, 1), 3);
  r.sampling.grammar = "bad";
  Collected c;
  ASSERT_TRUE(f.sched->submit(std::move(r), c.sink()).ok());
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.last.kind, GenEvent::Kind::kError);
  EXPECT_EQ(c.last.error.param, "response_format");
}

TEST(SlotScheduler, StoppingCancelsEverythingPending) {
  auto log = std::make_shared<FakeLog>();
  auto sched = std::make_unique<SlotScheduler>(std::make_unique<FakeBackend>(1, log, 500us), config(1));
  Collected a, b;
  ASSERT_TRUE(sched->submit(request(make_prompt(5, 1), 100000), a.sink()).ok());
  ASSERT_TRUE(sched->submit(request(make_prompt(5, 2), 5), b.sink()).ok());
  std::this_thread::sleep_for(10ms);
  sched.reset();
  ASSERT_TRUE(a.wait(1s));
  ASSERT_TRUE(b.wait(1s));
  EXPECT_EQ(a.last.finish, FinishReason::kCancelled);
  EXPECT_EQ(b.last.finish, FinishReason::kCancelled);
}

TEST(SlotScheduler, HandleOutlivesScheduler) {
  std::shared_ptr<RequestHandle> h;
  {
    Fixture f(config(1));
    Collected c;
    auto r = f.sched->submit(request(make_prompt(5, 3), 2), c.sink());
    ASSERT_TRUE(r.ok());
    h = *r;
    ASSERT_TRUE(c.wait());
  }
  h->cancel();  // must not touch freed memory
  EXPECT_TRUE(h->cancelled());
}
