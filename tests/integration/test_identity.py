"""Identity (issue #24, part 2) on the real binary: people who sign in with a password (Argon2id,
sessions), and an organisation's identity provider's JWTs (ES256/RS256 against a JWKS file, key
rotation, claims mapped to roles), also through curl; their data under `privacy export/delete`.
"""
import http.server
import json
import os
import threading
import subprocess
import time
import unittest

from tests.integration import jwt_util
from tests.integration.harness import BIN, QWEN, WebSocket
from tests.integration.test_security import KeyedServer, small_models

PASSWORD = "correct horse battery"


class JwtTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KeyedServer(models=small_models(), jwt=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def me(self, token):
        return self.server.as_key(token, "GET", "/v1/auth/me")

    def test_roles_come_from_the_mapped_claim(self):
        key = self.server.idp_key
        for groups, role in ((["staff"], "user"), (["auditors"], "viewer"), (["x", "hearth-admins"], "admin")):
            status, _, out = self.me(key.sign(jwt_util.claims("grace", groups)))
            self.assertEqual(status, 200, out)
            self.assertEqual((out["kind"], out["id"], out["role"]), ("jwt", "oidc:grace", role))
        status, _, out = self.me(key.sign(jwt_util.claims("grace", ["unknown-group"])))
        self.assertEqual(status, 403, out)
        self.assertIn("no role claim maps", out["error"]["message"])
        viewer = key.sign(jwt_util.claims("vic", ["auditors"]))
        status, _, out = self.server.as_key(viewer, "POST", "/v1/chat/completions",
                                            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
        self.assertEqual(status, 403, out)

    def test_bad_tokens_are_refused_with_the_reason(self):
        key = self.server.idp_key
        good = jwt_util.claims("mallory")
        header, payload, sig = key.sign(good).split(".")
        none = jwt_util.b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + payload + "."
        hs = jwt_util.b64url(json.dumps({"alg": "HS256", "kid": key.kid}).encode()) + "." + payload + "." + sig
        tampered = header + "." + jwt_util.b64url(json.dumps({**good, "sub": "admin"}).encode()) + "." + sig
        cases = {
            "alg": none, "HS256": hs, "signature": tampered,
            "expired": key.sign(jwt_util.claims("mallory", lifetime=-300)),
            "issuer": key.sign(jwt_util.claims("mallory", iss="https://evil.example")),
            "audience": key.sign(jwt_util.claims("mallory", aud="other")),
            "unknown key id": key.sign(good, header={"kid": "no-such-kid"}),
        }
        for needle, token in cases.items():
            with self.subTest(needle):
                status, hdrs, out = self.me(token)
                self.assertEqual(status, 401, out)
                self.assertEqual(out["error"]["code"], "invalid_token")
                self.assertIn(needle, out["error"]["message"])
                self.assertIn("Bearer", hdrs.get("www-authenticate", ""))

    def test_key_rotation_and_rs256(self):
        s = self.server
        new = jwt_util.Key("RS256")
        token = new.sign(jwt_util.claims("rotated", ["staff"]))
        self.assertEqual(self.me(token)[0], 401)  # not published yet
        jwt_util.write_jwks(s.jwks_path, s.idp_key, new)  # the provider publishes its next key
        status, _, out = self.me(token)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["id"], "oidc:rotated")
        self.assertEqual(self.me(s.idp_key.sign(jwt_util.claims("old")))[0], 200)  # the old key still works

    def test_curl_with_a_jwt(self):
        token = self.server.idp_key.sign(jwt_util.claims("curl-user", ["staff"]))
        body = json.dumps({"model": QWEN, "messages": [{"role": "user", "content": "你好"}], "max_tokens": 2})
        out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", f"http://127.0.0.1:{self.server.port}/v1/chat/completions",
                              "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
                              "-d", body], capture_output=True, text=True, timeout=60, check=True)
        text, code = out.stdout.rsplit("\n", 1)
        self.assertEqual(code, "200", text)
        self.assertEqual(json.loads(text)["object"], "chat.completion")


