"""A throwaway PKI for the local apiserver, modelled on controller-runtime's envtest."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)
FIRST_SERVICE_IP = "10.0.0.1"


@dataclass(frozen=True)
class Pki:
    """Paths of the files the apiserver, controller manager and kubeconfig need."""

    root: Path

    def path(self, name: str) -> Path:
        return self.root / name

    @property
    def complete(self) -> bool:
        names = ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key")
        return all(self.path(n).is_file() for n in (*names, "sa.key", "sa.pub"))


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(data)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _issue(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate | None,
    ca_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier | None,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject if ca_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca_cert is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def ensure_pki(root: Path) -> Pki:
    """Create the CA, serving, client and service-account keys once; later calls reuse them."""
    pki = Pki(root)
    if pki.complete:
        return pki
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue(
        subject=_name("caas-local-ca"), key=ca_key, ca_cert=None, ca_key=ca_key, usage=None
    )
    _write_private(pki.path("ca.key"), _key_pem(ca_key))
    pki.path("ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes.default.svc"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address(FIRST_SERVICE_IP)),
    ]
    leaves = (
        ("apiserver", _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, sans),
        # system:masters bypasses RBAC: for the admin kubeconfig and the controller manager only.
        ("admin", _name("caas-admin", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH, None),
    )
    for stem, subject, usage, leaf_sans in leaves:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(
            subject=subject, key=key, ca_cert=ca_cert, ca_key=ca_key, usage=usage, sans=leaf_sans
        )
        _write_private(pki.path(f"{stem}.key"), _key_pem(key))
        pki.path(f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    # A separate key pair signs service-account tokens, as in a real control plane.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_private(pki.path("sa.key"), _key_pem(sa_key))
    pki.path("sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki
