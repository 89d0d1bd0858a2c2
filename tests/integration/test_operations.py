"""Operational integration tests: cancellation, concurrency, prefix reuse, the WebSocket chat,
back-pressure (429), context limits, graceful shutdown, model lifecycle (idle unload, memory
budget, broken files) and `hearth models pull|verify|list|rm`.

Run from the repository root:
  HEARTH_BIN=build/hearth python3 -m unittest discover -s tests/integration -t . -v
"""
import hashlib
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from tests.integration.harness import (BIN, LLAMA3, MODELS, QWEN, SLOW, Server, WebSocket, model_block,
                                       sse_events)

QWEN_FILE = "hearth-tiny-qwen2.gguf"
LLAMA3_FILE = "hearth-tiny-llama3.gguf"

# The tiny models have random weights, so an end-of-generation token can come at any point. Long
# requests that must still be running when the test acts ban Qwen2's EOG tokens
# (<|endoftext|>, <|im_end|>, <|fim_pad|>, <|repo_name|>, <|file_sep|>).
# Every end-of-generation token of the Qwen2 vocabulary, so sampled answers run to max_tokens:
# <|endoftext|>, <|im_end|>, the FIM tokens, and "</s>" (128247), which llama.cpp also treats as
# one (its load log lists the EOG tokens). Missing it made long sampled streams stop early, rarely.
NO_EOS = {"151643": -100, "151645": -100, "151662": -100, "151663": -100, "151664": -100, "128247": -100}

SYSTEM_LONG = ("You are a careful assistant. The weather today is sunny with a light breeze from the west. "
               "Remember that the library opens at nine and closes at five on weekdays. ") * 45


def mb(model_id, file, **opts):
    """A [[model]] block with one inference thread: several servers (and other suites) share this
    machine's few cores, and llama.cpp's spinning thread pool stalls badly when oversubscribed."""
    opts.setdefault("threads", 1)
    return model_block(model_id, file, **opts)


def wait_for(predicate, timeout, interval=0.05, message="condition"):
    """Polls until predicate() is truthy; returns its value or fails after timeout * SLOW seconds."""
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message} (last value: {last!r})")


def wait_metric(server, name, model, expected, timeout=10):
    """The scheduler hands a request's final event to the HTTP side before it updates its counters
    and frees the slot, so a value read right after a response may lag by a moment: wait for the
    exact expected value."""
    wait_for(lambda: server.metric(name, model) == expected, timeout, interval=0.02,
             message=f"{name}{{{model}}} == {expected}")


def raw_post(port, path, body):
    """Sends a POST over a plain socket (so the test controls when the connection closes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW)
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    sock.sendall(head + data)
    return sock


def health_state(server, model_id):
    status, body = server.get_json("/health")
    for m in body["models"]:
        if m["id"] == model_id:
            return m["state"]
    raise AssertionError(f"{model_id} not in /health: {body}")


def health_entry(server, model_id):
    _, body = server.get_json("/health")
    return next(m for m in body["models"] if m["id"] == model_id)


def wait_model_idle(server, model_id):
    """Waits until /health reports no request running on the model. Known server race: a request
    sent the instant the previous response arrives can still find that model 'busy' (its slot
    and engine reference are released just after the response), and then gets a 503 instead of
    evicting it."""
    wait_for(lambda: health_entry(server, model_id)["load"] == 0, 10, message=f"{model_id} idle")
    time.sleep(0.2)


def ws_turn(ws):
    """Reads one turn's messages up to done/error. Returns (messages, concatenated content)."""
    msgs = []
    while True:
        m = ws.recv_json()
        if m is None:
            raise AssertionError(f"socket closed mid-turn after {msgs}")
        msgs.append(m)
        if m["type"] in ("done", "error"):
            break
    content = "".join(m.get("content", "") for m in msgs if m["type"] == "delta")
    return msgs, content


# ---------------------------------------------------------------------------------------------
# 1. Cancellation: a client that goes away frees its sequence.
# ---------------------------------------------------------------------------------------------

class CancellationTest(unittest.TestCase):
    def setUp(self):
        self.server = Server(models=[mb(QWEN, QWEN_FILE, context_size=4096, parallel=1)]).start()
        self.addCleanup(self.server.__exit__, None, None, None)
        self.server.chat([{"role": "user", "content": "warm up"}], max_tokens=1)  # loads the model
        wait_metric(self.server, "hearth_requests_completed_total", QWEN, 1)

    def m(self, name):
        return self.server.metric(name, QWEN)

    def assert_generation_stopped(self, cancelled_before):
        s = self.server
        wait_for(lambda: self.m("hearth_active_sequences") == 0 and
                 self.m("hearth_requests_cancelled_total") >= cancelled_before + 1, 15,
                 message="the sequence to be freed and counted as cancelled")
        self.assertEqual(self.m("hearth_requests_cancelled_total"), cancelled_before + 1)
        tokens = self.m("hearth_tokens_generated_total")
        time.sleep(0.5)
        self.assertEqual(self.m("hearth_tokens_generated_total"), tokens, "generation went on after the cancel")
        self.assertLess(tokens, 1500, "the cancelled request generated most of its 3000 tokens")
        # With parallel=1, the next request gets the only slot; and only its tokens are generated.
        completed = self.m("hearth_requests_completed_total")
        out = s.chat([{"role": "user", "content": "next"}], max_tokens=5, logit_bias=NO_EOS)
        self.assertEqual(out["choices"][0]["finish_reason"], "length")
        self.assertEqual(out["usage"]["completion_tokens"], 5)
        self.assertEqual(self.m("hearth_tokens_generated_total"), tokens + 5)
        wait_metric(s, "hearth_requests_completed_total", QWEN, completed + 1)
        wait_metric(s, "hearth_active_sequences", QWEN, 0)

    def test_closed_stream_frees_its_sequence(self):
        cancelled = self.m("hearth_requests_cancelled_total")
        sock = raw_post(self.server.port, "/v1/chat/completions",
                        {"messages": [{"role": "user", "content": "Tell me everything."}], "max_tokens": 3000,
                         "stream": True, "logit_bias": NO_EOS})
        got = b""
        while got.count(b"data: ") < 4:  # the role chunk and a few content chunks
            chunk = sock.recv(65536)
            self.assertTrue(chunk, f"stream ended early: {got!r}")
            got += chunk
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:200])
        self.assertEqual(self.m("hearth_active_sequences"), 1)
        sock.close()
        self.assert_generation_stopped(cancelled)

    def test_disconnected_non_streaming_request_is_cancelled(self):
        cancelled = self.m("hearth_requests_cancelled_total")
        generated = self.m("hearth_tokens_generated_total")
        sock = raw_post(self.server.port, "/v1/chat/completions",
                        {"messages": [{"role": "user", "content": "Tell me everything."}], "max_tokens": 3000,
                         "logit_bias": NO_EOS})
        wait_for(lambda: self.m("hearth_active_sequences") == 1 and
                 self.m("hearth_tokens_generated_total") > generated + 5, 20, message="generation to start")
        sock.close()
        self.assert_generation_stopped(cancelled)


