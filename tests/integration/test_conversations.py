"""The web app's server side (issue #25) on the real binary: conversations per caller (OpenAI's
Conversations API shapes, list and search, export and import, data-subject export and erasure),
sign-in by an HttpOnly cookie with a CSRF token, and the app itself served at / with its
security headers."""
import gzip
import json
import os
import tempfile
import time
import unittest
from urllib.parse import quote

from tests.integration.harness import Server, WebSocket
from tests.integration.test_security import KeyedServer, small_models

PASSWORD = "correct horse battery"


def msg(role, text, **extra):
    return {"type": "message", "role": role, "content": text, **extra}


class ConversationsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KeyedServer(models=small_models()).start()
        s = cls.server
        cls.alice = s.make_key("alice", "user")[0]
        cls.bob = s.make_key("bob", "viewer")[0]

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def call(self, key, method, path, body=None):
        return self.server.as_key(key, method, path, body)

    def create(self, key, title, items=()):
        status, _, conv = self.call(key, "POST", "/v1/conversations", {"metadata": {"title": title}, "items": list(items)})
        self.assertEqual(status, 200, conv)
        return conv

    def test_shapes_and_items(self):
        conv = self.create(self.alice, "Boilers", [msg("user", "What is the pressure?")])
        self.assertTrue(conv["id"].startswith("conv_"))
        self.assertEqual((conv["object"], conv["metadata"], conv["item_count"]), ("conversation", {"title": "Boilers"}, 1))
        status, _, added = self.call(self.alice, "POST", f"/v1/conversations/{conv['id']}/items", {"items": [
            msg("assistant", [{"type": "output_text", "text": "Three bar [1]."}], status="incomplete",
                hearth={"model": "hearth-tiny-qwen2", "usage": {"completion_tokens": 4}, "reasoning_ms": 12})]})
        self.assertEqual(status, 200, added)
        item = added["data"][0]
        self.assertEqual((item["type"], item["role"], item["status"]), ("message", "assistant", "incomplete"))
        self.assertEqual(item["content"], [{"type": "output_text", "text": "Three bar [1]."}])
        self.assertEqual(item["hearth"]["reasoning_ms"], 12)
        status, _, page = self.call(self.alice, "GET", f"/v1/conversations/{conv['id']}/items?order=asc&limit=1")
        self.assertEqual(status, 200, page)
        self.assertEqual((page["object"], len(page["data"]), page["has_more"]), ("list", 1, True))
        self.assertEqual(page["data"][0]["content"], [{"type": "input_text", "text": "What is the pressure?"}])
        status, _, page2 = self.call(self.alice, "GET",
                                     f"/v1/conversations/{conv['id']}/items?order=asc&after={page['last_id']}")
        self.assertEqual([i["id"] for i in page2["data"]], [item["id"]])
        # Rename, get, delete one item, and the conversation
        status, _, renamed = self.call(self.alice, "POST", f"/v1/conversations/{conv['id']}", {"metadata": {"title": "锅炉"}})
        self.assertEqual(renamed["metadata"]["title"], "锅炉")
        self.assertEqual(self.call(self.alice, "GET", f"/v1/conversations/{conv['id']}/items/{item['id']}")[2]["id"], item["id"])
        status, _, after = self.call(self.alice, "DELETE", f"/v1/conversations/{conv['id']}/items/{page['first_id']}?and_after=true")
        self.assertEqual((status, after["item_count"]), (200, 0))
        status, _, gone = self.call(self.alice, "DELETE", f"/v1/conversations/{conv['id']}")
        self.assertEqual(gone, {"id": conv["id"], "object": "conversation.deleted", "deleted": True})
        self.assertEqual(self.call(self.alice, "GET", f"/v1/conversations/{conv['id']}")[0], 404)

    def test_owners_are_isolated(self):
        conv = self.create(self.alice, "private plans", [msg("user", "secret recipe")])
        for method, path, body in (("GET", "", None), ("POST", "", {"metadata": {}}), ("DELETE", "", None),
                                   ("GET", "/items", None), ("POST", "/items", {"items": [msg("user", "x")]}),
                                   ("GET", "/export", None)):
            with self.subTest(method=method, path=path):
                status, _, out = self.call(self.bob, method, f"/v1/conversations/{conv['id']}{path}", body)
                self.assertEqual(status, 404, out)
                self.assertIn("no conversation", out["error"]["message"])
        status, _, listed = self.call(self.bob, "GET", "/v1/conversations?q=secret")
        self.assertEqual((status, listed["data"]), (200, []))
        self.assertEqual(self.call(self.alice, "GET", f"/v1/conversations/{conv['id']}")[0], 200)

    def test_search_english_and_chinese(self):
        a = self.create(self.alice, "Holiday", [msg("user", "Boiler PRESSURE above 3 bar"), msg("assistant", "锅炉压力过高时打开泄压阀")])
        b = self.create(self.alice, "100% done_ok", [msg("user", "nothing")])
        for q, want in (("pressure", a["id"]), ("锅炉压力", a["id"]), ("HOLIDAY", a["id"]), ("100% done_", b["id"])):
            with self.subTest(q=q):
                status, _, out = self.call(self.alice, "GET", f"/v1/conversations?q={quote(q)}")
                self.assertEqual(status, 200, out)
                self.assertEqual([c["id"] for c in out["data"]], [want])
        status, _, out = self.call(self.alice, "GET", "/v1/conversations?q=100%25%20d")  # % is literal
        self.assertEqual([c["id"] for c in out["data"]], [b["id"]])

    def test_export_import_roundtrip(self):
        conv = self.create(self.alice, "export me", [msg("user", "一"), msg("assistant", "two", hearth={"model": "m"})])
        status, _, exported = self.call(self.alice, "GET", f"/v1/conversations/{conv['id']}/export")
        self.assertEqual((status, exported["object"], len(exported["items"])), (200, "conversation.export", 2))
        status, _, imported = self.call(self.bob, "POST", "/v1/conversations/import", exported)
        self.assertEqual(status, 200, imported)
        self.assertNotEqual(imported["id"], conv["id"])
        self.assertEqual((imported["metadata"]["title"], imported["item_count"]), ("export me", 2))
        _, _, again = self.call(self.bob, "GET", f"/v1/conversations/{imported['id']}/export")
        strip = lambda items: [{k: v for k, v in i.items() if k not in ("id", "created_at")} for i in items]
        self.assertEqual(strip(again["items"]), strip(exported["items"]))

    def test_bad_input_names_the_problem(self):
        conv = self.create(self.alice, "bad input")
        cases = [
            ("POST", "/v1/conversations", "{not json", "JSON"),
            ("POST", "/v1/conversations", {"metadata": {"title": 5}}, "metadata.title"),
            ("POST", "/v1/conversations", {"metadata": ["x"]}, "metadata"),
            ("POST", "/v1/conversations", {"metadata": {f"k{i}": "v" for i in range(40)}}, "more than 32"),
            ("POST", "/v1/conversations", {"items": [msg("robot", "x")]}, "role"),
            ("POST", "/v1/conversations", {"items": [{"role": "user", "content": [{"type": "image", "x": 1}]}]}, "type"),
            ("POST", "/v1/conversations", {"items": [{"role": "user", "content": "x", "bogus": 1}]}, "bogus"),
            ("POST", "/v1/conversations", {"items": [{"role": "user", "content": "x", "hearth": {"a": "x" * 300000}}]}, "hearth"),
            ("POST", "/v1/conversations", {"items": "x"}, "items"),
            ("POST", f"/v1/conversations/{conv['id']}/items", {}, "items"),
            ("POST", f"/v1/conversations/{conv['id']}", {"metadata": {}, "x": 1}, "metadata"),
            ("GET", "/v1/conversations?limit=0", None, "limit"),
            ("GET", "/v1/conversations?limit=abc", None, "limit"),
            ("GET", "/v1/conversations?after=conv_nope", None, "conv_nope"),
            ("GET", f"/v1/conversations/{conv['id']}/items?order=sideways", None, "order"),
            ("GET", "/v1/conversations?q=" + "x" * 2000, None, "search"),
            ("POST", "/v1/conversations/import", {"items": []}, "export"),
        ]
        for method, path, body, needle in cases:
            with self.subTest(path=path, needle=needle):
                status, _, out = self.call(self.alice, method, path, body)
                self.assertEqual(status, 400, out)
                self.assertIn(needle, out["error"]["message"])
        self.assertTrue(self.server.alive())

    def test_thousand_messages(self):
        conv = self.create(self.alice, "long")
        for start in range(0, 1000, 250):
            items = [msg("user" if i % 2 == 0 else "assistant", f"message {i} " + "字" * 190) for i in range(start, start + 250)]
            self.assertEqual(self.call(self.alice, "POST", f"/v1/conversations/{conv['id']}/items", {"items": items})[0], 200)
        seen, after = [], ""
        while True:
            status, _, page = self.call(self.alice, "GET", f"/v1/conversations/{conv['id']}/items?order=asc&limit=100&after={after}")
            self.assertEqual(status, 200, page)
            seen += [i["content"][0]["text"].split(" ")[1] for i in page["data"]]
            if not page["has_more"]:
                break
            after = page["last_id"]
        self.assertEqual(seen, [str(i) for i in range(1000)])

    def test_privacy_export_and_erase_cover_conversations(self):
        s = self.server
        status, _, _ = s.as_key(s.admin_key, "POST", "/v1/admin/users", {"name": "薇拉", "role": "user", "password": PASSWORD})
        self.assertEqual(status, 201)
        _, _, session = s.as_key(None, "POST", "/v1/auth/login", {"username": "薇拉", "password": PASSWORD})
        self.create(session["token"], "my diary", [msg("user", "dear diary")])
        status, _, out = s.as_key(s.admin_key, "GET", "/v1/admin/privacy/薇拉".replace("薇拉", "%E8%96%87%E6%8B%89"))
        self.assertEqual(status, 200, out)
        convs = out["stores"]["conversations"]
        self.assertEqual([c["metadata"]["title"] for c in convs], ["my diary"])
        self.assertEqual(convs[0]["items"][0]["content"][0]["text"], "dear diary")
        status, _, out = s.as_key(s.admin_key, "DELETE", "/v1/admin/privacy/%E8%96%87%E6%8B%89")
        self.assertEqual(status, 200, out)
        self.assertEqual(out["stores"]["conversations"], {"removed": 1})
        _, _, out = s.as_key(s.admin_key, "GET", "/v1/admin/privacy/%E8%96%87%E6%8B%89")
        self.assertNotIn("conversations", out["stores"])


