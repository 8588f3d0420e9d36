"""Device information recorded with a session (reported by the tenant back end, untrusted)."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    """What the tenant back end told us about the device (all optional, all short strings)."""

    device_id: str | None = None
    name: str | None = None
    platform: str | None = None
    fingerprint: str | None = None
    app_version: str | None = None
