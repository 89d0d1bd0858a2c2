"""Single sign-on for the web app (issue #25): OpenID Connect's authorization code flow with PKCE
against a fake identity provider on loopback (it plays the provider's authorize and token
endpoints and signs ID tokens with the test key); the ID token becomes the session cookie."""
import base64
import hashlib
import http.client
import http.server
import json
import threading
import unittest
from urllib.parse import parse_qs, urlencode, urlparse

from tests.integration import jwt_util
from tests.integration.test_security import KeyedServer, small_models


class FakeIdp(http.server.ThreadingHTTPServer):
    def __init__(self, key):
        super().__init__(("127.0.0.1", 0), IdpHandler)
        self.key, self.codes, self.nonce_override, self.sub = key, {}, None, "grace"

    def url(self, path):
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class IdpHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # the authorize endpoint: the user "signs in" at once
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        code = "code-" + q["state"][:8]
        self.server.codes[code] = q
        self.send_response(302)
        self.send_header("Location", q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]}))
        self.end_headers()

    def do_POST(self):  # the token endpoint
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        q = self.server.codes.pop(form.get("code"), None)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest()).rstrip(b"=")
        if (not q or form.get("grant_type") != "authorization_code" or form.get("client_id") != "hearth"
                or form.get("redirect_uri") != q["redirect_uri"] or challenge.decode() != q["code_challenge"]):
            body, status = {"error": "invalid_grant"}, 400
        else:
            nonce = self.server.nonce_override or q["nonce"]
            token = self.server.key.sign(jwt_util.claims(self.server.sub, ["staff"], lifetime=600, nonce=nonce))
            body, status = {"id_token": token, "token_type": "Bearer", "expires_in": 600}, 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def cookies(headers):
    return {c.split("=", 1)[0]: c.split(";")[0].split("=", 1)[1] for c in headers.get_all("Set-Cookie") or []}


class OidcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        key = jwt_util.Key("ES256")
        cls.idp = FakeIdp(key)
        threading.Thread(target=cls.idp.serve_forever, daemon=True).start()
        oidc = (f'[auth.oidc]\nname = "Example SSO"\nclient_id = "hearth"\n'
                f'authorization_endpoint = "{cls.idp.url("/authorize")}"\ntoken_endpoint = "{cls.idp.url("/token")}"\n'
                '[outbound]\nallow = ["127.0.0.1"]\n')
        cls.server = KeyedServer(models=small_models(), jwt=True, extra_toml=oidc)
        cls.server.idp_key = key
        jwt_util.write_jwks(cls.server.jwks_path, key)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.idp.shutdown()

    def get(self, host_port, path, cookie=""):
        c = http.client.HTTPConnection(*host_port, timeout=30)
        c.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status, r.headers

    def sign_in(self):
        """Runs the browser's part of the flow; returns (callback status, headers, flow cookie)."""
        me = ("127.0.0.1", self.server.port)
        status, h = self.get(me, "/v1/auth/oidc/start")
        self.assertEqual(status, 302)
        flow = cookies(h)["hearth_oidc"]
        authorize = urlparse(h["Location"])
        q = parse_qs(authorize.query)
        self.assertEqual((q["code_challenge_method"], q["client_id"], q["state"]), (["S256"], ["hearth"], [flow]))
        self.assertEqual(q["redirect_uri"], [f"http://127.0.0.1:{self.server.port}/v1/auth/oidc/callback"])
        status, h = self.get(("127.0.0.1", authorize.port), authorize.path + "?" + authorize.query)
        back = urlparse(h["Location"])
        status, h = self.get(me, back.path + "?" + back.query, cookie=f"hearth_oidc={flow}")
        return status, h, flow, back

    def test_sign_in_gives_a_session_cookie(self):
        status, h, _, _ = self.sign_in()
        self.assertEqual((status, h["Location"]), (302, "/"))
        session = cookies(h)["hearth_session"]
        self.assertTrue(session.startswith("eyJ"))
        self.assertIn("HttpOnly", [c for c in h.get_all("Set-Cookie") if c.startswith("hearth_session")][0])
        st, _, me = self.server.as_key(None, "GET", "/v1/auth/me", headers={"Cookie": f"hearth_session={session}"})
        self.assertEqual((st, me["id"], me["role"], me["kind"]), (200, "oidc:grace", "user", "jwt"), me)
        csrf = me["csrf_token"]
        st, _, out = self.server.as_key(None, "POST", "/v1/conversations", {"metadata": {"title": "sso"}},
                                        headers={"Cookie": f"hearth_session={session}"})
        self.assertEqual(st, 403, out)  # no CSRF token
        st, _, out = self.server.as_key(None, "POST", "/v1/conversations", {"metadata": {"title": "sso"}},
                                        headers={"Cookie": f"hearth_session={session}", "X-CSRF-Token": csrf})
        self.assertEqual(st, 200, out)
        st, h2, out = self.server.as_key(None, "POST", "/v1/auth/logout",
                                         headers={"Cookie": f"hearth_session={session}", "X-CSRF-Token": csrf})
        self.assertEqual(st, 200, out)
        self.assertIn("Max-Age=0", h2["set-cookie"])

    def test_providers_offer_it(self):
        st, _, out = self.server.as_key(None, "GET", "/v1/auth/providers")
        self.assertEqual(out["oidc"], {"name": "Example SSO", "login_url": "/v1/auth/oidc/start"})

    def test_a_callback_without_its_flow_or_replayed_is_refused(self):
        status, h, flow, back = self.sign_in()
        self.assertEqual(status, 302)
        me = ("127.0.0.1", self.server.port)
        again, _ = self.get(me, back.path + "?" + back.query, cookie=f"hearth_oidc={flow}")  # replayed
        self.assertEqual(again, 400)
        status, h = self.get(me, "/v1/auth/oidc/start")
        state = parse_qs(urlparse(h["Location"]).query)["state"][0]
        other, _ = self.get(me, f"/v1/auth/oidc/callback?code=x&state={state}")  # another browser: no cookie
        self.assertEqual(other, 400)
        denied, _ = self.get(me, "/v1/auth/oidc/callback?error=access_denied&error_description=no")
        self.assertEqual(denied, 401)

    def test_a_wrong_nonce_is_refused(self):
        self.idp.nonce_override = "not-the-nonce"
        try:
            status, h, _, _ = self.sign_in()
        finally:
            self.idp.nonce_override = None
        self.assertEqual(status, 401)
        self.assertNotIn("hearth_session", cookies(h))
