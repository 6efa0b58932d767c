"""schemathesis hooks for scripts/test-schemathesis.sh (loaded through SCHEMATHESIS_HOOKS=hooks).

Two things a generated request cannot get from openapi.json alone:

* Stripe webhooks are signed like Stripe signs them. A schema-valid `Stripe-Signature` (one that
  matches the documented `t=…,v1=…` pattern) is replaced by a fresh, valid signature of the exact
  bytes sent, so the Worker's event handling is exercised, not only its signature check. A
  schema-invalid or missing header (the negative cases) is sent as generated.
* The service credential acts for the account named in the body (consume, check, holds) or the query
  (balance, transactions): exactly one of user_id, team_id, api_key_id. JSON Schema cannot make that
  depend on the credential (end users must name none), so in the `service` profile a request that
  names no account at all gets one: the funded user or the funded API key (by its public id), in
  turn. Creating and listing keys names a user the same way (`user_id`).
* Keys are named by their public id in paths. A schema-valid id for `allocate` becomes the funded
  key's id, so allocations can succeed (a made-up id would only ever exercise the 404). Changing,
  rotating or revoking the funded key would leave later runs without a working key, so those
  routes name the same user's spare key instead when they name the funded one (schemathesis finds
  its id in list and balance answers); keys that schemathesis creates itself are fair game.
* Usage ranges: `to` must lie 1 to 366 days after `from`, which JSON Schema cannot say: two
  schema-valid dates become such a range.
* `expires_at` (API keys, grants) must lie in the future (at most ten years ahead), which JSON
  Schema cannot say: a schema-valid one becomes tomorrow.
* Holds are named by ids the server made. A schema-valid `hold_id` (one matching the documented
  pattern) that no answer of this run has shown becomes a fresh hold of 100 credits opened with the
  run's own credential (the service opens it on the funded user), one per request, so reads,
  captures and the service's releases can succeed; a hold a `createHold` answer showed (the
  stateful phase follows the links) is kept. An end user's release stays as generated: it is 403
  whatever it names.
* A capture takes at most what is held, which only the hold knows: a schema-valid amount above it
  is wrapped into 0..held. A generated hold's `ttl_seconds` is cut to a minute, so the holds a run
  opens stop counting against the funded accounts soon after it.
"""

import datetime
import hashlib
import hmac
import itertools
import os
import re
import time

import requests
import schemathesis
from requests.compat import json as requests_json  # the encoder requests uses for `json=`

PROFILE = os.environ.get("FLTR_SX_PROFILE", "")
BASE = os.environ.get("FLTR_SX_BASE", "")
# The run's credential as given to schemathesis' --header ("Name: value"; empty for `public`).
CREDENTIAL = os.environ.get("FLTR_SX_HEADER", "")
STRIPE_SECRET = os.environ.get("FLTR_SX_STRIPE_WEBHOOK_SECRET", "")
USER_ID = os.environ.get("FLTR_SX_USER_ID", "")
API_KEY = os.environ.get("FLTR_SX_API_KEY", "")


def _legacy_key_id(secret):
    """The public id a key written the seed's way takes at its first use (tests/schemathesis/serve.mjs
    writes and uses the funded key so): `key_` + the first 20 hex digits of the secret's SHA-256."""
    return "key_" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:20] if secret else ""


