"""Real KEDA on a local cluster: its operator and its metrics adapter, built from KEDA's Go
module at the pinned version (tests/localcluster/build.sh), run as local processes the way the
cluster's own binaries run.

What KEDA's Helm chart would set up, done by hand for one namespace:
- KEDA's CRDs (ScaledObject, TriggerAuthentication, ...), of the same release;
- the operator, watching one namespace: it reads ScaledObjects, asks external scalers for
  their metric specs, creates each ScaledObject's HPA and answers the adapter's gRPC calls
  (mTLS with one certificate of a throwaway CA, as KEDA's own cert rotation would make);
- the metrics adapter: the extension API server of ``external.metrics.k8s.io``, which the
  HPA controller (in kube-controller-manager) asks for the metric; the API server reaches it
  through an APIService and a Service of type ExternalName naming the loopback address (the
  local clusters have no pod network), and it trusts the API server's front-proxy client
  certificate (tests/localcluster/pki.py).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import ipaddress
import os
import pathlib
import socket
import subprocess
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.localcluster.versions import binary_dir, binary_path

API_SERVICE = "v1beta1.external.metrics.k8s.io"
ADAPTER_SERVICE = "keda-metrics-apiserver"


def crds() -> pathlib.Path:
    """KEDA's CRDs of the pinned release (copied by build.sh)."""
    path = binary_dir("keda-operator") / "crds.yaml"
    if not path.is_file():
        binary_path("keda-operator")  # raises, naming the build command
        raise FileNotFoundError(f"{path}: run `make cluster-binaries`")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_certificates(directory: pathlib.Path, dns_names: list[str]) -> bytes:
    """ca.crt, tls.crt and tls.key in ``directory``: a CA and one certificate for both ends of
    the operator's gRPC (server and client) and the adapter's HTTPS, for loopback and
    ``dns_names``. Returns the CA's PEM."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keda test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in ["localhost", *dns_names]]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keda")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    (directory / "ca.crt").write_bytes(ca_pem)
    (directory / "tls.crt").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "tls.key").write_bytes(_pem(key))
    (directory / "tls.key").chmod(0o600)
    return ca_pem


@dataclasses.dataclass
class Keda:
    """KEDA's two processes for one namespace, and the objects that wire the adapter in."""

    kubeconfig: pathlib.Path
    namespace: str
    workdir: pathlib.Path
    processes: list[subprocess.Popen[bytes]] = dataclasses.field(default_factory=list)
    adapter_port: int = 0
    ca_pem: bytes = b""

    @property
    def certs(self) -> pathlib.Path:
        return self.workdir / "certs"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "WATCH_NAMESPACE": self.namespace,
            "KEDA_CLUSTER_OBJECT_NAMESPACE": self.namespace,
            "POD_NAMESPACE": self.namespace,
        }

    def _spawn(self, name: str, args: list[str]) -> None:
        with (self.workdir / f"{name}.log").open("ab") as log:
            self.processes.append(
                subprocess.Popen(
                    [str(binary_path(name)), *args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._env(),
                    cwd=self.workdir,
                )
            )

    def start(self) -> Keda:
        service = f"{ADAPTER_SERVICE}.{self.namespace}.svc"
        self.ca_pem = write_certificates(self.certs, [service])
        grpc_port, self.adapter_port = free_port(), free_port()
        kubeconfig = str(self.kubeconfig)
        self._spawn("keda-operator", [
            f"--kubeconfig={kubeconfig}", "--metrics-bind-address=0",
            f"--health-probe-bind-address=127.0.0.1:{free_port()}",
            f"--metrics-service-bind-address=127.0.0.1:{grpc_port}",
            f"--cert-dir={self.certs}", f"--ca-dir={self.certs}", "--zap-log-level=info",
        ])  # fmt: skip
        self._spawn("keda-adapter", [
            f"--kubeconfig={kubeconfig}", f"--lister-kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={self.adapter_port}",
            f"--tls-cert-file={self.certs / 'tls.crt'}",
            f"--tls-private-key-file={self.certs / 'tls.key'}",
            f"--cert-dir={self.certs}", f"--metrics-service-address=127.0.0.1:{grpc_port}",
            f"--port={free_port()}", "--v=2",
        ])  # fmt: skip
        return self

    def wiring(self) -> list[dict[str, Any]]:
        """The Service and APIService that send external.metrics.k8s.io to the adapter."""
        return [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": ADAPTER_SERVICE, "namespace": self.namespace},
                "spec": {
                    "type": "ExternalName",
                    "externalName": "localhost",
                    "ports": [{"name": "https", "port": self.adapter_port}],
                },
            },
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": API_SERVICE},
                "spec": {
                    "group": "external.metrics.k8s.io",
                    "version": "v1beta1",
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                    "service": {
                        "name": ADAPTER_SERVICE,
                        "namespace": self.namespace,
                        "port": self.adapter_port,
                    },
                    "caBundle": base64.b64encode(self.ca_pem).decode(),
                },
            },
        ]

    def alive(self) -> list[str]:
        """Names of the processes that exited (with the last lines of their logs)."""
        dead = []
        for name, process in zip(("keda-operator", "keda-adapter"), self.processes, strict=False):
            if process.poll() is not None:
                log = (self.workdir / f"{name}.log").read_text(errors="replace").splitlines()
                dead.append(f"{name} exited {process.returncode}: " + "\n".join(log[-15:]))
        return dead

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
