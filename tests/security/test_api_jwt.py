"""JWTs from configured issuers (VIGIA_API_JWT_ISSUERS) as API credentials, through the messages API: HS256,
RS256 and ES256 tokens with the right claims are accepted; expired, not-yet-valid, foreign, mis-addressed,
wrongly signed, unsigned (alg "none") and algorithm-confused ones are 401; a scope the issuer may not grant is
ignored (403); and what one (iss, sub) creates, another subject does not see."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import Client

from channels_app.models import Channel, Message
from config.settings import _jwt_issuers

pytestmark = pytest.mark.django_db

MESSAGES = "/api/v1/messages"
AUDIENCE = "vigia-api"
HS_SECRET = "an-hs256-shared-secret-of-at-least-32-characters"


def _pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def keys():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "rsa": rsa_key,
        "rsa_other": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec_key,
        "ec_other": ec.generate_private_key(ec.SECP256R1()),
        "rsa_public": _pem(rsa_key.public_key()),
        "ec_public": _pem(ec_key.public_key()),
    }


@pytest.fixture
def issuers(settings, keys):
    raw = {
        "https://hs.example.org": {"algorithm": "HS256", "secret": HS_SECRET, "audience": AUDIENCE},
        "https://rs.example.org": {"algorithm": "RS256", "public_key": keys["rsa_public"], "audience": AUDIENCE},
        # This one may grant reading messages only, whatever its tokens claim; its claim is "scp".
        "https://es.example.org": {
            "algorithm": "ES256",
            "public_key": keys["ec_public"],
            "audience": AUDIENCE,
            "scopes": ["messages:read"],
            "scope_claim": "scp",
        },
    }
    settings.VIGIA_API_JWT_ISSUERS = _jwt_issuers(json.dumps(raw))  # as the setting is read, validated
    settings.VIGIA_API_JWT_LEEWAY = 30
    return settings.VIGIA_API_JWT_ISSUERS


@pytest.fixture
def avisos(db):
    return Channel.objects.create(name="avisos", kind="outbox")


def claims(issuer="https://hs.example.org", **overrides):
    now = int(time.time())
    found = {
        "iss": issuer,
        "sub": "service-a",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "scope": "messages:read messages:write",
    }
    found.update(overrides)
    return {key: value for key, value in found.items() if value is not None}


def hs(keys=None, secret=HS_SECRET, **overrides):
    return jwt.encode(claims("https://hs.example.org", **overrides), secret, algorithm="HS256")


def rs(keys, key="rsa", **overrides):
    return jwt.encode(claims("https://rs.example.org", **overrides), keys[key], algorithm="RS256")


def es(keys, key="ec", **overrides):
    overrides.setdefault("scp", overrides.pop("scope", "messages:write messages:read"))
    return jwt.encode(claims("https://es.example.org", scope=None, **overrides), keys[key], algorithm="ES256")


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header, payload, sign=lambda signing_input: b""):
    """A JWT built by hand (PyJWT refuses to make the forgeries below)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def send(raw, key="k-1"):
    data = {"channel": "avisos", "to": "Ana", "body": "Olá", "service": "crm", "key": key}
    return Client().post(MESSAGES, json.dumps(data), content_type="application/json", **auth(raw))


def read(raw, pk):
    return Client().get(f"{MESSAGES}/{pk}", **auth(raw))


def refused(response, detail=None):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer")
    if detail is not None:
        assert response.json() == {"detail": detail}
    return True


# --- Accepted -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sign", [hs, rs], ids=["HS256", "RS256"])
def test_a_valid_jwt_with_messages_write_creates_a_message(issuers, keys, avisos, sign):
    response = send(sign(keys, scope="messages:write"))

    assert response.status_code == 201, response.content
    message = Message.objects.get()
    issuer = "https://hs.example.org" if sign is hs else "https://rs.example.org"
    assert message.caller == f"jwt:{issuer}:service-a" and message.token is None
    assert read(sign(keys, scope="messages:read"), message.pk).json()["key"] == "k-1"


def test_an_es256_jwt_is_accepted_with_the_scopes_its_issuer_may_grant(issuers, keys, avisos):
    Message.objects.create(
        service="crm", key="m-1", caller="jwt:https://es.example.org:service-a", channel=avisos, to="Ana",
        body="Olá", send_at="2099-01-01T00:00:00Z",
    )  # fmt: skip
    mine = Message.objects.get()

    assert read(es(keys, scp=["messages:read"]), mine.pk).status_code == 200  # a list works as the claim too


def test_the_scope_claim_may_be_a_list_and_exp_within_the_leeway_is_accepted(issuers, keys, avisos):
    late = int(time.time()) - 10  # expired 10 s ago; the leeway is 30 s
    assert send(hs(scope=["messages:write"], exp=late)).status_code == 201


# --- Refused: 401 -----------------------------------------------------------------------------------------
def test_an_expired_jwt_is_refused(issuers, keys, avisos):
    expired = int(time.time()) - 120  # beyond the 30 s of leeway
    refused(send(hs(exp=expired)), "This token has expired.")
    refused(send(rs(keys, exp=expired)), "This token has expired.")
    refused(send(es(keys, exp=expired)), "This token has expired.")
    assert not Message.objects.exists()


def test_a_jwt_not_valid_yet_is_refused(issuers, keys, avisos):
    soon = int(time.time()) + 300
    refused(send(hs(nbf=soon)), "This token is not valid yet (nbf).")
    refused(send(rs(keys, nbf=soon, iat=soon)))
    assert not Message.objects.exists()


