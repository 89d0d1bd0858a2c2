"""Test identity provider: keys made and tokens signed with the openssl command-line tool (no
Python crypto package is needed), and the JWKS a provider would publish."""
import base64
import json
import os
import subprocess
import tempfile
import time


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _der_ints(sig):
    """ECDSA-Sig-Value (SEQUENCE of two INTEGERs) -> (r, s) as ints."""
    assert sig[0] == 0x30
    i = 2 if sig[1] < 0x80 else 2 + (sig[1] & 0x7F)
    out = []
    for _ in range(2):
        assert sig[i] == 0x02
        n = sig[i + 1]
        out.append(int.from_bytes(sig[i + 2:i + 2 + n], "big"))
        i += 2 + n
    return out


class Key:
    """An ES256 (P-256) or RS256 (2048-bit) signing key in a temporary directory."""

    def __init__(self, kind="ES256", kid=None):
        self.kind, self.kid = kind, kid or f"{kind.lower()}-{os.urandom(4).hex()}"
        self.dir = tempfile.TemporaryDirectory(prefix="hearth-jwk-")
        self.pem = os.path.join(self.dir.name, "key.pem")
        if kind == "ES256":
            subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", self.pem],
                           check=True, capture_output=True)
        else:
            subprocess.run(["openssl", "genrsa", "-out", self.pem, "2048"], check=True, capture_output=True)

    def jwk(self):
        if self.kind == "ES256":
            der = subprocess.run(["openssl", "ec", "-in", self.pem, "-pubout", "-outform", "DER"], check=True,
                                 capture_output=True).stdout
            point = der[-65:]  # 0x04 || x || y
            return {"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
                    "x": b64url(point[1:33]), "y": b64url(point[33:])}
        mod = subprocess.run(["openssl", "rsa", "-in", self.pem, "-noout", "-modulus"], check=True,
                             capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                "n": b64url(bytes.fromhex(mod)), "e": b64url((65537).to_bytes(3, "big"))}

    def sign(self, claims, header=None, alg=None):
        h = {"alg": alg or self.kind, "typ": "JWT", "kid": self.kid}
        h.update(header or {})
        signing_input = (b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.pem], input=signing_input, check=True,
                             capture_output=True).stdout
        if self.kind == "ES256":
            r, s = _der_ints(sig)
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input.decode() + "." + b64url(sig)


def write_jwks(path, *keys):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"keys": [k.jwk() for k in keys]}, f)
    os.replace(tmp, path)


ISSUER, AUDIENCE = "https://idp.example.test/realms/hearth", "hearth"


def claims(sub="ada", groups=("staff",), lifetime=300, **extra):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "preferred_username": sub, "iat": now, "exp": now + lifetime,
         "realm_access": {"roles": list(groups)}}
    c.update(extra)
    return c


def jwt_toml(jwks_path, default_role=""):
    return (f'[auth.jwt]\nissuers = ["{ISSUER}"]\naudiences = ["{AUDIENCE}"]\njwks_file = "{jwks_path}"\n'
            f'jwks_min_refetch_seconds = 0\nrole_claim = "realm_access.roles"\ndefault_role = "{default_role}"\n'
            '[auth.jwt.role_map]\n"hearth-admins" = "admin"\n"staff" = "user"\n"auditors" = "viewer"\n')