API_KEY_ID = os.environ.get("FLTR_SX_API_KEY_ID") or _legacy_key_id(API_KEY)
SPARE_KEY_ID = os.environ.get("FLTR_SX_SPARE_API_KEY_ID") or _legacy_key_id(API_KEY and API_KEY + "_spare")
ACCOUNTS = [
    ("user_id", USER_ID),
    ("api_key_id", API_KEY_ID),
]
ACCOUNT_FIELDS = ("user_id", "team_id", "api_key_id")
SIGNATURE = re.compile(r"^t=[0-9]{1,18}(,v[01]=[0-9a-f]{64})+\Z")
# openapi.json's pattern of expires_at (a UTC time as the Worker reads it).
EXPIRY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?(Z|z|[+]00:00|[+]00)?\Z")
_turn = itertools.count()
# openapi.json's pattern of hold ids; holds opened by the hooks, and the longest a generated hold lives.
HOLD_ID = re.compile(r"^hold_[0-9a-f]{32}\Z")
HOLD_AMOUNT = 100
HOLD_TTL_SECONDS_MAX = 60
AMOUNT_MAX = 2_147_483_647
HOLD_PATHS = (
    "/api/v1/credits/holds/{hold_id}",
    "/api/v1/credits/holds/{hold_id}/capture",
    "/api/v1/credits/holds/{hold_id}/release",
)
# Holds this run knows (opened by the hooks, or shown by a createHold answer): id -> amount held.
_holds = {}
# Those the hooks opened. Each serves one request: schemathesis shares a case's path parameters
# between the variants it derives from it, so an id put there comes back, closed, in the next one.
_opened = set()