def test_a_jwt_from_another_issuer_is_refused(issuers, keys, avisos):
    forged_issuer = jwt.encode(claims("https://evil.example.org"), HS_SECRET, algorithm="HS256")
    refused(send(forged_issuer), "This token's issuer is not accepted.")
    refused(send(hs(iss=None)), "This token's issuer is not accepted.")
    listed = handmade(
        {"alg": "HS256", "typ": "JWT"},
        claims(iss=["https://hs.example.org"]),
        lambda signing_input: hmac.new(HS_SECRET.encode(), signing_input, hashlib.sha256).digest(),
    )
    refused(send(listed), "This token's issuer is not accepted.")
    assert not Message.objects.exists()


def test_a_jwt_for_another_audience_or_without_one_is_refused(issuers, keys, avisos):
    for raw in (hs(aud="another-api"), hs(aud=None), rs(keys, aud="another-api"), es(keys, aud=["x", "y"])):
        refused(send(raw))
    assert not Message.objects.exists()


def test_a_jwt_without_exp_or_sub_is_refused(issuers, keys, avisos):
    for raw in (hs(exp=None), rs(keys, exp=None), hs(sub=None), hs(sub=""), hs(sub="   ")):
        refused(send(raw))
    assert not Message.objects.exists()


def test_a_jwt_signed_with_the_wrong_key_is_refused(issuers, keys, avisos):
    refused(send(hs(secret="another-secret-that-is-also-32-characters-long")))
    refused(send(rs(keys, key="rsa_other")))
    refused(send(es(keys, key="ec_other")))
    tampered = hs(scope="messages:read").split(".")
    tampered[1] = b64(json.dumps(claims(scope="messages:write")).encode())
    refused(send(".".join(tampered)))
    assert not Message.objects.exists()


def test_an_unsigned_jwt_is_refused(issuers, keys, avisos):
    for issuer in ("https://hs.example.org", "https://rs.example.org", "https://es.example.org"):
        for alg in ("none", "None", "NONE"):
            refused(send(handmade({"alg": alg, "typ": "JWT"}, claims(issuer))))
    assert not Message.objects.exists()


def test_algorithm_confusion_is_refused(issuers, keys, avisos):
    """An HS256 token "signed" with the RS256/ES256 issuer's public key (which anyone has) as the HMAC secret,
    and an RS256 token presented to the HS256 issuer: the algorithm is the issuer's, never the token's."""
    for issuer, key in (("https://rs.example.org", "rsa_public"), ("https://es.example.org", "ec_public")):
        secret = keys[key].encode()
        for public in (secret, secret.strip()):
            forged = handmade(
                {"alg": "HS256", "typ": "JWT"},
                claims(issuer, scp="messages:write"),
                lambda signing_input, public=public: hmac.new(public, signing_input, hashlib.sha256).digest(),
            )
            refused(send(forged))
    rs_for_hs = jwt.encode(claims("https://hs.example.org"), keys["rsa"], algorithm="RS256")
    refused(send(rs_for_hs))
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "raw",
    ["a.b.c", "x" * 9000, "eyJhbGciOiJIUzI1NiJ9..", "...", "a.b", "e30.e30.e30"],
    ids=["garbage", "huge", "empty-parts", "dots", "two-parts", "empty-objects"],
)
def test_malformed_jwts_are_refused_without_an_error(issuers, avisos, raw):
    refused(send(raw))


# --- Scopes and ownership ------------------------------------------------------------------------------
def test_a_scope_the_issuer_may_not_grant_is_ignored(issuers, keys, avisos):
    response = send(es(keys, scp="messages:write messages:read jobs:write"))

    assert response.status_code == 403 and response.json() == {"detail": "This token lacks the scope messages:write."}
    unknown = send(hs(scope="messages:send admin"))
    assert unknown.status_code == 403 and "messages:write" in unknown.json()["detail"]
    assert not Message.objects.exists()


def test_messages_are_private_to_the_issuer_and_subject(issuers, keys, avisos):
    created = send(hs(sub="service-a"))
    assert created.status_code == 201
    pk = created.json()["id"]

    assert read(hs(sub="service-a"), pk).status_code == 200
    assert read(hs(sub="service-b"), pk).status_code == 404  # another subject of the same issuer
    assert read(rs(keys, sub="service-a"), pk).status_code == 404  # the same subject at another issuer
    assert Client().delete(f"{MESSAGES}/{pk}", **auth(hs(sub="service-b"))).status_code == 404
    assert send(hs(sub="service-b")).status_code == 409  # its (service, key) is taken by another caller
    assert Message.objects.get().status == "scheduled"


def test_a_long_issuer_and_subject_make_distinct_callers(settings, avisos):
    issuer = "https://" + "i" * 150 + ".example.org"
    settings.VIGIA_API_JWT_ISSUERS = {issuer: {"algorithm": "HS256", "secret": HS_SECRET}}
    first, second = "s" * 120 + "1", "s" * 120 + "2"  # the same first 120 characters

    def token(subject):
        return jwt.encode(claims(issuer, sub=subject, aud=None), HS_SECRET, algorithm="HS256")

    created = send(token(first))
    assert created.status_code == 201, created.content
    assert len(Message.objects.get().caller) <= 200
    assert read(token(second), created.json()["id"]).status_code == 404
    assert read(token(first), created.json()["id"]).status_code == 200
