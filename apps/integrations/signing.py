"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature
header lists `v1,<base64 HMAC-SHA256>` once per active secret, separated by
spaces, so a receiver keeps verifying while secrets rotate.
"""

import base64
import hashlib
import hmac


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_headers(*, secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets
        ),
    }
