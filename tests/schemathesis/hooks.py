"""schemathesis hooks for scripts/test-schemathesis.sh (loaded through SCHEMATHESIS_HOOKS=hooks).

Two things a generated request cannot get from openapi.json alone:

* Stripe webhooks are signed like Stripe signs them. A schema-valid `Stripe-Signature` (one that
  matches the documented `t=…,v1=…` pattern) is replaced by a fresh, valid signature of the exact
  bytes sent, so the Worker's event handling is exercised, not only its signature check. A
  schema-invalid or missing header (the negative cases) is sent as generated.
* The service credential acts for the account named in the body (consume, check) or the query
  (balance, transactions): exactly one of user_id, team_id, api_key_id. JSON Schema cannot make that
  depend on the credential (end users must name none), so in the `service` profile a request that
  names no account at all gets one: the funded user or the funded API key, in turn.
"""

import hashlib
import hmac
import itertools
import os
import re
import time

import schemathesis
from requests.compat import json as requests_json  # the encoder requests uses for `json=`

PROFILE = os.environ.get("FLTR_SX_PROFILE", "")
STRIPE_SECRET = os.environ.get("FLTR_SX_STRIPE_WEBHOOK_SECRET", "")
ACCOUNTS = [
    ("user_id", os.environ.get("FLTR_SX_USER_ID", "")),
    ("api_key_id", os.environ.get("FLTR_SX_API_KEY", "")),
]
ACCOUNT_FIELDS = ("user_id", "team_id", "api_key_id")
SIGNATURE = re.compile(r"^t=[0-9]{1,18}(,v[01]=[0-9a-f]{64})+\Z")
_turn = itertools.count()


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


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    if path == "/api/v1/webhooks/stripe":
        _sign_stripe(case)
    if PROFILE != "service":
        return
    if path in ("/api/v1/credits/consume", "/api/v1/credits/check") and isinstance(case.body, dict):
        _name_account(case.body)
    elif path in ("/api/v1/credits/balance", "/api/v1/credits/transactions"):
        if case.query is None:
            case.query = {}
        _name_account(case.query)