class JwksUrlTest(unittest.TestCase):
    """The provider's key set fetched over HTTP, through the outbound check like every fetch."""

    @classmethod
    def setUpClass(cls):
        cls.key = jwt_util.Key("ES256")
        body = json.dumps({"keys": [cls.key.jwk()]}).encode()

        class Jwks(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        cls.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        threading.Thread(target=cls.httpd.serve_forever, daemon=True).start()
        cls.url = f"http://127.0.0.1:{cls.httpd.server_address[1]}/certs"

    @classmethod
    def tearDownClass(cls):
        cls.httpd.shutdown()

    def serve(self, outbound):
        toml = jwt_util.jwt_toml("unused").replace('jwks_file = "unused"', f'jwks_url = "{self.url}"') + outbound
        return KeyedServer(models=small_models(), extra_toml=toml, mode="jwt")

    def test_fetched_from_an_allowed_intranet_host(self):
        with self.serve('[outbound]\nallow = ["127.0.0.1"]\n') as s:
            status, _, out = s.as_key(self.key.sign(jwt_util.claims("ida", ["staff"])), "GET", "/v1/auth/me")
            self.assertEqual(status, 200, out)
            self.assertEqual(out["id"], "oidc:ida")

    def test_refused_without_an_outbound_rule(self):
        with self.serve("") as s:
            status, _, out = s.as_key(self.key.sign(jwt_util.claims("ida", ["staff"])), "GET", "/v1/auth/me")
            self.assertEqual(status, 503, out)
            self.assertIn("JWKS", out["error"]["message"])


class UsersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KeyedServer(models=small_models()).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def admin(self, method, path, body=None):
        return self.server.as_key(self.server.admin_key, method, path, body)

    def login(self, name, password=PASSWORD):
        return self.server.as_key(None, "POST", "/v1/auth/login", {"username": name, "password": password})

    def create(self, name, role="user"):
        status, _, out = self.admin("POST", "/v1/admin/users", {"name": name, "role": role, "password": PASSWORD})
        self.assertEqual(status, 201, out)
        return out

    def test_sign_in_use_and_sign_out(self):
        self.create("王小明")
        status, _, out = self.login("王小明")
        self.assertEqual(status, 200, out)
        token = out["token"]
        self.assertTrue(token.startswith("hs-"))
        status, _, me = self.server.as_key(token, "GET", "/v1/auth/me")
        self.assertEqual((me["kind"], me["id"], me["role"]), ("user", "user:王小明", "user"))
        status, _, out = self.server.as_key(token, "POST", "/v1/chat/completions",
                                            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
        self.assertEqual(status, 200, out)
        self.assertEqual(self.server.as_key(token, "POST", "/v1/auth/logout")[0], 200)
        status, _, out = self.server.as_key(token, "GET", "/v1/auth/me")
        self.assertEqual(status, 401)
        self.assertEqual(out["error"]["code"], "invalid_session")

    def test_wrong_password_and_unknown_user_look_the_same(self):
        self.create("bob")
        a = self.login("bob", "wrong password!")
        b = self.login("nobody-here", "wrong password!")
        self.assertEqual((a[0], b[0]), (401, 401))
        self.assertEqual(a[2]["error"]["message"], b[2]["error"]["message"])
        for _ in range(5):
            self.login("bob", "still wrong!!")
        status, hdrs, out = self.login("bob")  # throttled, even with the right password
        self.assertEqual(status, 429, out)
        self.assertIn("retry-after", hdrs)

    def test_disable_and_password_change_end_sessions(self):
        self.create("carol")
        t1 = self.login("carol")[2]["token"]
        self.assertEqual(self.admin("POST", "/v1/admin/users/carol/password", {"password": "a new long password"})[0], 200)
        self.assertEqual(self.server.as_key(t1, "GET", "/v1/auth/me")[0], 401)
        t2 = self.login("carol", "a new long password")[2]["token"]
        self.assertEqual(self.admin("DELETE", "/v1/admin/users/carol")[0], 200)
        self.assertEqual(self.server.as_key(t2, "GET", "/v1/auth/me")[0], 401)
        self.assertEqual(self.login("carol", "a new long password")[0], 403)

    def test_websocket_turns_check_the_session(self):
        self.create("wes")
        token = self.login("wes")[2]["token"]
        ws = WebSocket(self.server.port, "/v1/chat/ws", headers={"Authorization": f"Bearer {token}"})
        try:
            ws.send_json({"type": "chat", "content": "hi", "max_tokens": 2})
            kinds = []
            while not kinds or kinds[-1] not in ("done", "error"):
                kinds.append(ws.recv_json()["type"])
            self.assertEqual(kinds[-1], "done")
            self.assertEqual(self.server.as_key(token, "POST", "/v1/auth/logout")[0], 200)
            ws.send_json({"type": "chat", "content": "again", "max_tokens": 2})
            msg = ws.recv_json()
            self.assertEqual(msg["type"], "error", msg)
            self.assertIn("signed out", msg["error"]["message"])
        finally:
            ws.close()

    def test_cli_creates_and_disables_users(self):
        s = self.server
        def users(*args, stdin=""):
            return subprocess.run([BIN, "users", *args, "--config", s.config_path], input=stdin, capture_output=True,
                                  text=True, timeout=60)
        made = users("create", "--name", "李雷", "--role", "viewer", stdin=PASSWORD + "\n")
        self.assertEqual(made.returncode, 0, made.stderr)
        self.assertNotIn(PASSWORD, made.stdout + made.stderr)
        status, _, out = self.login("李雷")
        self.assertEqual(status, 200, out)
        self.assertIn("李雷", users("list").stdout)
        self.assertEqual(users("create", "--name", "x y", "--role", "user", stdin=PASSWORD + "\n").returncode, 2)
        self.assertEqual(users("disable", "李雷").returncode, 0)
        deadline = time.time() + 10  # another process's change is seen within half a second
        while self.server.as_key(out["token"], "GET", "/v1/auth/me")[0] != 401:
            self.assertLess(time.time(), deadline, "the disabled user's session still works")
            time.sleep(0.1)

    def test_bad_input(self):
        cases = [({"name": "x y", "role": "user", "password": PASSWORD}, "name"),
                 ({"name": "dan", "role": "overlord", "password": PASSWORD}, "role"),
                 ({"name": "dan", "role": "user", "password": "short"}, "password"),
                 ({"name": "dan", "role": "user"}, "password"),
                 ({"name": "dan", "role": "user", "password": PASSWORD, "admin": True}, "admin")]
        for body, param in cases:
            with self.subTest(body=body):
                status, _, out = self.admin("POST", "/v1/admin/users", body)
                self.assertEqual(status, 400, out)
                self.assertEqual(out["error"]["param"], param)
        status, _, out = self.server.as_key(None, "POST", "/v1/auth/login", {"username": "x"})
        self.assertEqual(status, 400, out)

    def test_privacy_covers_users(self):
        self.create("erin")
        token = self.login("erin")[2]["token"]
        self.assertEqual(self.server.as_key(token, "GET", "/v1/models")[0], 200)
        # A request's audit record is written as its response ends: it may trail the response.
        deadline = time.time() + 10
        while True:
            status, _, out = self.admin("GET", "/v1/admin/privacy/erin")
            self.assertEqual(status, 200, out)
            if out["stores"].get("audit_log") or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(out["stores"]["users"][0]["user"]["name"], "erin")
        self.assertNotIn("argon2", json.dumps(out))
        self.assertTrue(any(r["principal"] == "user:erin" for r in out["stores"]["audit_log"]), out)
        status, _, out = self.admin("DELETE", "/v1/admin/privacy/erin")
        self.assertEqual(status, 200, out)
        self.assertEqual(out["stores"]["users"]["removed"], 2)  # the user and the session
        self.assertEqual(self.admin("GET", "/v1/admin/privacy/erin")[2]["stores"], {})
        self.assertEqual(self.server.as_key(token, "GET", "/v1/models")[0], 401)


if __name__ == "__main__":
    unittest.main()
