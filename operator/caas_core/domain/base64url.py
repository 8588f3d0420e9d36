"""Strict, canonical base64url (RFC 7515 §2): one spelling per byte string, no padding."""

import binascii
from typing import Final

# '+', '/' and '=' are not in the base64url alphabet (RFC 7515 §2 forbids padding); mapping them to
# '!' makes the strict standard decoder reject them instead of accepting a second spelling.
# Byte tables, not str ones: bytes.translate is a flat lookup, several times faster on the hot path.
_URL_TO_STD: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_STD_TO_URL: Final = bytes.maketrans(b"+/", b"-_")
_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# A final character carries spare low bits (4 when len % 4 == 2, 2 when len % 4 == 3); the decoder
# ignores them, so only the characters with those bits zero are the canonical spelling.
_CANONICAL_LAST: Final = {
    2: frozenset(_ALPHABET[::16]),
    3: frozenset(_ALPHABET[::4]),
}


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url (RFC 7515 §2)."""
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_URL).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, refusing every non-canonical spelling (encodings are unique)."""
    remainder = len(text) % 4
    if remainder == 1:
        raise ValueError("invalid base64url length")
    if remainder and text[-1] not in _CANONICAL_LAST[remainder]:
        raise ValueError("non-canonical base64url trailing bits")
    try:
        padded = text.encode("ascii").translate(_URL_TO_STD) + b"=" * (-len(text) % 4)
        return binascii.a2b_base64(padded, strict_mode=True)
    except ValueError as exc:  # binascii.Error, or UnicodeEncodeError for non-ASCII input
        raise ValueError(f"invalid base64url: {exc}") from exc
