"""The hub's CA: files, validity, server SANs, agent identity and its parsing."""

from __future__ import annotations

import datetime
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.security import ca

NOW = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def authority() -> ca.CertificateAuthority:
    return ca.new_ca(now=NOW)


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_ca_writes_a_private_key_and_loads_back(tmp_path: Path) -> None:
    created = ca.create_ca(tmp_path / "ca")
    assert _mode(tmp_path / "ca" / ca.CA_KEY_FILE) == 0o600
    loaded = ca.load_ca(tmp_path / "ca")
    assert loaded.certificate == created.certificate
    assert loaded.key.private_numbers() == created.key.private_numbers()


def test_create_ca_refuses_to_replace_a_ca(tmp_path: Path) -> None:
    ca.create_ca(tmp_path)
    before = (tmp_path / ca.CA_KEY_FILE).read_bytes()
    with pytest.raises(FileExistsError, match="not replacing a CA"):
        ca.create_ca(tmp_path)
    assert (tmp_path / ca.CA_KEY_FILE).read_bytes() == before


def test_load_ca_refuses_a_key_of_another_certificate(tmp_path: Path) -> None:
    ca.create_ca(tmp_path / "a")
    ca.create_ca(tmp_path / "b")
    (tmp_path / "a" / ca.CA_KEY_FILE).write_bytes((tmp_path / "b" / ca.CA_KEY_FILE).read_bytes())
    with pytest.raises(ValueError, match="does not match"):
        ca.load_ca(tmp_path / "a")


def test_ca_is_a_ten_year_p256_ca(authority: ca.CertificateAuthority) -> None:
    cert = authority.certificate
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert authority.key.curve.name == "secp256r1"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.issuer == cert.subject
    lifetime = cert.not_valid_after_utc - NOW
    assert datetime.timedelta(days=3650) <= lifetime <= datetime.timedelta(days=3653)


def test_agent_certificate_names_its_cluster(authority: ca.CertificateAuthority) -> None:
    issued = ca.issue_agent_cert(authority, "eu-west-1", now=NOW)
    cert = _cert(issued.cert_pem)
    cert.verify_directly_issued_by(authority.certificate)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "gamefleet://cluster/eu-west-1"
    ]
    common_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == "cluster:eu-west-1"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.not_valid_after_utc - NOW == datetime.timedelta(days=365)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_agent_key_matches_its_certificate(authority: ca.CertificateAuthority) -> None:
    issued = ca.issue_agent_cert(authority, "a")
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert key.public_key() == _cert(issued.cert_pem).public_key()


def test_identity_parses_from_pem_der_and_object(authority: ca.CertificateAuthority) -> None:
    cert = _cert(ca.issue_agent_cert(authority, "alpha").cert_pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    assert ca.cluster_identity(cert) == "alpha"
    assert ca.cluster_identity(der) == "alpha"
    assert ca.cluster_identity(pem) == "alpha"


@pytest.mark.parametrize(
    "name", ["", "Alpha", "-a", "a-", "a_b", "a.b", "a" * 64, "cluster/other", "ä"]
)
def test_agent_certificate_needs_a_dns_label(authority: ca.CertificateAuthority, name: str) -> None:
    with pytest.raises(ValueError, match=r"^cluster: "):
        ca.issue_agent_cert(authority, name)


def test_cluster_name_error_names_the_given_field() -> None:
    with pytest.raises(ValueError, match=r"^--cluster: 'A' must consist"):
        ca.validate_cluster_name("A", field="--cluster")


def test_server_certificate_defaults_to_localhost(authority: ca.CertificateAuthority) -> None:
    cert = _cert(ca.issue_server_cert(authority).cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_server_certificate_takes_names_and_ips(authority: ca.CertificateAuthority) -> None:
    issued = ca.issue_server_cert(authority, ["hub.example.com", "*.hub.internal"], ["::1"])
    san = _cert(issued.cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["hub.example.com", "*.hub.internal"]
    assert san.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("::1")]


@pytest.mark.parametrize(
    ("dns", "ips", "message"),
    [
        (["Bad_Name"], [], r"^dns: 'Bad_Name'"),
        ([], ["300.1.1.1"], r"^ip: '300.1.1.1' is not an IP address"),
        ([], [], r"^dns: a server certificate needs"),
    ],
)
def test_server_certificate_refuses_bad_names(
    authority: ca.CertificateAuthority, dns: list[str], ips: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ca.issue_server_cert(authority, dns, ips)


def test_leaf_never_outlives_its_ca(authority: ca.CertificateAuthority) -> None:
    late = authority.certificate.not_valid_after_utc - datetime.timedelta(days=10)
    cert = _cert(ca.issue_agent_cert(authority, "a", now=late).cert_pem)
    assert cert.not_valid_after_utc == authority.certificate.not_valid_after_utc


def _custom(
    authority: ca.CertificateAuthority,
    common_name: str,
    uris: list[str],
    usage: list[x509.ObjectIdentifier] | None,
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=1))
    )
    if uris:
        names = [x509.UniformResourceIdentifier(uri) for uri in uris]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(authority.key, hashes.SHA256())


CLIENT = [ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.mark.parametrize(
    ("common_name", "uris", "usage", "message"),
    [
        ("cluster:a", ["gamefleet://cluster/a"], None, "no extended key usage"),
        (
            "cluster:a",
            ["gamefleet://cluster/a"],
            [ExtendedKeyUsageOID.SERVER_AUTH],
            "not for client authentication",
        ),
        ("cluster:a", [], CLIENT, "no subject alternative name"),
        ("cluster:a", ["spiffe://x/a"], CLIENT, "names 0 clusters"),
        (
            "cluster:a",
            ["gamefleet://cluster/a", "gamefleet://cluster/b"],
            CLIENT,
            "names 2 clusters",
        ),
        ("cluster:b", ["gamefleet://cluster/a"], CLIENT, "common name does not match"),
        ("cluster:A", ["gamefleet://cluster/A"], CLIENT, "cluster: 'A' must consist"),
        ("cluster:a/b", ["gamefleet://cluster/a/b"], CLIENT, "cluster: 'a/b' must consist"),
    ],
)
def test_identity_refuses_ambiguous_or_foreign_certificates(
    authority: ca.CertificateAuthority,
    common_name: str,
    uris: list[str],
    usage: list[x509.ObjectIdentifier] | None,
    message: str,
) -> None:
    with pytest.raises(ca.IdentityError, match=message):
        ca.cluster_identity(_custom(authority, common_name, uris, usage))


def test_server_certificate_is_no_identity(authority: ca.CertificateAuthority) -> None:
    with pytest.raises(ca.IdentityError, match="not for client authentication"):
        ca.cluster_identity(ca.issue_server_cert(authority).cert_pem)


def test_identity_of_garbage_is_an_identity_error() -> None:
    with pytest.raises(ca.IdentityError, match="not a certificate"):
        ca.cluster_identity(b"not a certificate")


def test_write_issued_keeps_keys_private(
    authority: ca.CertificateAuthority, tmp_path: Path
) -> None:
    issued = ca.issue_agent_cert(authority, "a")
    (tmp_path / "a.key").write_bytes(b"old")
    (tmp_path / "a.key").chmod(0o644)
    cert_path, key_path = ca.write_issued(issued, tmp_path, "a")
    assert _mode(key_path) == 0o600
    assert key_path.read_bytes() == issued.key_pem
    assert cert_path.read_bytes() == issued.cert_pem
