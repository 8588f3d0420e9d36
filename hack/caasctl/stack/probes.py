"""Readiness probes: each answers None when the server is ready, else why it is not."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from caasctl.stack.pki import Pki

PROBE_TIMEOUT = 2.0


def http_ok(url: str, *, context: ssl.SSLContext | None = None) -> str | None:
    """None when GET `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT, context=context) as resp:  # noqa: S310 — fixed loopback URLs
            return None if resp.status == 200 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return str(exc)


def admin_tls(pki: Pki) -> ssl.SSLContext:
    """TLS context that trusts the local CA and presents the admin client certificate."""
    context = ssl.create_default_context(cafile=str(pki.path("ca.crt")))
    context.load_cert_chain(str(pki.path("admin.crt")), str(pki.path("admin.key")))
    return context


def apiserver_get(pki: Pki, port: int, path: str) -> dict[str, object]:
    """GET a JSON object from the apiserver as admin."""
    url = f"https://127.0.0.1:{port}{path}"
    with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT, context=admin_tls(pki)) as resp:
        body: dict[str, object] = json.loads(resp.read())
        return body


def default_service_account(pki: Pki, port: int) -> str | None:
    """The controller manager is working once it has created the default ServiceAccount."""
    try:
        apiserver_get(pki, port, "/api/v1/namespaces/default/serviceaccounts/default")
    except urllib.error.HTTPError as exc:
        return f"default ServiceAccount not created yet (HTTP {exc.code})"
    except (OSError, ValueError) as exc:
        return str(exc)
    return None


def kafka_metadata(bootstrap: str) -> str | None:
    """None when the broker answers a metadata request."""
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415 — heavy import, only when probing

    try:
        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(
            timeout=PROBE_TIMEOUT
        )
    except Exception as exc:
        return str(exc)
    return None


def mongo_ping(uri: str) -> str | None:
    """None when the server answers `ping`."""
    from pymongo import MongoClient  # noqa: PLC0415
    from pymongo.errors import PyMongoError  # noqa: PLC0415

    client: MongoClient[dict[str, object]] = MongoClient(
        uri, serverSelectionTimeoutMS=int(PROBE_TIMEOUT * 1000)
    )
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        return str(exc).split(",")[0]
    finally:
        client.close()
    return None


def redis_ping(url: str) -> str | None:
    """None when the server answers PING with our credentials."""
    import redis  # noqa: PLC0415

    client = redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT)
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc)
    finally:
        client.close()
    return None


def read_secret(path: Path) -> str:
    """A secret file's content without the trailing newline."""
    return path.read_text().strip()