# ---------------------------------------------------------------------------------------------
# 2. Many concurrent clients.
# ---------------------------------------------------------------------------------------------

class ConcurrencyTest(unittest.TestCase):
    def test_32_concurrent_clients_all_complete(self):
        n = 32
        with Server(models=[mb(QWEN, QWEN_FILE, context_size=1024, parallel=4, max_queue=64)]) as s:
            s.chat([{"role": "user", "content": "warm up"}], max_tokens=1)
            wait_metric(s, "hearth_requests_completed_total", QWEN, 1)
            completed = 1
            results = [None] * n
            barrier = threading.Barrier(n)

            def client(i):
                body = {"messages": [{"role": "user", "content": f"Client {i}: say something about {i * 7}."}],
                        "max_tokens": 16}
                try:
                    barrier.wait(30 * SLOW)
                    if i % 2 == 0:
                        events = s.stream("/v1/chat/completions", body, timeout=180)
                        finish = [e["choices"][0]["finish_reason"] for e in events
                                  if isinstance(e, dict) and e.get("choices") and e["choices"][0].get("finish_reason")]
                        results[i] = ("stream", 200, finish, events[-1])
                    else:
                        status, out = s.post("/v1/chat/completions", body, timeout=180)
                        finish = [out["choices"][0]["finish_reason"]] if status == 200 else []
                        results[i] = ("plain", status, finish, out)
                except Exception as e:  # noqa: BLE001 - reported below
                    results[i] = ("error", 0, [], repr(e))

            threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(240 * SLOW)
            for i, r in enumerate(results):
                self.assertIsNotNone(r, f"client {i} did not finish")
                kind, status, finish, last = r
                self.assertEqual(status, 200, f"client {i}: {r}")
                self.assertEqual(len(finish), 1, f"client {i}: {r}")
                self.assertIn(finish[0], ("stop", "length"), f"client {i}: {r}")
                if kind == "stream":
                    self.assertEqual(last, "[DONE]", f"client {i}")
            wait_metric(s, "hearth_requests_completed_total", QWEN, completed + n)
            wait_metric(s, "hearth_active_sequences", QWEN, 0)
            self.assertEqual(s.metric("hearth_queued_requests", QWEN), 0)
            self.assertEqual(s.metric("hearth_requests_rejected_total", QWEN), 0)
            self.assertEqual(s.metric("hearth_requests_cancelled_total", QWEN), 0)


# ---------------------------------------------------------------------------------------------
# 3. Prefix reuse (the KV cache of earlier requests).
# ---------------------------------------------------------------------------------------------