def _raw_json(case):
    """The bytes the requests transport sends for this case's JSON body (None: not JSON)."""
    body = case.body
    if type(body).__name__ == "NotSet":
        return b""
    if isinstance(body, bytes):
        return body
    if body is None:
        return b"null"
    try:
        return requests_json.dumps(body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        return None


def _sign_stripe(case):
    headers = case.headers or {}
    name = next((key for key in headers if key.lower() == "stripe-signature"), None)
    if name is None or not isinstance(headers[name], str) or not SIGNATURE.match(headers[name]):
        return
    if not STRIPE_SECRET or (case.media_type or "application/json") != "application/json":
        return
    payload = _raw_json(case)
    if payload is None:
        return
    timestamp = int(time.time())
    signature = hmac.new(STRIPE_SECRET.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    headers[name] = f"t={timestamp},v1={signature}"


def _name_account(container):
    """Names the funded user or key when `container` names no account (absent or null fields).
    A field of another type is left alone: that request is meant to be refused."""
    if any(container.get(field) is not None for field in ACCOUNT_FIELDS):
        return
    field, value = ACCOUNTS[next(_turn) % len(ACCOUNTS)]
    if value:
        container[field] = value


def _plausible_id(value):
    """A value the KeyId path parameter's schema accepts (it is then swapped for a real id)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 255
        and value == value.strip()
        and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value)
        and not value.lower().startswith("fltr_")
        and value not in (".", "..", "revoke-leaked")
    )


def _key_in_path(case):
    path = case.operation.path
    params = case.path_parameters
    if not isinstance(params, dict) or "id" not in params:
        return
    if path == "/api/v1/api-keys/{id}/allocate":
        if API_KEY_ID and _plausible_id(params["id"]):
            params["id"] = API_KEY_ID
    elif params["id"] == API_KEY_ID and SPARE_KEY_ID:
        params["id"] = SPARE_KEY_ID


def _future_expiry(body):
    """A schema-valid expires_at (null and absent stay, and so do malformed ones, which must be
    refused) becomes tomorrow, in UTC."""
    if isinstance(body, dict) and isinstance(body.get("expires_at"), str) and EXPIRY.match(body["expires_at"]):
        tomorrow = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        body["expires_at"] = tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ")


def _name_user(container):
    """Names the funded user when `container` names none (absent or null)."""
    if container.get("user_id") is None and USER_ID:
        container["user_id"] = USER_ID


def _whole(value):
    """The integer JSON Schema sees in `value` (5 and 5.0 alike), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def _open_hold():
    """A fresh hold opened with the run's credential, or None (it could not be opened)."""
    name, _, value = CREDENTIAL.partition(":")
    if not BASE or not value.strip():
        return None
    body = {"amount": HOLD_AMOUNT, "operation": "schemathesis.hold", "ttl_seconds": HOLD_TTL_SECONDS_MAX}
    if PROFILE == "service":
        body["user_id"] = USER_ID
    answer = requests.post(f"{BASE}/api/v1/credits/holds", json=body, headers={name.strip(): value.strip()}, timeout=30)
    if answer.status_code != 201:
        return None
    hold_id = answer.json()["hold_id"]
    _holds[hold_id] = HOLD_AMOUNT
    _opened.add(hold_id)
    return hold_id


def _hold_in_path(case):
    params = case.path_parameters
    if not isinstance(params, dict) or not isinstance(params.get("hold_id"), str):
        return
    hold_id = params["hold_id"]
    releasing = case.operation.path.endswith("/release")
    unknown = hold_id not in _holds or hold_id in _opened
    if HOLD_ID.match(hold_id) and unknown and (PROFILE == "service" or not releasing):
        hold_id = _open_hold() or hold_id
        params["hold_id"] = hold_id
    body = case.body
    if case.operation.path.endswith("/capture") and isinstance(body, dict) and hold_id in _holds:
        amount = _whole(body.get("amount"))
        if amount is not None and _holds[hold_id] < amount <= AMOUNT_MAX:
            body["amount"] = amount % (_holds[hold_id] + 1)


def _short_hold(body):
    """A schema-valid ttl_seconds (1..86400) is cut to a minute; others stay, to be refused."""
    ttl_seconds = _whole(body.get("ttl_seconds")) if isinstance(body, dict) else None
    if ttl_seconds is not None and HOLD_TTL_SECONDS_MAX < ttl_seconds <= 86_400:
        body["ttl_seconds"] = HOLD_TTL_SECONDS_MAX


DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _usage_range(query):
    """Two schema-valid dates (`from`, `to`) become a range the Worker takes: `to` 1 to 366 days
    after `from` (a relation JSON Schema cannot state). Malformed or missing ones stay."""
    if not isinstance(query, dict):
        return
    if not all(isinstance(query.get(name), str) and DATE.match(query[name]) for name in ("from", "to")):
        return
    try:
        start = datetime.date.fromisoformat(query.get("from"))
        end = datetime.date.fromisoformat(query.get("to"))
    except (TypeError, ValueError):
        return
    if 1 <= (end - start).days <= 366:
        return
    start, end = min(start, end), max(start, end)
    days = 1 + (end - start).days % 366
    if (datetime.date.max - start).days < days:
        start = datetime.date.max - datetime.timedelta(days=days)
    query["from"] = start.isoformat()
    query["to"] = (start + datetime.timedelta(days=days)).isoformat()


@schemathesis.hook
def after_call(context, case, response):
    if case.operation.path == "/api/v1/credits/holds" and response.status_code in (200, 201):
        try:
            opened = response.json()
            _holds[opened["hold_id"]] = opened["amount"]
        except (ValueError, KeyError, TypeError):
            pass  # a malformed answer: the response checks report it


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    method = case.operation.method.upper()
    if path == "/api/v1/webhooks/stripe":
        _sign_stripe(case)
    if path.startswith("/api/v1/api-keys/{id}"):
        _key_in_path(case)
    if path in ("/api/v1/api-keys", "/api/v1/api-keys/{id}", "/admin/grant") and method in ("POST", "PATCH"):
        _future_expiry(case.body)
    if path in HOLD_PATHS:
        _hold_in_path(case)
    if path == "/api/v1/credits/holds":
        _short_hold(case.body)
    if path == "/api/v1/credits/usage":
        _usage_range(case.query)
    if PROFILE != "service":
        return
    if path in ("/api/v1/credits/consume", "/api/v1/credits/check", "/api/v1/credits/holds") and isinstance(case.body, dict):
        _name_account(case.body)
    elif path in ("/api/v1/credits/balance", "/api/v1/credits/transactions", "/api/v1/credits/usage"):
        if case.query is None:
            case.query = {}
        _name_account(case.query)
    elif path == "/api/v1/api-keys" and method == "POST" and isinstance(case.body, dict):
        _name_user(case.body)
    elif path == "/api/v1/api-keys" and method == "GET":
        if case.query is None:
            case.query = {}
        _name_user(case.query)
