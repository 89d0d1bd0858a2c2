"""Safe to expose (issue #24): who may call what, on the real binary over loopback.

- The auth matrix: every route of the server's own route table (GET /v1/admin/routes), so a new
  route without a rule here fails, against no credential, a malformed, unknown, revoked and
  expired key, and the viewer, user and admin roles.
- Allow-lists of models and collections; revocation seen at once (admin API) and from another
  process (`hearth keys revoke`); the WebSocket checks its key on every turn.
- auth.mode = none refuses a non-loopback address unless forced.
- Knowledge sources: server paths only under knowledge.allowed_roots (symlinks and .. resolved),
  URLs never to loopback/private addresses, also not through a redirect.
"""
import http.server
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

from tests.integration import jwt_util
from tests.integration.harness import BIN, EMBED, QWEN, LLAMA3, SLOW, Server, WebSocket, model_block

# Every route and the permission it requires. The server's table must equal this one.
EXPECTED_ROUTES = {
    ("GET", "/health"): "public",
    ("GET", "/metrics"): "metrics.read",
    ("GET", "/v1/models"): "models.read",
    ("POST", "/v1/chat/completions"): "inference",
    ("POST", "/v1/completions"): "inference",
    ("POST", "/v1/embeddings"): "inference",
    ("WS", "/v1/chat/ws"): "inference",
    ("POST", "/v1/knowledge/collections"): "knowledge.write",
    ("GET", "/v1/knowledge/collections"): "knowledge.read",
    ("GET", "/v1/knowledge/collections/{collection}"): "knowledge.read",
    ("DELETE", "/v1/knowledge/collections/{collection}"): "knowledge.write",
    ("GET", "/v1/knowledge/collections/{collection}/documents"): "knowledge.read",
    ("POST", "/v1/knowledge/collections/{collection}/documents"): "knowledge.write",
    ("DELETE", "/v1/knowledge/collections/{collection}/documents/{document}"): "knowledge.write",
    ("GET", "/v1/knowledge/collections/{collection}/sources"): "knowledge.read",
    ("POST", "/v1/knowledge/collections/{collection}/sources"): "knowledge.sources",
    ("POST", "/v1/knowledge/collections/{collection}/sync"): "knowledge.write",
    ("GET", "/v1/knowledge/collections/{collection}/access"): "knowledge.read",
    ("PUT", "/v1/knowledge/collections/{collection}/access"): "knowledge.write",
    ("GET", "/v1/knowledge/jobs"): "knowledge.read",
    ("GET", "/v1/knowledge/jobs/{job}"): "knowledge.read",
    ("POST", "/v1/knowledge/search"): "knowledge.read",
    ("GET", "/v1/admin/routes"): "server.read",
    ("GET", "/v1/admin/keys"): "keys.manage",
    ("POST", "/v1/admin/keys"): "keys.manage",
    ("DELETE", "/v1/admin/keys/{key}"): "keys.manage",
    ("POST", "/v1/auth/login"): "public",
    ("POST", "/v1/auth/logout"): "account",
    ("GET", "/v1/auth/me"): "account",
    ("GET", "/v1/admin/users"): "users.manage",
    ("POST", "/v1/admin/users"): "users.manage",
    ("DELETE", "/v1/admin/users/{user}"): "users.manage",
    ("POST", "/v1/admin/users/{user}/password"): "users.manage",
    ("GET", "/v1/admin/audit"): "audit.read",
    ("GET", "/v1/admin/audit/verify"): "audit.read",
    ("GET", "/v1/admin/privacy/{subject}"): "privacy.manage",
    ("DELETE", "/v1/admin/privacy/{subject}"): "privacy.manage",
    ("GET", "/v1/auth/providers"): "public",
    ("GET", "/v1/auth/oidc/start"): "public",
    ("GET", "/v1/auth/oidc/callback"): "public",
    ("GET", "/v1/admin/usage"): "audit.read",
    ("POST", "/v1/admin/models/{model}/load"): "models.manage",
    ("POST", "/v1/admin/models/{model}/unload"): "models.manage",
    ("POST", "/v1/admin/models/{model}/pull"): "models.manage",
    ("GET", "/v1/admin/models/{model}/pull"): "models.manage",
    ("POST", "/v1/conversations"): "account",
    ("GET", "/v1/conversations"): "account",
    ("POST", "/v1/conversations/import"): "account",
    ("GET", "/v1/conversations/{conversation}"): "account",
    ("POST", "/v1/conversations/{conversation}"): "account",
    ("DELETE", "/v1/conversations/{conversation}"): "account",
    ("GET", "/v1/conversations/{conversation}/export"): "account",
    ("GET", "/v1/conversations/{conversation}/items"): "account",
    ("POST", "/v1/conversations/{conversation}/items"): "account",
    ("GET", "/v1/conversations/{conversation}/items/{item}"): "account",
    ("DELETE", "/v1/conversations/{conversation}/items/{item}"): "account",
}