class CookieSessionTest(unittest.TestCase):
    """The web app signs in with an HttpOnly cookie; changes need the CSRF token."""

    @classmethod
    def setUpClass(cls):
        cls.server = KeyedServer(models=small_models()).start()
        s = cls.server
        status, _, _ = s.as_key(s.admin_key, "POST", "/v1/admin/users", {"name": "carol", "role": "user", "password": PASSWORD})
        assert status == 201

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def login(self):
        status, hdrs, out = self.server.as_key(None, "POST", "/v1/auth/login",
                                               {"username": "carol", "password": PASSWORD, "session": "cookie"})
        self.assertEqual(status, 200, out)
        cookie = hdrs["set-cookie"]
        self.assertNotIn("token", out)  # page scripts never see the token
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="):
            self.assertIn(attr, cookie)
        return cookie.split(";")[0], out["csrf_token"]

    def test_cookie_session_and_csrf(self):
        s = self.server
        cookie, csrf = self.login()
        status, _, me = s.as_key(None, "GET", "/v1/auth/me", headers={"Cookie": "a=b; " + cookie})
        self.assertEqual((status, me["id"], me["csrf_token"], me["auth_mode"]), (200, "user:carol", csrf, "keys"))
        body = {"metadata": {"title": "x"}}
        status, _, out = s.as_key(None, "POST", "/v1/conversations", body, headers={"Cookie": cookie})
        self.assertEqual(status, 403, out)
        self.assertIn("X-CSRF-Token", out["error"]["message"])
        status, _, out = s.as_key(None, "POST", "/v1/conversations", body, headers={"Cookie": cookie, "X-CSRF-Token": "0" * 32})
        self.assertEqual(status, 403, out)
        status, _, out = s.as_key(None, "POST", "/v1/conversations", body, headers={"Cookie": cookie, "X-CSRF-Token": csrf})
        self.assertEqual(status, 200, out)
        # A streamed chat through the cookie
        status, _, out = s.as_key(None, "POST", "/v1/chat/completions",
                                  {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
                                  headers={"Cookie": cookie, "X-CSRF-Token": csrf})
        self.assertEqual(status, 200, out)
        # WebSocket: only from the same origin
        host = f"127.0.0.1:{s.port}"
        with self.assertRaises(Exception):
            WebSocket(s.port, "/v1/chat/ws", headers={"Cookie": cookie, "Origin": "https://evil.example"})
        ws = WebSocket(s.port, "/v1/chat/ws", headers={"Cookie": cookie, "Origin": f"http://{host}"})
        ws.close()
        # Sign-out ends the session and deletes the cookie
        status, hdrs, out = s.as_key(None, "POST", "/v1/auth/logout", headers={"Cookie": cookie, "X-CSRF-Token": csrf})
        self.assertEqual(status, 200, out)
        self.assertIn("Max-Age=0", hdrs["set-cookie"])
        status, _, out = s.as_key(None, "GET", "/v1/auth/me", headers={"Cookie": cookie})
        self.assertEqual((status, out["error"]["code"]), (401, "invalid_session"))

    def test_a_key_in_a_cookie_is_not_a_credential(self):
        s = self.server
        status, _, out = s.as_key(None, "GET", "/v1/auth/me", headers={"Cookie": f"hearth_session={s.admin_key}"})
        self.assertEqual(status, 401, out)

    def test_providers(self):
        status, _, out = self.server.as_key(None, "GET", "/v1/auth/providers")
        self.assertEqual((status, out["password"], out["auth_mode"], out["oidc"]), (200, True, "keys", None))


class WebAppServingTest(unittest.TestCase):
    """The app at / (embedded, or --ui-dir), its headers, and its routes."""

    @classmethod
    def setUpClass(cls):
        cls.dev = tempfile.TemporaryDirectory(prefix="hearth-ui-")
        os.makedirs(os.path.join(cls.dev.name, "assets"))
        with open(os.path.join(cls.dev.name, "index.html"), "w") as f:
            f.write("<!doctype html><title>dev build</title>")
        with open(os.path.join(cls.dev.name, "assets", "app.js"), "w") as f:
            f.write("console.log('dev')")
        cls.server = Server(models=small_models()).start()
        cls.devserver = Server(models=small_models(), extra_args=["--ui-dir", cls.dev.name]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.devserver.__exit__(None, None, None)
        cls.dev.cleanup()

    def test_embedded_app(self):
        status, hdrs, body = self.server.request("GET", "/", headers={"Accept-Encoding": "gzip, br"})
        self.assertEqual(status, 200, body[:200])
        self.assertEqual(hdrs["content-encoding"], "gzip")
        html = gzip.decompress(body).decode()
        self.assertIn("<!doctype html>", html.lower())
        csp = hdrs["content-security-policy"]
        for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'",
                          "connect-src 'self'"):
            self.assertIn(directive, csp)
        self.assertEqual(hdrs["x-content-type-options"], "nosniff")
        self.assertEqual(hdrs["cache-control"], "no-cache")
        # Without gzip the page comes uncompressed; with the ETag, 304.
        status, hdrs2, plain = self.server.request("GET", "/")
        self.assertEqual((status, plain.decode()), (200, html))
        self.assertNotIn("content-encoding", hdrs2)
        status, _, empty = self.server.request("GET", "/", headers={"If-None-Match": hdrs["etag"]})
        self.assertEqual((status, empty), (304, b""))
        # Every script the page names is served, hashed and cached for a year.
        scripts = [p.split('"')[0] for p in html.split('src="')[1:]]
        self.assertTrue(scripts and all(p.startswith("/assets/") for p in scripts), scripts)
        for path in scripts:
            status, hdrs, _ = self.server.request("GET", path)
            self.assertEqual(status, 200, path)
            self.assertIn("javascript", hdrs["content-type"])
            self.assertIn("immutable", hdrs["cache-control"])

    def test_only_the_apps_files_and_api_404s(self):
        status, _, body = self.server.request("GET", "/index.html", headers={"Accept-Encoding": "identity"})
        self.assertEqual(status, 200)
        self.assertIn(b"<!doctype html>", body.lower())
        for path in ("/assets/nope.js", "/v1/nope", "/../etc/passwd", "/assets/../../etc/passwd", "/.env", "/admin/keys",
                     "/health/"):
            with self.subTest(path=path):
                status, hdrs, body = self.server.request("GET", path)
                self.assertEqual(status, 404, body[:200])
                self.assertTrue(hdrs["content-type"].startswith("application/json"))
        status, _, body = self.server.request("POST", "/")
        self.assertEqual(status, 404)

    def test_ui_dir_serves_a_development_build(self):
        status, _, body = self.devserver.request("GET", "/")
        self.assertEqual((status, body), (200, b"<!doctype html><title>dev build</title>"))
        status, hdrs, body = self.devserver.request("GET", "/assets/app.js")
        self.assertEqual((status, body), (200, b"console.log('dev')"))
        self.assertIn("javascript", hdrs["content-type"])
        self.assertEqual(self.devserver.request("GET", "/assets/../index.html")[0], 404)


class AdminModelsAndUsageTest(unittest.TestCase):
    """The admin area's server side: load and unload a model, usage over time from the audit log."""

    @classmethod
    def setUpClass(cls):
        cls.server = KeyedServer(models=small_models()).start()
        cls.user = cls.server.make_key("usage-user", "user")[0]

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def state(self, model):
        _, _, out = self.server.as_key(self.server.admin_key, "GET", "/v1/models")
        return next(m["state"] for m in out["data"] if m["id"] == model)

    def test_load_and_unload(self):
        s, model = self.server, "hearth-tiny-llama3"
        status, _, out = s.as_key(s.admin_key, "POST", f"/v1/admin/models/{model}/load")
        self.assertEqual((status, out["state"]), (200, "loaded"), out)
        self.assertEqual(self.state(model), "loaded")
        status, _, out = s.as_key(self.user, "POST", f"/v1/admin/models/{model}/unload")
        self.assertEqual(status, 403, out)
        self.assertIn("models.manage", out["error"]["message"])
        status, _, out = s.as_key(s.admin_key, "POST", f"/v1/admin/models/{model}/unload")
        self.assertEqual((status, out["state"]), (200, "unloaded"), out)
        self.assertEqual(self.state(model), "unloaded")
        status, _, out = s.as_key(s.admin_key, "POST", "/v1/admin/models/no-such-model/load")
        self.assertEqual(status, 404, out)

    def test_usage_per_principal_and_model(self):
        s = self.server
        for _ in range(3):
            status, _, out = s.as_key(self.user, "POST", "/v1/chat/completions",
                                      {"model": "hearth-tiny-qwen2", "messages": [{"role": "user", "content": "hi"}],
                                       "max_tokens": 3})
            self.assertEqual(status, 200, out)
        # The audit record of a request is written as its response ends: the last one may trail it.
        deadline = time.time() + 10
        while True:
            status, _, out = s.as_key(s.admin_key, "GET", "/v1/admin/usage?bucket=minute&group=principal")
            self.assertEqual((status, out["bucket"], out["group"]), (200, "minute", "principal"), out)
            rows = [r for r in out["data"] if r["group"].startswith("hk-")]
            if sum(r["requests"] for r in rows) >= 3 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(sum(r["requests"] for r in rows), 3, out)
        self.assertEqual(sum(r["completion_tokens"] for r in rows), 9, out)
        status, _, out = s.as_key(s.admin_key, "GET", "/v1/admin/usage?bucket=day&group=model")
        self.assertIn("hearth-tiny-qwen2", [r["group"] for r in out["data"]])
        for query, needle in (("bucket=week", "bucket"), ("group=colour", "group"), ("from=5&to=4", "after"),
                              ("from=0&bucket=minute", "5000"), ("from=abc", "from")):
            with self.subTest(query=query):
                status, _, out = s.as_key(s.admin_key, "GET", f"/v1/admin/usage?{query}")
                self.assertEqual(status, 400, out)
                self.assertIn(needle, out["error"]["message"])
        status, _, out = s.as_key(self.user, "GET", "/v1/admin/usage")
        self.assertEqual(status, 403)


class ModelPullTest(unittest.TestCase):
    """The admin area pulls a catalog model from its url (a local file server plays the model hub)."""

    @classmethod
    def setUpClass(cls):
        import functools
        import hashlib
        import http.server
        import shutil
        import threading
        from tests.integration.harness import MODELS, model_block
        cls.hub_dir = tempfile.TemporaryDirectory(prefix="hearth-hub-")
        src = os.path.join(MODELS, "hearth-tiny-llama3.gguf")
        shutil.copy(src, os.path.join(cls.hub_dir.name, "tiny.gguf"))
        with open(src, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=cls.hub_dir.name)
        handler.log_message = lambda *a: None
        cls.hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=cls.hub.serve_forever, daemon=True).start()
        cls.models_dir = tempfile.TemporaryDirectory(prefix="hearth-pulled-")
        url = f"http://127.0.0.1:{cls.hub.server_address[1]}"
        models = small_models() + [
            model_block("pulled", os.path.join(cls.models_dir.name, "pulled.gguf"), url=f"{url}/tiny.gguf",
                        sha256=digest, context_size=256),
            model_block("bad-hash", os.path.join(cls.models_dir.name, "bad.gguf"), url=f"{url}/tiny.gguf",
                        sha256="0" * 64, context_size=256)]
        cls.server = KeyedServer(models=models, extra_toml='[outbound]\nallow = ["127.0.0.1"]\n').start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.hub.shutdown()
        cls.hub_dir.cleanup()
        cls.models_dir.cleanup()

    def pull(self, model):
        s = self.server
        status, _, out = s.as_key(s.admin_key, "POST", f"/v1/admin/models/{model}/pull")
        self.assertEqual((status, out["state"]), (202, "downloading"), out)
        deadline = time.time() + 60
        while out["state"] == "downloading" and time.time() < deadline:
            time.sleep(0.05)
            status, _, out = s.as_key(s.admin_key, "GET", f"/v1/admin/models/{model}/pull")
            self.assertEqual(status, 200, out)
        return out

    def test_pull_then_load(self):
        s = self.server
        _, _, models = s.as_key(s.admin_key, "GET", "/v1/models")
        entry = next(m for m in models["data"] if m["id"] == "pulled")
        self.assertEqual((entry["downloadable"], entry["file_present"]), (True, False))
        out = self.pull("pulled")
        self.assertEqual(out["state"], "done", out)
        self.assertEqual(out["done"], out["total"])
        self.assertGreater(out["total"], 0)
        status, _, out = s.as_key(s.admin_key, "POST", "/v1/admin/models/pulled/load")
        self.assertEqual((status, out["state"]), (200, "loaded"), out)

    def test_a_wrong_hash_fails_and_says_so(self):
        out = self.pull("bad-hash")
        self.assertEqual(out["state"], "failed", out)
        self.assertIn("SHA-256", out["error"].upper().replace("SHA256", "SHA-256"))

    def test_refusals(self):
        s = self.server
        status, _, out = s.as_key(s.admin_key, "POST", "/v1/admin/models/hearth-tiny-qwen2/pull")
        self.assertEqual(status, 400, out)
        self.assertIn("no url", out["error"]["message"])
        self.assertEqual(s.as_key(s.admin_key, "GET", "/v1/admin/models/hearth-tiny-qwen2/pull")[0], 404)
        user = s.make_key("puller", "user")[0]
        self.assertEqual(s.as_key(user, "POST", "/v1/admin/models/pulled/pull")[0], 403)