class PrefixReuseTest(unittest.TestCase):
    def setUp(self):
        self.server = Server(models=[mb(QWEN, QWEN_FILE, context_size=4096, parallel=2)]).start()
        self.addCleanup(self.server.__exit__, None, None, None)

    def ask(self, system, question, **kw):
        params = dict(max_tokens=4, temperature=0)
        params.update(kw)
        return self.server.chat([{"role": "system", "content": system}, {"role": "user", "content": question}],
                                **params)

    def test_shared_system_prompt_is_reused(self):
        s = self.server
        a = self.ask(SYSTEM_LONG, "What time does the library open?")
        prompt_a = a["usage"]["prompt_tokens"]
        self.assertGreater(prompt_a, 1400)
        self.assertEqual(a["timings"]["prompt_n"], prompt_a - a["usage"]["prompt_tokens_details"]["cached_tokens"])
        shared = prompt_a - 16  # everything but the question and the assistant header
        reused_before = s.metric("hearth_prompt_tokens_reused_total", QWEN)
        computed_before = s.metric("hearth_prompt_tokens_computed_total", QWEN)

        b = self.ask(SYSTEM_LONG, "Where is the wind coming from?")
        prompt_b = b["usage"]["prompt_tokens"]
        cached = b["usage"]["prompt_tokens_details"]["cached_tokens"]
        self.assertGreaterEqual(cached, 0.9 * shared, b["usage"])
        self.assertLess(cached, prompt_b)  # the question itself is new
        self.assertEqual(b["timings"]["prompt_n"], prompt_b - cached)
        self.assertLess(b["timings"]["prompt_n"], prompt_b / 10)
        self.assertEqual(s.metric("hearth_prompt_tokens_reused_total", QWEN), reused_before + cached)
        self.assertEqual(s.metric("hearth_prompt_tokens_computed_total", QWEN), computed_before + prompt_b - cached)

    def test_requests_arriving_together_compute_their_shared_prompt_once(self):
        """Two requests with one new long system prompt, released together: one computes it, the
        other waits for it and copies it (it is in no cache when they arrive), so the server
        computes it once, not twice (had they come one after the other, ordinary prefix reuse
        would give the same count; together, without sharing, both compute it)."""
        s = self.server
        system = "Fresh instructions for this burst. " + SYSTEM_LONG
        questions = ["What time does the library open?", "Where is the wind coming from?"]
        computed_before = s.metric("hearth_prompt_tokens_computed_total", QWEN)
        barrier = threading.Barrier(len(questions))
        out = [None] * len(questions)

        def go(i):
            barrier.wait()
            out[i] = self.ask(system, questions[i], max_tokens=6)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(questions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        prompts = [o["usage"]["prompt_tokens"] for o in out]
        cached = [o["usage"]["prompt_tokens_details"]["cached_tokens"] for o in out]
        self.assertGreater(min(prompts), 1400)
        shared = min(prompts) - 16  # everything but the question and the assistant header
        self.assertGreaterEqual(max(cached), 0.9 * shared, [o["usage"] for o in out])
        computed = s.metric("hearth_prompt_tokens_computed_total", QWEN) - computed_before
        self.assertEqual(computed, sum(prompts) - sum(cached))
        self.assertLess(computed, 1.2 * max(prompts), "the shared system prompt was computed twice")
        for i, o in enumerate(out):
            self.assertEqual(o["timings"]["prompt_n"], prompts[i] - cached[i])

    def test_multi_turn_reuses_the_conversation(self):
        s = self.server
        turn1 = [{"role": "user", "content": "Tell me about the weather on the coast this week."}]
        o1 = s.chat(turn1, max_tokens=12, temperature=0)
        p1 = o1["usage"]["prompt_tokens"]
        turn2 = turn1 + [{"role": "assistant", "content": o1["choices"][0]["message"]["content"]},
                         {"role": "user", "content": "And what about tomorrow?"}]
        o2 = s.chat(turn2, max_tokens=12, temperature=0)
        cached = o2["usage"]["prompt_tokens_details"]["cached_tokens"]
        self.assertGreater(cached, 0)
        # At least the whole first prompt (up to the assistant header) comes from the cache.
        self.assertGreaterEqual(cached, p1, (o1["usage"], o2["usage"]))
        self.assertEqual(o2["timings"]["prompt_n"], o2["usage"]["prompt_tokens"] - cached)

    def test_prefix_in_a_busy_slot_is_copied(self):
        """P1 is cached in one slot, which is then busy with a long P1 request: a second P1 request
        gets the other slot and still reuses the prefix (copied from the busy slot)."""
        s = self.server
        p1 = "Cats are small furry animals that like to sleep in the sun. " * 60
        first = self.ask(p1, "Why?")
        n = first["usage"]["prompt_tokens"]
        generated = s.metric("hearth_tokens_generated_total", QWEN)
        # A long streaming P1 request occupies the slot that holds P1 (closed at the end: cancelled).
        sock = raw_post(s.port, "/v1/chat/completions",
                        {"messages": [{"role": "system", "content": p1},
                                      {"role": "user", "content": "Tell me a long story."}],
                         "max_tokens": 3000, "stream": True, "logit_bias": NO_EOS})
        self.addCleanup(sock.close)
        wait_for(lambda: s.metric("hearth_active_sequences", QWEN) == 1 and
                 s.metric("hearth_tokens_generated_total", QWEN) > generated + 2, 30,
                 message="the long request to run")
        cancelled = s.metric("hearth_requests_cancelled_total", QWEN)
        second = self.ask(p1, "How?")
        self.assertGreaterEqual(second["usage"]["prompt_tokens_details"]["cached_tokens"], 0.9 * (n - 16),
                                second["usage"])
        self.assertEqual(second["timings"]["prompt_n"],
                         second["usage"]["prompt_tokens"] - second["usage"]["prompt_tokens_details"]["cached_tokens"])
        # The long request was still running all along.
        self.assertEqual(s.metric("hearth_requests_cancelled_total", QWEN), cancelled)
        self.assertGreaterEqual(s.metric("hearth_active_sequences", QWEN), 1)
        sock.close()
        wait_for(lambda: s.metric("hearth_active_sequences", QWEN) == 0, 15, message="the long request to end")

    # Regression: choose_slot() used to give P2 the free slot with the longest common prefix even
    # when that was 3 template tokens, overwriting P1's ~800 cached tokens while a slot stayed empty.
    def test_alternating_prompts_keep_their_caches(self):
        """With parallel=2, two long prompts used in turn should each keep a slot: P1, P2, then
        P1 + another question reuses P1's prefix."""
        s = self.server
        p1 = "Cats are small furry animals that like to sleep in the sun. " * 60
        p2 = "Rockets burn fuel to climb through the atmosphere into orbit. " * 60
        n1 = self.ask(p1, "Why?")["usage"]["prompt_tokens"]
        self.ask(p2, "Why?")
        again = self.ask(p1, "How?")
        self.assertGreaterEqual(again["usage"]["prompt_tokens_details"]["cached_tokens"], 0.9 * (n1 - 16),
                                again["usage"])


# ---------------------------------------------------------------------------------------------
# 4. WebSocket chat.
# ---------------------------------------------------------------------------------------------

class WebSocketChatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(models=[mb(QWEN, QWEN_FILE, context_size=4096, parallel=2)]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def ws(self):
        ws = WebSocket(self.server.port, "/v1/chat/ws")
        self.addCleanup(ws.close)
        return ws

    def test_turns_keep_history_and_match_chat_completions(self):
        s = self.server
        ws = self.ws()
        ws.send_json({"type": "chat", "content": "Hello there, how are you?", "max_tokens": 8, "temperature": 0})
        msgs1, content1 = ws_turn(ws)
        self.assertEqual(msgs1[0]["type"], "start", msgs1)
        self.assertEqual(msgs1[0]["model"], QWEN)
        self.assertTrue(all(m["type"] == "delta" for m in msgs1[1:-1]), msgs1)
        self.assertGreater(len(msgs1), 2, "no deltas")
        done1 = msgs1[-1]
        self.assertEqual(done1["type"], "done", msgs1)
        self.assertIn(done1["finish_reason"], ("stop", "length"))
        self.assertEqual(len({m["id"] for m in msgs1}), 1, "one id for the whole turn")
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            self.assertIn(key, done1["usage"])

        ws.send_json({"type": "chat", "content": "What did I just say?", "max_tokens": 8, "temperature": 0})
        msgs2, content2 = ws_turn(ws)
        done2 = msgs2[-1]
        self.assertEqual(done2["type"], "done", msgs2)
        self.assertGreater(done2["usage"]["prompt_tokens_details"]["cached_tokens"], 0)
        self.assertGreaterEqual(done2["usage"]["prompt_tokens_details"]["cached_tokens"],
                                done1["usage"]["prompt_tokens"], (done1, done2))
        self.assertGreater(done2["usage"]["prompt_tokens"], done1["usage"]["prompt_tokens"] +
                           done1["usage"]["completion_tokens"] - 2)

        # The same conversation through POST /v1/chat/completions gives the same text (greedy).
        conv = [{"role": "user", "content": "Hello there, how are you?"}]
        ref1 = s.chat(conv, max_tokens=8, temperature=0)
        self.assertEqual(content1, ref1["choices"][0]["message"]["content"])
        self.assertEqual(done1["usage"]["prompt_tokens"], ref1["usage"]["prompt_tokens"])
        conv += [{"role": "assistant", "content": content1}, {"role": "user", "content": "What did I just say?"}]
        ref2 = s.chat(conv, max_tokens=8, temperature=0)
        self.assertEqual(content2, ref2["choices"][0]["message"]["content"])
        self.assertEqual(done2["usage"]["prompt_tokens"], ref2["usage"]["prompt_tokens"])

        # reset clears the history: the next turn's prompt is just the new message.
        ws.send_json({"type": "reset"})
        self.assertEqual(ws.recv_json(), {"type": "reset"})
        ws.send_json({"type": "chat", "content": "What did I just say?", "max_tokens": 8, "temperature": 0})
        msgs3, _ = ws_turn(ws)
        done3 = msgs3[-1]
        self.assertEqual(done3["type"], "done", msgs3)
        self.assertLess(done3["usage"]["prompt_tokens"], done2["usage"]["prompt_tokens"])
        self.assertLess(done3["usage"]["prompt_tokens_details"]["cached_tokens"],
                        done2["usage"]["prompt_tokens_details"]["cached_tokens"])
        single = s.chat([{"role": "user", "content": "What did I just say?"}], max_tokens=1)
        self.assertEqual(done3["usage"]["prompt_tokens"], single["usage"]["prompt_tokens"])

    def test_bad_messages_give_errors_and_the_connection_stays_usable(self):
        ws = self.ws()
        ws.send_text("{this is not json")
        m = ws.recv_json()
        self.assertEqual(m["type"], "error", m)
        self.assertEqual(m["error"]["type"], "invalid_request_error")
        ws.send_text("[1, 2, 3]")
        self.assertEqual(ws.recv_json()["type"], "error")
        ws.send_json({"type": "dance"})
        m = ws.recv_json()
        self.assertEqual(m["type"], "error", m)
        self.assertIn("type", m["error"]["message"])
        ws.send_json({"type": "chat"})  # neither content nor messages
        self.assertEqual(ws.recv_json()["type"], "error")
        ws.send_json({"type": "chat", "content": "Still there?", "max_tokens": 4})
        msgs, _ = ws_turn(ws)
        self.assertEqual(msgs[0]["type"], "start", msgs)
        self.assertEqual(msgs[-1]["type"], "done", msgs)

    def test_cancel_and_concurrent_turn(self):
        s = self.server
        ws = self.ws()
        ws.send_json({"type": "chat", "content": "Tell me a very long story.", "max_tokens": 2000,
                      "logit_bias": NO_EOS, "id": "long"})
        self.assertEqual(ws.recv_json()["type"], "start")
        self.assertEqual(ws.recv_json()["type"], "delta")
        # A second chat while one runs is refused, and the first goes on.
        ws.send_json({"type": "chat", "content": "Interrupting!", "id": "second"})
        # reset while running is refused too
        ws.send_json({"type": "reset", "id": "reset-while-running"})
        errors = {}
        while len(errors) < 2:
            m = ws.recv_json()
            self.assertIsNotNone(m)
            if m["type"] == "error":
                errors[m.get("id")] = m
            else:
                self.assertEqual(m["type"], "delta", m)
                self.assertEqual(m["id"], "long")
        self.assertEqual(set(errors), {"second", "reset-while-running"}, errors)
        ws.send_json({"type": "cancel"})
        while True:  # deltas already on their way, then done
            m = ws.recv_json()
            self.assertIsNotNone(m)
            if m["type"] == "done":
                break
            self.assertEqual(m["type"], "delta", m)
        self.assertEqual(m["id"], "long")
        self.assertEqual(m["finish_reason"], "cancelled")
        self.assertLess(m["usage"]["completion_tokens"], 2000)
        wait_for(lambda: s.metric("hearth_active_sequences", QWEN) == 0, 10, message="the sequence to be freed")
        # The connection is still usable.
        ws.send_json({"type": "chat", "content": "Short one.", "max_tokens": 3})
        msgs, _ = ws_turn(ws)
        self.assertEqual(msgs[-1]["type"], "done", msgs)

    def test_closing_the_socket_mid_turn_frees_the_sequence(self):
        s = self.server
        ws = WebSocket(s.port, "/v1/chat/ws")
        cancelled = s.metric("hearth_requests_cancelled_total", QWEN)
        ws.send_json({"type": "chat", "content": "Tell me a very long story.", "max_tokens": 2000,
                      "logit_bias": NO_EOS})
        self.assertEqual(ws.recv_json()["type"], "start")
        self.assertEqual(ws.recv_json()["type"], "delta")
        self.assertGreaterEqual(s.metric("hearth_active_sequences", QWEN), 1)
        ws.sock.close()  # no close frame: the peer just goes away
        wait_for(lambda: s.metric("hearth_active_sequences", QWEN) == 0 and
                 s.metric("hearth_requests_cancelled_total", QWEN) == cancelled + 1, 15,
                 message="the WebSocket turn to be cancelled")
        tokens = s.metric("hearth_tokens_generated_total", QWEN)
        time.sleep(0.3)
        self.assertEqual(s.metric("hearth_tokens_generated_total", QWEN), tokens)


# ---------------------------------------------------------------------------------------------
# 5. Back-pressure: a full queue answers 429.
# ---------------------------------------------------------------------------------------------

class QueueFullTest(unittest.TestCase):
    def test_full_queue_gives_429_with_retry_after(self):
        with Server(models=[mb(QWEN, QWEN_FILE, context_size=1024, parallel=1, max_queue=1)]) as s:
            s.chat([{"role": "user", "content": "warm up"}], max_tokens=1)
            n = 6
            results = [None] * n
            barrier = threading.Barrier(n)

            def client(i):
                barrier.wait(30 * SLOW)
                results[i] = s.request("POST", "/v1/chat/completions",
                                       {"messages": [{"role": "user", "content": f"Long answer {i}"}],
                                        "max_tokens": 300, "logit_bias": NO_EOS}, timeout=180)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(240 * SLOW)
            statuses = [r[0] for r in results]
            self.assertTrue(set(statuses) <= {200, 429}, statuses)
            rejected = [r for r in results if r[0] == 429]
            ok = [r for r in results if r[0] == 200]
            self.assertGreaterEqual(len(rejected), 1, statuses)
            self.assertGreaterEqual(len(ok), 1, statuses)
            for status, headers, body in rejected:
                self.assertIn("retry-after", headers)
                self.assertGreaterEqual(int(headers["retry-after"]), 1)
                err = json.loads(body)["error"]
                self.assertEqual(err["type"], "rate_limit_error")
                self.assertIn("queue", err["message"])
            for status, headers, body in ok:
                out = json.loads(body)
                self.assertEqual(out["choices"][0]["finish_reason"], "length")
                self.assertEqual(out["usage"]["completion_tokens"], 300)
            self.assertEqual(s.metric("hearth_requests_rejected_total", QWEN), len(rejected))
            wait_metric(s, "hearth_requests_completed_total", QWEN, 1 + len(ok))


# ---------------------------------------------------------------------------------------------
# 6. Context limits.
# ---------------------------------------------------------------------------------------------

class ContextLimitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(models=[mb(QWEN, QWEN_FILE, context_size=64, parallel=1),
                                    mb("qwen-big", QWEN_FILE, context_size=2048, parallel=1)]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_overlong_prompt_is_rejected_not_truncated(self):
        s = self.server
        messages = [{"role": "user", "content": "The cat sat on the mat. " * 50}]
        # The same prompt's real token count, from a model with room for it.
        n = s.chat(messages, model="qwen-big", max_tokens=1)["usage"]["prompt_tokens"]
        self.assertGreater(n, 300)
        status, out = s.post("/v1/chat/completions", {"model": QWEN, "messages": messages})
        self.assertEqual(status, 400, out)
        self.assertEqual(out["error"]["code"], "context_length_exceeded")
        self.assertEqual(out["error"]["type"], "invalid_request_error")
        msg = out["error"]["message"]
        self.assertIn(str(n), msg)
        self.assertIn("64", msg)
        # Streaming requests are refused the same way, before any event.
        status, _, body = s.request("POST", "/v1/chat/completions",
                                    {"model": QWEN, "messages": messages, "stream": True})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["error"]["code"], "context_length_exceeded")
        self.assertEqual(out["error"]["param"], "messages")
        # A plain completion names its own field.
        status, out = s.post("/v1/completions", {"model": QWEN, "prompt": messages[0]["content"]})
        self.assertEqual(status, 400, out)
        self.assertEqual(out["error"]["code"], "context_length_exceeded")
        self.assertEqual(out["error"]["param"], "prompt")

    def test_answer_stops_at_the_context_limit(self):
        s = self.server
        out = s.chat([{"role": "user", "content": "hi"}], model=QWEN, max_tokens=500, logit_bias=NO_EOS)
        self.assertEqual(out["choices"][0]["finish_reason"], "length")
        u = out["usage"]
        self.assertLess(u["completion_tokens"], 500)
        self.assertGreater(u["completion_tokens"], 64 - u["prompt_tokens"] - 2)  # it used the room
        self.assertEqual(u["total_tokens"], 64)  # exactly the context: nothing wasted, nothing over

    # Regression: prompt + completion used to reach context_size + 1.
    def test_prompt_plus_answer_fit_the_context(self):
        out = self.server.chat([{"role": "user", "content": "hi"}], model=QWEN, max_tokens=500, logit_bias=NO_EOS)
        u = out["usage"]
        self.assertLessEqual(u["prompt_tokens"] + u["completion_tokens"], 64, u)


# ---------------------------------------------------------------------------------------------
# 7. Graceful shutdown.
# ---------------------------------------------------------------------------------------------

class GracefulShutdownTest(unittest.TestCase):
    def start_stream(self, s, max_tokens):
        c = s.conn(timeout=120)
        body = {"messages": [{"role": "user", "content": "Tell me a long story."}], "max_tokens": max_tokens,
                "stream": True, "logit_bias": NO_EOS, "stream_options": {"include_usage": True}}
        c.request("POST", "/v1/chat/completions", body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        events = sse_events(r)
        first = [next(events), next(events), next(events)]
        return c, events, first

    def test_in_flight_stream_finishes_and_new_connections_are_refused(self):
        s = Server(models=[mb(QWEN, QWEN_FILE, context_size=2048, parallel=1)],
                   server={"shutdown_grace_seconds": 60})
        s.start()
        try:
            s.chat([{"role": "user", "content": "warm up"}], max_tokens=1)
            c, events, first = self.start_stream(s, 1000)
            s.proc.send_signal(signal.SIGTERM)
            t_signal = time.time()
            wait_for(lambda: "signal 15: shutting down" in s.read_log(), 10, message="the server to see SIGTERM")
            # New connections: refused once the listener closes, or answered 503 while it closes.
            try:
                status, _, body = s.request("GET", "/v1/models", timeout=10)
                self.assertEqual(status, 503, body)
            except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
                pass
            self.assertIsNone(s.proc.poll(), "the server exited with a request in flight")
            try:
                rest = list(events)
            except (OSError, http.client.HTTPException) as e:
                self.fail(f"the in-flight stream was cut ({e!r}):\n{s.read_log()[-4000:]}")
            c.close()
            self.assertEqual(rest[-1], "[DONE]")
            finishes = [e["choices"][0]["finish_reason"] for e in first + rest
                        if isinstance(e, dict) and e.get("choices") and e["choices"][0]["finish_reason"]]
            self.assertEqual(finishes, ["length"])
            usage = [e["usage"] for e in rest if isinstance(e, dict) and e.get("usage")]
            self.assertEqual(usage[-1]["completion_tokens"], 1000)
            rc = s.proc.wait(60 * SLOW)
            self.assertEqual(rc, 0, s.read_log()[-3000:])
            self.assertLess(time.time() - t_signal, 60 * SLOW)
            self.assertIn("shutting down", s.read_log())
        finally:
            s.__exit__(None, None, None)

    def test_grace_period_bounds_shutdown(self):
        s = Server(models=[mb(QWEN, QWEN_FILE, context_size=8192, parallel=1)],
                   server={"shutdown_grace_seconds": 1})
        s.start()
        try:
            s.chat([{"role": "user", "content": "warm up"}], max_tokens=1)
            c, events, first = self.start_stream(s, 5000)
            t0 = time.time()
            s.proc.send_signal(signal.SIGTERM)
            try:
                rc = s.proc.wait(15 * SLOW)
            except subprocess.TimeoutExpired:
                self.fail("the server did not exit after its 1 s grace period:\n" + s.read_log()[-3000:])
            elapsed = time.time() - t0
            self.assertEqual(rc, 0, s.read_log()[-3000:])
            self.assertGreaterEqual(elapsed, 0.9, "the grace period was not honoured")
            # The stream ended (cancelled or cut), far short of 5000 tokens.
            tokens = 0
            try:
                for e in events:
                    if isinstance(e, dict) and e.get("usage"):
                        tokens = e["usage"]["completion_tokens"]
            except (OSError, http.client.HTTPException):
                pass
            c.close()
            self.assertLess(tokens, 5000)
            self.assertIn("grace period over", s.read_log())
        finally:
            s.__exit__(None, None, None)


    # Regression: an open WebSocket counts as an in-flight request for its whole life, so an idle
    # one used to hold shutdown for the full grace period; now it is closed (1001) at once.
    def test_idle_websocket_does_not_hold_up_shutdown(self):
        """An open WebSocket with no turn running gets a close frame at once on SIGTERM, and the
        server exits without waiting out the grace period."""
        s = Server(models=[mb(QWEN, QWEN_FILE, context_size=512, parallel=1)], server={"shutdown_grace_seconds": 8})
        s.start()
        try:
            ws = WebSocket(s.port, "/v1/chat/ws")
            self.addCleanup(ws.sock.close)
            ws.send_json({"type": "chat", "content": "hi", "max_tokens": 2})
            self.assertEqual(ws_turn(ws)[0][-1]["type"], "done")
            ws.sock.settimeout(5 * SLOW)
            s.proc.send_signal(signal.SIGTERM)
            self.assertIsNone(ws.recv(), "expected a close frame")
            self.assertEqual(s.proc.wait(5 * SLOW), 0)
        finally:
            s.__exit__(None, None, None)


# ---------------------------------------------------------------------------------------------
# 8-10. Model lifecycle: idle unload, memory budget, broken files.
# ---------------------------------------------------------------------------------------------

class ModelLifecycleTest(unittest.TestCase):
    def test_idle_models_unload_and_reload(self):
        with Server(models=[mb(QWEN, QWEN_FILE, context_size=512, parallel=1)],
                    models_section={"idle_unload_seconds": 1}) as s:
            self.assertEqual(health_state(s, QWEN), "unloaded")
            s.chat([{"role": "user", "content": "hi"}], max_tokens=2)
            self.assertEqual(health_state(s, QWEN), "loaded")
            wait_for(lambda: health_state(s, QWEN) == "unloaded", 6, interval=0.2, message="idle unload")
            m = s.metrics()
            self.assertGreaterEqual(m['hearth_model_unloads_total{reason="idle"}'], 1)
            self.assertEqual(m['hearth_model_unloads_total{reason="budget"}'], 0)
            self.assertEqual(m["hearth_model_loaded_bytes"], 0)
            loads = m["hearth_model_loads_total"]
            out = s.chat([{"role": "user", "content": "hi again"}], max_tokens=2)
            self.assertIn(out["choices"][0]["finish_reason"], ("stop", "length"))
            self.assertEqual(s.metric("hearth_model_loads_total"), loads + 1)
            self.assertEqual(health_state(s, QWEN), "loaded")

    def test_memory_budget_unloads_least_recently_used(self):
        qwen_mb = os.path.getsize(os.path.join(MODELS, QWEN_FILE)) / 2**20
        llama_mb = os.path.getsize(os.path.join(MODELS, LLAMA3_FILE)) / 2**20
        # Room for either model (plus a small KV cache) but not both.
        budget = int(max(qwen_mb, llama_mb) + 16)
        self.assertLess(budget, qwen_mb + llama_mb)
        with Server(models=[mb(QWEN, QWEN_FILE, context_size=256, parallel=1),
                            mb(LLAMA3, LLAMA3_FILE, context_size=256, parallel=1)],
                    models_section={"memory_budget_mb": budget}) as s:
            s.chat([{"role": "user", "content": "hi"}], model=QWEN, max_tokens=2)
            self.assertEqual(health_state(s, QWEN), "loaded")
            self.assertEqual(health_state(s, LLAMA3), "unloaded")
            wait_model_idle(s, QWEN)
            s.chat([{"role": "user", "content": "hi"}], model=LLAMA3, max_tokens=2)
            self.assertEqual(health_state(s, QWEN), "unloaded")
            self.assertEqual(health_state(s, LLAMA3), "loaded")
            m = s.metrics()
            self.assertEqual(m['hearth_model_unloads_total{reason="budget"}'], 1)
            self.assertLessEqual(m["hearth_model_loaded_bytes"], budget * 2**20)
            wait_model_idle(s, LLAMA3)
            s.chat([{"role": "user", "content": "hi"}], model=QWEN, max_tokens=2)
            self.assertEqual(health_state(s, QWEN), "loaded")
            self.assertEqual(health_state(s, LLAMA3), "unloaded")
            m = s.metrics()
            self.assertEqual(m['hearth_model_unloads_total{reason="budget"}'], 2)
            self.assertEqual(m["hearth_model_loads_total"], 3)

    def test_broken_and_missing_model_files(self):
        tmp = tempfile.TemporaryDirectory(prefix="hearth-bad-")
        self.addCleanup(tmp.cleanup)
        bad = os.path.join(tmp.name, "garbage.gguf")
        with open(bad, "wb") as f:
            f.write(os.urandom(256 * 1024))
        missing = os.path.join(tmp.name, "not-there.gguf")
        with Server(models=[mb(QWEN, QWEN_FILE, context_size=512, parallel=1),
                            mb("garbage", bad, context_size=512, parallel=1),
                            mb("missing", missing, context_size=512, parallel=1)]) as s:
            for _ in range(2):  # a second try fails the same way (and does not crash the server)
                status, out = s.post("/v1/chat/completions",
                                     {"model": "garbage", "messages": [{"role": "user", "content": "hi"}]})
                self.assertEqual(status, 503, out)
                msg = out["error"]["message"]
                self.assertIn("garbage", msg)
                self.assertIn(bad, msg)
                self.assertIn("GGUF", msg)
                self.assertTrue(s.alive())
            self.assertEqual(health_state(s, "garbage"), "failed")

            status, out = s.post("/v1/chat/completions",
                                 {"model": "missing", "messages": [{"role": "user", "content": "hi"}]})
            self.assertIn(status, (503, 404), out)
            self.assertIn(missing, out["error"]["message"])

            out = s.chat([{"role": "user", "content": "still fine?"}], model=QWEN, max_tokens=2)
            self.assertIn(out["choices"][0]["finish_reason"], ("stop", "length"))
            self.assertEqual(s.metric("hearth_model_load_failures_total"), 3)
            self.assertTrue(s.alive())


    def test_prefill_spread_setting_reaches_each_models_scheduler(self):
        # Catalog key, its default, and `serve --prefill-spread` for --model files; the scheduler
        # logs the value it was given when the model loads.
        r1 = os.path.join(MODELS, "hearth-tiny-deepseek-r1.gguf")
        with Server(models=[mb(QWEN, QWEN_FILE, context_size=512, parallel=2, prefill_spread=0),
                            mb(LLAMA3, LLAMA3_FILE, context_size=512, parallel=2)],
                    extra_args=["--model", r1, "--prefill-spread", "0.2"]) as s:
            for model in (QWEN, LLAMA3, "hearth-tiny-deepseek-r1"):
                s.chat([{"role": "user", "content": "hi"}], model=model, max_tokens=2)
            log = s.read_log()
            for file, spread in ((QWEN_FILE, "0"), (LLAMA3_FILE, "0.05"), ("hearth-tiny-deepseek-r1.gguf", "0.2")):
                line = next((ln for ln in log.splitlines() if f"{file}: " in ln and "prefill spread" in ln), None)
                self.assertIsNotNone(line, f"no scheduler settings logged for {file}:\n{log[-3000:]}")
                self.assertTrue(line.endswith(f"prefill spread {spread}"), line)
        for bad in (1.5, -0.1):
            s = Server(models=[mb(QWEN, QWEN_FILE, prefill_spread=bad)])
            self.addCleanup(s.tmp.cleanup)
            self.addCleanup(s.stop)
            with self.assertRaises(RuntimeError) as ctx:
                s.start()
            self.assertIn("prefill_spread must be between 0 and 1", str(ctx.exception))
        out = subprocess.run([BIN, "serve", "--model", r1, "--prefill-spread", "2"], capture_output=True, text=True,
                             timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--prefill-spread", out.stdout + out.stderr)


# ---------------------------------------------------------------------------------------------
# 11. `hearth models pull|verify|list|rm` against a local HTTP server.
# ---------------------------------------------------------------------------------------------

class _FileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _FileHandler)
        self.files = {}       # path -> bytes
        self.redirects = {}   # path -> location
        self.cut_after = {}   # path -> bytes to send before dropping the connection (once)
        self.log = []         # (path, Range header or None)
        self.lock = threading.Lock()


class _FileHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        rng = self.headers.get("Range")
        with srv.lock:
            srv.log.append((self.path, rng))
            cut = srv.cut_after.pop(self.path, None) if not rng else None
        if self.path in srv.redirects:
            self.send_response(302)
            self.send_header("Location", srv.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = srv.files.get(self.path)
        if data is None:
            body = b"not found"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        start = 0
        if rng:
            assert rng.startswith("bytes=") and rng.endswith("-"), rng
            start = int(rng[len("bytes="):-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if cut is not None:
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data[start:])


class ModelsCliTest(unittest.TestCase):
    SIZE = 3 * 1024 * 1024

    def setUp(self):
        self.http = _FileServer()
        t = threading.Thread(target=self.http.serve_forever, daemon=True)
        t.start()
        self.addCleanup(self.http.server_close)
        self.addCleanup(self.http.shutdown)
        self.base = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.data = os.urandom(self.SIZE)
        self.sha = hashlib.sha256(self.data).hexdigest()
        self.http.files["/files/tiny.gguf"] = self.data
        self.tmp = tempfile.TemporaryDirectory(prefix="hearth-pull-")
        self.addCleanup(self.tmp.cleanup)
        self.models_dir = os.path.join(self.tmp.name, "models")
        self.dest = os.path.join(self.models_dir, "tiny.gguf")

    def write_config(self, url_path="/files/tiny.gguf", sha=None):
        cfg = os.path.join(self.tmp.name, "hearth.toml")
        with open(cfg, "w") as f:
            f.write(f'[models]\ndir = "{self.models_dir}"\n\n'
                    f'[[model]]\nid = "tiny"\nfile = "tiny.gguf"\nurl = "{self.base}{url_path}"\n'
                    f'sha256 = "{self.sha if sha is None else sha}"\n')
        return cfg

    def hearth(self, *args, allow_loopback=True):
        env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HEARTH_CONFIG", "HEARTH_OUTBOUND_ALLOW")}
        if allow_loopback:  # the file server is on loopback
            env["HEARTH_OUTBOUND_ALLOW"] = "127.0.0.1"
        return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120 * SLOW, env=env,
                              cwd=self.tmp.name)

    def read_dest(self):
        with open(self.dest, "rb") as f:
            return f.read()

    def assert_pulled(self, r):
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(self.dest))
        self.assertTrue(self.read_dest() == self.data, "the downloaded file differs")
        self.assertFalse(os.path.exists(self.dest + ".part"))
        self.assertIn(self.sha, r.stdout)

    def test_pull_catalog_model(self):
        cfg = self.write_config()
        r = self.hearth("models", "--config", cfg, "pull", "tiny")
        self.assert_pulled(r)
        self.assertEqual(self.http.log, [("/files/tiny.gguf", None)])
        # Pulling again finds the file and only checks it.
        r = self.hearth("models", "--config", cfg, "pull", "tiny")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.sha, r.stdout)
        self.assertEqual(len(self.http.log), 1, "an existing good file was downloaded again")

    def test_pull_from_loopback_is_refused_unless_allowed(self):
        r = self.hearth("models", "--config", self.write_config(), "pull", "tiny", allow_loopback=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("127.0.0.1 (loopback)", r.stderr)
        self.assertIn("[outbound] allow", r.stderr)
        self.assertFalse(os.path.exists(self.dest))
        self.assertEqual(self.http.log, [])

    def test_pull_resumes_after_a_dropped_connection(self):
        cut = self.SIZE // 2
        self.http.cut_after["/files/tiny.gguf"] = cut
        r = self.hearth("models", "--config", self.write_config(), "pull", "tiny")
        self.assert_pulled(r)
        self.assertEqual(self.http.log, [("/files/tiny.gguf", None), ("/files/tiny.gguf", f"bytes={cut}-")])

    def test_pull_resumes_a_part_file_from_an_earlier_run(self):
        os.makedirs(self.models_dir)
        have = 1_000_000
        with open(self.dest + ".part", "wb") as f:
            f.write(self.data[:have])
        r = self.hearth("models", "--config", self.write_config(), "pull", "tiny")
        self.assert_pulled(r)
        self.assertEqual(self.http.log, [("/files/tiny.gguf", f"bytes={have}-")])
        self.assertIn(f"resumed from byte {have}", r.stderr)

    def test_wrong_sha256_leaves_nothing_behind(self):
        cfg = self.write_config()
        wrong = "0" * 64
        r = self.hearth("models", "--config", cfg, "pull", "tiny", "--sha256", wrong)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("SHA-256 mismatch", r.stderr)
        self.assertIn(self.sha, r.stderr)
        self.assertFalse(os.path.exists(self.dest))
        self.assertFalse(os.path.exists(self.dest + ".part"))
        # The same through the catalog's sha256.
        r = self.hearth("models", "--config", self.write_config(sha="ab" * 32), "pull", "tiny")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("SHA-256 mismatch", r.stderr)
        self.assertFalse(os.path.exists(self.dest))
        self.assertFalse(os.path.exists(self.dest + ".part"))

    def test_missing_url_fails_clearly(self):
        cfg = self.write_config(url_path="/files/nope.gguf")
        r = self.hearth("models", "--config", cfg, "pull", "tiny")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("404", r.stderr)
        self.assertIn("/files/nope.gguf", r.stderr)
        self.assertFalse(os.path.exists(self.dest))
        self.assertEqual(len(self.http.log), 1, "a 404 should not be retried")

    # Regression: an HTTP error (404) used to leave an empty dest.part behind.
    def test_failed_download_leaves_no_part_file(self):
        r = self.hearth("models", "--config", self.write_config(url_path="/files/nope.gguf"), "pull", "tiny")
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(self.dest + ".part"))

    def test_pull_plain_url_saves_under_the_models_dir(self):
        self.http.files["/files/other-model.Q4.gguf"] = self.data
        cfg = self.write_config()
        r = self.hearth("models", "--config", cfg, "pull", f"{self.base}/files/other-model.Q4.gguf")
        self.assertEqual(r.returncode, 0, r.stderr)
        path = os.path.join(self.models_dir, "other-model.Q4.gguf")
        with open(path, "rb") as f:
            self.assertTrue(f.read() == self.data)
        self.assertIn(self.sha, r.stdout)
        self.assertFalse(os.path.exists(self.dest))

    def test_resolve_url_follows_redirects(self):
        self.http.redirects["/org/repo/resolve/main/tiny.gguf"] = "/files/tiny.gguf"
        cfg = self.write_config(url_path="/org/repo/resolve/main/tiny.gguf")
        r = self.hearth("models", "--config", cfg, "pull", "tiny")
        self.assert_pulled(r)
        self.assertEqual([p for p, _ in self.http.log], ["/org/repo/resolve/main/tiny.gguf", "/files/tiny.gguf"])
        # A plain resolve URL is named after its last path element.
        os.remove(self.dest)
        r = self.hearth("models", "--config", cfg, "pull", f"{self.base}/org/repo/resolve/main/tiny.gguf")
        self.assert_pulled(r)

    def test_verify_list_rm(self):
        cfg = self.write_config()
        self.assert_pulled(self.hearth("models", "--config", cfg, "pull", "tiny"))

        r = self.hearth("models", "--config", cfg, "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        line = next(l for l in r.stdout.splitlines() if l.startswith("tiny "))
        self.assertIn(self.sha[:8], line)
        self.assertIn(self.dest, line)

        r = self.hearth("models", "--config", cfg, "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("OK", r.stdout)

        with open(self.dest, "r+b") as f:
            f.seek(self.SIZE // 3)
            b = f.read(1)
            f.seek(self.SIZE // 3)
            f.write(bytes([b[0] ^ 0x01]))
        r = self.hearth("models", "--config", cfg, "verify")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("MISMATCH", r.stdout)
        r = self.hearth("models", "--config", cfg, "verify", "tiny")
        self.assertEqual(r.returncode, 1)
        r = self.hearth("models", "--config", cfg, "verify", "no-such-model")
        self.assertEqual(r.returncode, 1)

        r = self.hearth("models", "--config", cfg, "rm", "tiny")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.dest))
        r = self.hearth("models", "--config", cfg, "list")
        self.assertIn("missing", next(l for l in r.stdout.splitlines() if l.startswith("tiny ")))
        r = self.hearth("models", "--config", cfg, "verify")
        self.assertEqual(r.returncode, 1)
        self.assertIn("MISSING", r.stdout)

    # Regression: --config after `pull`/`verify`/... used to be rejected by CLI11.
    def test_config_option_after_the_subcommand(self):
        r = self.hearth("models", "pull", "tiny", "--config", self.write_config())
        self.assert_pulled(r)


if __name__ == "__main__":
    unittest.main()