ROLE_PERMISSIONS = {
    "admin": None,  # every permission
    "user": {"models.read", "inference", "knowledge.read", "knowledge.write", "account"},
    "viewer": {"models.read", "knowledge.read", "account"},
}
USER_PERMISSIONS = ROLE_PERMISSIONS["user"]

PARAMS = {"collection": "matrix", "document": "1", "key": "hk-0000000000", "job": "no-such-job",
          "subject": "nobody-in-the-matrix", "user": "nobody-in-the-matrix", "conversation": "conv_none",
          "item": "msg_none", "model": "no-such-model"}


def concrete(path):
    for k, v in PARAMS.items():
        path = path.replace("{" + k + "}", v)
    return path


def auth_toml(tmp, extra="", mode="keys"):
    return (f'[auth]\nmode = "{mode}"\ndb = "{tmp}/auth.sqlite"\nsecret_file = "{tmp}/auth.secret"\n{extra}')


def cli_key(config_path, name, role, *args):
    """Creates a key with `hearth keys create`; its last line of output is the key."""
    out = subprocess.run([BIN, "keys", "create", "--config", config_path, "--name", name, "--role", role, *args],
                         check=True, capture_output=True, text=True, timeout=60 * SLOW)
    return out.stdout.strip().splitlines()[-1]


class KeyedServer(Server):
    """A server with auth.mode = keys, its key files in its temporary directory, and an admin key
    made with the CLI before it starts."""

    def __init__(self, models=None, jwt=False, mode=None, **kw):
        """jwt: also accept tokens of a test identity provider (self.idp_key signs them; its JWKS
        file is self.jwks_path)."""
        self._tmp_auth = tempfile.TemporaryDirectory(prefix="hearth-auth-")
        extra = kw.pop("extra_toml", "")
        if jwt:
            self.idp_key = jwt_util.Key("ES256")
            self.jwks_path = os.path.join(self._tmp_auth.name, "jwks.json")
            jwt_util.write_jwks(self.jwks_path, self.idp_key)
            extra = jwt_util.jwt_toml(self.jwks_path) + extra
        mode = mode or ("keys+jwt" if jwt else "keys")
        super().__init__(models=models, extra_toml=auth_toml(self._tmp_auth.name, extra, mode), **kw)

    def start(self, timeout=30):
        self.admin_key = cli_key(self.config_path, "bootstrap", "admin")
        return super().start(timeout)

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self._tmp_auth.cleanup()
        return False

    def as_key(self, key, method, path, body=None, headers=None):
        h = {"Authorization": f"Bearer {key}"} if key else {}
        h.update(headers or {})
        status, hdrs, data = self.request(method, path, body, headers=h)
        return status, hdrs, (json.loads(data) if data and hdrs.get("content-type", "").startswith("application/json")
                              else data)

    def make_key(self, name, role, **spec):
        status, _, out = self.as_key(self.admin_key, "POST", "/v1/admin/keys", {"name": name, "role": role, **spec})
        assert status == 201, (status, out)
        return out["key"], out["id"]


def small_models():
    return [model_block(QWEN, "hearth-tiny-qwen2.gguf", context_size=256, parallel=2),
            model_block(LLAMA3, "hearth-tiny-llama3.gguf", context_size=256, parallel=2),
            model_block(EMBED, "hearth-tiny-bert-embed.gguf", context_size=256, parallel=2)]


class AuthMatrixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KeyedServer(models=small_models(), jwt=True).start()
        s = cls.server
        cls.keys = {role: s.make_key(f"{role}-key", role)[0] for role in ROLE_PERMISSIONS}
        # A person signed in through the identity provider, in its "staff" group (role user), and
        # one signed in with a password (role viewer).
        cls.keys["jwt-user"] = s.idp_key.sign(jwt_util.claims("ada", ["staff"], lifetime=3600))
        status, _, _ = s.as_key(s.admin_key, "POST", "/v1/admin/users",
                                {"name": "vera", "role": "viewer", "password": "correct horse battery"})
        assert status == 201
        status, _, out = s.as_key(None, "POST", "/v1/auth/login", {"username": "vera", "password": "correct horse battery"})
        assert status == 200, out
        cls.keys["session-viewer"] = out["token"]
        revoked, revoked_id = s.make_key("revoked", "admin")
        status, _, _ = s.as_key(s.admin_key, "DELETE", f"/v1/admin/keys/{revoked_id}")
        assert status == 200
        expiring, _ = s.make_key("expiring", "admin", expires_at=int(time.time()) + 2)
        deadline = time.time() + 30
        while s.as_key(expiring, "GET", "/v1/models")[0] != 401:  # until it has expired
            assert time.time() < deadline, "the key did not expire"
            time.sleep(0.2)
        other_idp = jwt_util.Key("ES256", kid=s.idp_key.kid)
        cls.bad = {"none": None, "malformed": "not-a-key", "unknown": "hk-AAAAAAAAAA." + "B" * 40,
                   "revoked": revoked, "expired": expiring,
                   "jwt-expired": s.idp_key.sign(jwt_util.claims("ada", lifetime=-120)),
                   "jwt-wrong-key": other_idp.sign(jwt_util.claims("ada")),
                   "jwt-wrong-audience": s.idp_key.sign(jwt_util.claims("ada", aud="another-app")),
                   "session-unknown": "hs-AAAAAAAAAAAAAAAA." + "C" * 43}

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def call(self, key, method, path):
        if method == "WS":
            try:
                ws = WebSocket(self.server.port, path, headers={"Authorization": f"Bearer {key}"} if key else None)
                ws.close()
                return 101
            except ConnectionError as e:
                return int(str(e).split("HTTP/1.1 ")[1][:3])
        body = {} if method in ("POST", "PUT") else None
        if path == "/v1/auth/logout" and key == self.keys["session-viewer"]:
            key = self.fresh_session()  # signing out must not end the session the other routes use
        return self.server.as_key(key, method, concrete(path), body)[0]

    def fresh_session(self):
        status, _, out = self.server.as_key(None, "POST", "/v1/auth/login",
                                            {"username": "vera", "password": "correct horse battery"})
        assert status == 200, out
        return out["token"]

    def test_route_table_is_covered(self):
        status, _, out = self.server.as_key(self.server.admin_key, "GET", "/v1/admin/routes")
        self.assertEqual(status, 200)
        table = {(r["method"], r["path"]): r["permission"] for r in out["data"]}
        missing = set(table) - set(EXPECTED_ROUTES)
        self.assertFalse(missing, f"routes without a rule in this test: {missing}")
        self.assertEqual(table, EXPECTED_ROUTES)

    def test_bad_credentials_get_401_except_public(self):
        for (method, path), perm in EXPECTED_ROUTES.items():
            for what, key in self.bad.items():
                with self.subTest(route=f"{method} {path}", credential=what):
                    status = self.call(key, method, path)
                    if perm == "public":
                        self.assertNotIn(status, (401, 403))
                    else:
                        self.assertEqual(status, 401)

    def test_roles(self):
        for (method, path), perm in EXPECTED_ROUTES.items():
            for role, perms in [*ROLE_PERMISSIONS.items(), ("jwt-user", USER_PERMISSIONS),
                                ("session-viewer", ROLE_PERMISSIONS["viewer"])]:
                with self.subTest(route=f"{method} {path}", role=role):
                    status = self.call(self.keys[role], method, path)
                    allowed = perm == "public" or perms is None or perm in perms
                    if allowed:
                        self.assertNotIn(status, (401, 403), f"{role} refused")
                    else:
                        self.assertEqual(status, 403, f"{role} not refused")

    def test_errors_name_the_problem(self):
        status, hdrs, out = self.server.as_key(None, "GET", "/v1/models")
        self.assertEqual(status, 401)
        self.assertIn("Bearer", hdrs.get("www-authenticate", ""))
        self.assertEqual(out["error"]["code"], "missing_api_key")
        status, _, out = self.server.as_key(self.bad["revoked"], "GET", "/v1/models")
        self.assertIn("revoked", out["error"]["message"])
        self.assertEqual(out["error"]["code"], "invalid_api_key")
        status, _, out = self.server.as_key(self.bad["expired"], "GET", "/v1/models")
        self.assertIn("expired", out["error"]["message"])
        status, _, out = self.server.as_key(self.keys["viewer"], "POST", "/v1/chat/completions", {})
        self.assertEqual(status, 403)
        self.assertIn("inference", out["error"]["message"])
        self.assertEqual(out["error"]["type"], "permission_error")
        # x-api-key works as well as Bearer
        status, _, _ = self.server.as_key(None, "GET", "/v1/models", headers={"X-Api-Key": self.keys["viewer"]})
        self.assertEqual(status, 200)

    def test_keys_never_leave_the_server_again(self):
        status, _, out = self.server.as_key(self.server.admin_key, "GET", "/v1/admin/keys")
        self.assertEqual(status, 200)
        text = json.dumps(out)
        for key in list(self.keys.values()) + [self.server.admin_key]:
            self.assertNotIn(key, text)
            self.assertNotIn(key.split(".")[1], text)
        with open(os.path.join(self.server._tmp_auth.name, "auth.sqlite"), "rb") as f:
            raw = f.read()
        for key in self.keys.values():
            self.assertNotIn(key.encode(), raw)

    def test_metrics_count_failures_and_callers(self):
        self.server.as_key("not-a-key", "GET", "/v1/models")
        status, _, data = self.server.as_key(self.server.admin_key, "GET", "/metrics")
        text = data.decode()
        self.assertRegex(text, r'hearth_auth_failures_total\{reason="invalid"\} [1-9]')
        self.assertIn('hearth_principal_requests_total{principal="hk-', text)


class AllowListTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KeyedServer(models=small_models()).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_models(self):
        s = self.server
        key, _ = s.make_key("qwen-only", "user", models=[QWEN])
        status, _, out = s.as_key(key, "GET", "/v1/models")
        self.assertEqual([m["id"] for m in out["data"]], [QWEN])
        status, _, out = s.as_key(key, "POST", "/v1/chat/completions",
                                  {"model": LLAMA3, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
        self.assertEqual(status, 403, out)
        self.assertIn(LLAMA3, out["error"]["message"])
        status, _, out = s.as_key(key, "POST", "/v1/embeddings", {"model": EMBED, "input": "x"})
        self.assertEqual(status, 403, out)
        status, _, out = s.as_key(key, "POST", "/v1/chat/completions",
                                  {"model": QWEN, "messages": [{"role": "user", "content": "你好"}], "max_tokens": 2})
        self.assertEqual(status, 200, out)
        status, _, out = s.as_key(key, "POST", "/v1/completions", {"prompt": "Hello", "max_tokens": 2})
        self.assertEqual(status, 200, out)  # the default model is qwen

    def test_collections(self):
        s = self.server
        for name in ("open-a", "secret-b"):
            status, _, out = s.as_key(s.admin_key, "POST", "/v1/knowledge/collections", {"name": name})
            self.assertEqual(status, 201, out)
        key, _ = s.make_key("a-only", "user", collections=["open-a"])
        status, _, out = s.as_key(key, "GET", "/v1/knowledge/collections")
        self.assertEqual([c["name"] for c in out["data"]], ["open-a"])
        status, _, out = s.as_key(key, "GET", "/v1/knowledge/collections/secret-b")
        self.assertEqual(status, 403)
        status, _, out = s.as_key(key, "POST", "/v1/knowledge/search", {"collections": ["secret-b"], "query": "x"})
        self.assertEqual(status, 403)
        status, _, out = s.as_key(key, "POST", "/v1/chat/completions",
                                  {"messages": [{"role": "user", "content": "x"}], "max_tokens": 1,
                                   "knowledge": {"collections": ["secret-b"]}})
        self.assertEqual(status, 403, out)
        status, _, out = s.as_key(key, "POST", "/v1/knowledge/search", {"collections": ["open-a"], "query": "x"})
        self.assertEqual(status, 200, out)
        status, _, out = s.as_key(key, "POST", "/v1/knowledge/collections", {"name": "new-c"})
        self.assertEqual(status, 403, out)

    def test_collection_owners_and_access_lists(self):
        s = self.server
        alice, alice_id = s.make_key("alice", "user")
        bob, bob_id = s.make_key("bob", "user")
        c = "/v1/knowledge/collections"
        status, _, out = s.as_key(alice, "POST", c, {"name": "alice-private"})
        self.assertEqual(status, 201, out)
        status, _, out = s.as_key(alice, "GET", f"{c}/alice-private/access")
        self.assertEqual((out["owner"], out["readers"], out["writers"]), (alice_id, [], []))
        search = {"collections": ["alice-private"], "query": "x"}
        self.assertNotIn("alice-private", [x["name"] for x in s.as_key(bob, "GET", c)[2]["data"]])
        self.assertEqual(s.as_key(bob, "GET", f"{c}/alice-private")[0], 403)
        self.assertEqual(s.as_key(bob, "POST", "/v1/knowledge/search", search)[0], 403)
        self.assertEqual(s.as_key(bob, "PUT", f"{c}/alice-private/access", {"readers": [bob_id]})[0], 403)
        status, _, out = s.as_key(alice, "PUT", f"{c}/alice-private/access", {"readers": [bob_id]})
        self.assertEqual(status, 200, out)
        self.assertEqual(s.as_key(bob, "GET", f"{c}/alice-private")[0], 200)
        self.assertEqual(s.as_key(bob, "POST", "/v1/knowledge/search", search)[0], 200)
        self.assertEqual(s.as_key(bob, "DELETE", f"{c}/alice-private/documents/1")[0], 403)  # reading is not writing
        self.assertEqual(s.as_key(alice, "PUT", f"{c}/alice-private/access", {"writers": ["role:user"]})[0], 200)
        self.assertEqual(s.as_key(bob, "DELETE", f"{c}/alice-private/documents/1")[0], 404)  # allowed; no such document
        self.assertEqual(s.as_key(alice, "PUT", f"{c}/alice-private/access", {"owner": bob_id})[0], 403)
        self.assertEqual(s.as_key(s.admin_key, "GET", f"{c}/alice-private")[0], 200)  # knowledge admins see all
        status, _, out = s.as_key(s.admin_key, "GET", f"/v1/admin/privacy/{alice_id}")
        self.assertEqual(out["stores"]["collection_access"], [{"collection": "alice-private", "owner": True,
                                                               "reader": False, "writer": False}])
        status, _, out = s.as_key(s.admin_key, "DELETE", f"/v1/admin/privacy/{alice_id}")
        self.assertEqual(out["stores"]["collection_access"], {"changed": 1})
        status, _, out = s.as_key(s.admin_key, "GET", f"{c}/alice-private/access")
        self.assertEqual((out["owner"], out["readers"]), ("erased", [bob_id]))
        self.assertEqual(s.as_key(bob, "GET", f"{c}/alice-private")[0], 200)

    def test_revocation_is_immediate_and_seen_across_processes(self):
        s = self.server
        key, kid = s.make_key("short-lived", "user")
        self.assertEqual(s.as_key(key, "GET", "/v1/models")[0], 200)
        s.as_key(s.admin_key, "DELETE", f"/v1/admin/keys/{kid}")
        self.assertEqual(s.as_key(key, "GET", "/v1/models")[0], 401)
        # Another process (the CLI) revokes; the server notices without a restart.
        key2, kid2 = s.make_key("cli-revoked", "user")
        self.assertEqual(s.as_key(key2, "GET", "/v1/models")[0], 200)
        subprocess.run([BIN, "keys", "revoke", "--config", s.config_path, kid2], check=True, capture_output=True,
                       timeout=60 * SLOW)
        deadline = time.time() + 10
        while s.as_key(key2, "GET", "/v1/models")[0] != 401:
            self.assertLess(time.time(), deadline, "the CLI's revocation was not seen")
            time.sleep(0.1)

    def test_websocket_checks_every_turn(self):
        s = self.server
        key, kid = s.make_key("ws", "user")
        ws = WebSocket(s.port, "/v1/chat/ws", headers={"Authorization": f"Bearer {key}"})
        try:
            ws.send_json({"type": "chat", "content": "hi", "max_tokens": 2})
            kinds = []
            while not kinds or kinds[-1] not in ("done", "error"):
                kinds.append(ws.recv_json()["type"])
            self.assertEqual(kinds[-1], "done")
            s.as_key(s.admin_key, "DELETE", f"/v1/admin/keys/{kid}")
            ws.send_json({"type": "chat", "content": "again", "max_tokens": 2})
            msg = ws.recv_json()
            self.assertEqual(msg["type"], "error", msg)
            self.assertIn("revoked", msg["error"]["message"])
        finally:
            ws.close()
        with self.assertRaises(ConnectionError) as cm:
            WebSocket(s.port, "/v1/chat/ws")
        self.assertIn("401", str(cm.exception))

    def test_admin_api_validates(self):
        s = self.server
        for body, word in [({"role": "user"}, "name"), ({"name": "x", "role": "root"}, "unknown role"),
                           ({"name": "x", "role": "user", "rpm": -1}, "rpm"),
                           ({"name": "x", "role": "user", "expires_at": 5}, "expires_at"),
                           ({"name": "x", "role": "user", "models": "all"}, "models"),
                           ({"name": "x", "role": "user", "colour": "red"}, "colour")]:
            with self.subTest(body=body):
                status, _, out = s.as_key(s.admin_key, "POST", "/v1/admin/keys", body)
                self.assertEqual(status, 400, out)
                self.assertIn(word, out["error"]["message"])
        status, _, out = s.as_key(s.admin_key, "DELETE", "/v1/admin/keys/hk-nosuchkey0")
        self.assertEqual(status, 404, out)


class ExposureTest(unittest.TestCase):
    def run_serve(self, *args):
        with tempfile.TemporaryDirectory() as tmp:
            port_file = os.path.join(tmp, "port")
            p = subprocess.Popen([BIN, "serve", "--model", os.path.join(os.environ.get("HEARTH_MODELS", "models"),
                                                                       "hearth-tiny-qwen2.gguf"),
                                  "--port", "0", "--port-file", port_file, *args],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            deadline = time.time() + 60 * SLOW
            while p.poll() is None and not os.path.exists(port_file) and time.time() < deadline:
                time.sleep(0.05)
            started = p.poll() is None
            p.terminate()
            out, _ = p.communicate(timeout=60 * SLOW)
            return started, p.returncode, out

    def test_no_auth_refuses_the_network(self):
        started, rc, out = self.run_serve("--host", "0.0.0.0")
        self.assertFalse(started)
        self.assertNotEqual(rc, 0)
        self.assertIn("refusing to listen on 0.0.0.0 without authentication", out)
        self.assertIn("--auth keys", out)

    def test_forced(self):
        started, _, out = self.run_serve("--host", "0.0.0.0", "--insecure-no-auth")
        self.assertTrue(started, out)
        self.assertIn("anyone who can reach this port", out)


class RedirectHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/to-loopback"):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.secret_port}/metrics")
            self.end_headers()
            return
        body = b"<html><body><h1>Public page</h1><p>Hello.</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class SourcePathAndUrlTest(unittest.TestCase):
    """auth.mode = none (an admin on loopback): even the admin's sources stay inside the allowed
    roots and off private addresses, since a source's URL or a page's redirect may be hostile."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hearth-roots-")
        root = os.path.realpath(cls.tmp.name)
        cls.allowed = os.path.join(root, "allowed")
        cls.outside = os.path.join(root, "outside")
        os.makedirs(os.path.join(cls.allowed, "docs"))
        os.makedirs(cls.outside)
        with open(os.path.join(cls.allowed, "docs", "ok.md"), "w") as f:
            f.write("# Pumps\n\nPumps move water.\n")
        with open(os.path.join(cls.outside, "secret.md"), "w") as f:
            f.write("# Secret\n\nThe vault code is 4711.\n")
        os.symlink(os.path.join(cls.outside, "secret.md"), os.path.join(cls.allowed, "docs", "link.md"))
        os.makedirs(os.path.join(root, "allowed-not"))  # a sibling whose name starts like the root
        # A page server that redirects to loopback. It listens on 127.0.0.2, which the outbound
        # rules allow as a single address; 127.0.0.1, where Hearth itself listens, stays refused.
        cls.web = http.server.ThreadingHTTPServer(("127.0.0.2", 0), RedirectHandler)
        threading.Thread(target=cls.web.serve_forever, daemon=True).start()
        cls.server = Server(models=small_models()[:1], knowledge={"allowed_roots": [cls.allowed]},
                            extra_toml='[outbound]\nallow = ["127.0.0.2"]\n').start()
        cls.web.secret_port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.web.shutdown()
        cls.web.server_close()
        cls.tmp.cleanup()

    def add(self, uri):
        return self.server.post("/v1/knowledge/collections/roots/sources", {"uri": uri})

    def wait_job(self, job_id):
        deadline = time.time() + 60 * SLOW
        while True:
            status, job = self.server.get_json(f"/v1/knowledge/jobs/{job_id}")
            if job["status"] in ("succeeded", "failed"):
                return job
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)

    def test_paths(self):
        self.server.post("/v1/knowledge/collections", {"name": "roots"})
        for uri in [self.outside, os.path.join(self.allowed, "..", "outside"), "/etc",
                    os.path.join(self.allowed, "..", "allowed-not")]:
            with self.subTest(uri=uri):
                status, out = self.add(uri)
                self.assertEqual(status, 403, out)
                self.assertIn("knowledge.allowed_roots", out["error"]["message"])
        status, out = self.add(os.path.join(self.allowed, "nope"))
        self.assertEqual(status, 400, out)
        status, job = self.add(os.path.join(self.allowed, "docs"))
        self.assertEqual(status, 202, job)
        job = self.wait_job(job["id"])
        self.assertEqual(job["status"], "succeeded", job)
        self.assertEqual(job["counters"]["documents_failed"], 1, job)  # the symlink out
        self.assertIn("outside", json.dumps(job["errors"]))
        status, out = self.server.post("/v1/knowledge/search", {"collections": ["roots"], "query": "vault code"})
        self.assertNotIn("4711", json.dumps(out))

    def test_urls(self):
        self.server.post("/v1/knowledge/collections", {"name": "roots"})
        port = self.server.port
        for uri in [f"http://127.0.0.1:{port}/metrics", f"http://localhost:{port}/metrics",
                    f"http://2130706433:{port}/metrics", f"http://0x7f.1:{port}/metrics",
                    f"http://[::ffff:127.0.0.1]:{port}/metrics", "http://169.254.169.254/latest/meta-data/",
                    "http://metadata.google.internal/computeMetadata/v1/"]:
            with self.subTest(uri=uri):
                status, out = self.add(uri)
                self.assertEqual(status, 403, out)
                self.assertIn("[outbound] allow", out["error"]["message"])
        # Allowed host, redirect to loopback: refused when the redirect is followed.
        web = f"http://127.0.0.2:{self.web.server_address[1]}"
        status, job = self.add(web + "/page")
        self.assertEqual(status, 202, job)
        self.assertEqual(self.wait_job(job["id"])["status"], "succeeded")
        status, job = self.add(web + "/to-loopback")
        self.assertEqual(status, 202, job)
        job = self.wait_job(job["id"])
        text = json.dumps(job)
        self.assertIn("refused", text)
        self.assertIn("127.0.0.1", text)
        status, out = self.server.post("/v1/knowledge/search", {"collections": ["roots"], "query": "hearth_http"})
        self.assertNotIn("hearth_http_requests_total", json.dumps(out))


if __name__ == "__main__":
    unittest.main()
