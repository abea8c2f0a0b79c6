"""The hub's certificate authority: create and load it, issue server and agent certificates.

An agent certificate names exactly one cluster, twice and consistently: a URI SAN
``gamefleet://cluster/NAME`` (the identity the hub reads) and the subject CN ``cluster:NAME``
(for people reading the certificate). :func:`cluster_identity` accepts a certificate only when
both agree and it is meant for client authentication.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.core import names

CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
CLUSTER_URI_PREFIX = "gamefleet://cluster/"
CLUSTER_CN_PREFIX = "cluster:"

CA_VALIDITY = datetime.timedelta(days=3652)
SERVER_VALIDITY = datetime.timedelta(days=365)
AGENT_VALIDITY = datetime.timedelta(days=365)
# Tolerate clocks a little behind the hub's.
BACKDATE = datetime.timedelta(minutes=5)

DEFAULT_SERVER_DNS = ("localhost",)
DEFAULT_SERVER_IPS = ("127.0.0.1",)

PRIVATE_FILE_MODE = 0o600


class IdentityError(ValueError):
    """A certificate carries no valid gamefleet cluster identity."""


@dataclasses.dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclasses.dataclass(frozen=True)
class IssuedCertificate:
    """A certificate with its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes


def validate_cluster_name(name: str, field: str = "cluster") -> None:
    """Raise ValueError naming ``field`` unless ``name`` is a DNS-1123 label."""
    if not name:
        raise ValueError(f"{field}: must be non-empty")
    problem = names.dns1123_label_problem(name)
    if problem is not None:
        raise ValueError(f"{field}: {name!r} {problem}")


def _now(now: datetime.datetime | None) -> datetime.datetime:
    return now if now is not None else datetime.datetime.now(datetime.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def new_ca(
    common_name: str = "gamefleet hub CA", *, now: datetime.datetime | None = None
) -> CertificateAuthority:
    """A new self-signed CA with an EC P-256 key, valid for ten years."""
    start = _now(now)
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(start + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(certificate, key)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new or existing file that only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, PRIVATE_FILE_MODE)  # O_CREAT's mode does not apply to an existing file


def write_ca(ca: CertificateAuthority, directory: Path) -> None:
    """Write ``ca.crt`` and ``ca.key`` (mode 0600) into ``directory``; refuse to replace a CA."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in (CA_CERT_FILE, CA_KEY_FILE):
        if (directory / name).exists():
            raise FileExistsError(f"{directory / name} exists; not replacing a CA")
    write_private(directory / CA_KEY_FILE, _key_pem(ca.key))
    (directory / CA_CERT_FILE).write_bytes(ca.cert_pem)


def create_ca(
    directory: Path,
    common_name: str = "gamefleet hub CA",
    *,
    now: datetime.datetime | None = None,
) -> CertificateAuthority:
    """Create a CA and write it into ``directory``."""
    ca = new_ca(common_name, now=now)
    write_ca(ca, directory)
    return ca


def load_ca(directory: Path) -> CertificateAuthority:
    """Read ``ca.crt`` and ``ca.key`` from ``directory``; ValueError if they do not match."""
    certificate = x509.load_pem_x509_certificate((directory / CA_CERT_FILE).read_bytes())
    key = serialization.load_pem_private_key((directory / CA_KEY_FILE).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{directory / CA_KEY_FILE}: not an EC private key")
    if key.public_key() != certificate.public_key():
        raise ValueError(f"{directory / CA_KEY_FILE}: does not match {directory / CA_CERT_FILE}")
    return CertificateAuthority(certificate, key)


def _leaf_builder(
    ca: CertificateAuthority,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    start: datetime.datetime,
    validity: datetime.timedelta,
) -> x509.CertificateBuilder:
    ca_key_id = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    end = min(start + validity, ca.certificate.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id.value),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def issue_server_cert(
    ca: CertificateAuthority,
    dns_names: Sequence[str] = DEFAULT_SERVER_DNS,
    ips: Sequence[str] = DEFAULT_SERVER_IPS,
    *,
    now: datetime.datetime | None = None,
) -> IssuedCertificate:
    """The hub's serving certificate for ``dns_names`` and ``ips`` (at least one of them)."""
    sans: list[x509.GeneralName] = []
    for dns in dns_names:
        problem = names.dns1123_subdomain_problem(dns.removeprefix("*."))
        if problem is not None:
            raise ValueError(f"dns: {dns!r} {problem}")
        sans.append(x509.DNSName(dns))
    for ip in ips:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError as exc:
            raise ValueError(f"ip: {ip!r} is not an IP address") from exc
    if not sans:
        raise ValueError("dns: a server certificate needs at least one DNS name or IP")
    key = _new_key()
    common_name = dns_names[0] if dns_names else ips[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        _leaf_builder(ca, subject, key, _now(now), SERVER_VALIDITY)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return IssuedCertificate(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_agent_cert(
    ca: CertificateAuthority, cluster: str, *, now: datetime.datetime | None = None
) -> IssuedCertificate:
    """A client certificate for the agent of ``cluster``, valid for one year."""
    validate_cluster_name(cluster)
    key = _new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gamefleet agents"),
            x509.NameAttribute(NameOID.COMMON_NAME, CLUSTER_CN_PREFIX + cluster),
        ]
    )
    san = x509.SubjectAlternativeName(
        [x509.UniformResourceIdentifier(CLUSTER_URI_PREFIX + cluster)]
    )
    certificate = (
        _leaf_builder(ca, subject, key, _now(now), AGENT_VALIDITY)
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return IssuedCertificate(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def load_certificate(data: bytes) -> x509.Certificate:
    """Parse one certificate, PEM or DER."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def cluster_identity(certificate: x509.Certificate | bytes) -> str:
    """The cluster an agent certificate names; IdentityError when it names none or is ambiguous.

    Checks only what the certificate says: the TLS handshake has already verified that the hub's
    CA signed it and that it is within its validity period.
    """
    cert = certificate if isinstance(certificate, x509.Certificate) else _parse(certificate)
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise IdentityError("certificate has no extended key usage") from None
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
        raise IdentityError("certificate is not for client authentication")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("certificate has no subject alternative name") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    clusters = [uri.removeprefix(CLUSTER_URI_PREFIX) for uri in _cluster_uris(uris)]
    if len(clusters) != 1:
        raise IdentityError(f"certificate names {len(clusters)} clusters, not exactly one")
    cluster = clusters[0]
    try:
        validate_cluster_name(cluster)
    except ValueError as exc:
        raise IdentityError(str(exc)) from None
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [attribute.value for attribute in common_names] != [CLUSTER_CN_PREFIX + cluster]:
        raise IdentityError(f"certificate common name does not match cluster {cluster!r}")
    return cluster


def _cluster_uris(uris: Iterable[str]) -> list[str]:
    return [uri for uri in uris if uri.startswith(CLUSTER_URI_PREFIX)]


def _parse(data: bytes) -> x509.Certificate:
    try:
        return load_certificate(data)
    except ValueError as exc:
        raise IdentityError(f"not a certificate: {exc}") from None


def write_issued(issued: IssuedCertificate, directory: Path, stem: str) -> tuple[Path, Path]:
    """Write ``STEM.crt`` and ``STEM.key`` (mode 0600) into ``directory``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    write_private(key_path, issued.key_pem)
    cert_path.write_bytes(issued.cert_pem)
    return cert_path, key_path
