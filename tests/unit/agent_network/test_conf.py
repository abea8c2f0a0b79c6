"""networkConf parsing and validation, per plugin: every bad parameter named."""

from __future__ import annotations

import pytest

from okg.network import conf as nconf

HP = "Kubernetes-HostPort"
NP = "Kubernetes-NodePort"


def _c(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("game:8080/TCP", [("game", 8080, "TCP")]),
        ("game:8080/UDP,8081/TCPUDP", [("game", 8080, "UDP"), ("game", 8081, "TCPUDP")]),
        ("game:8080", [("game", 8080, "TCP")]),
        ("game:1/TCP,side:2/UDP", [("game", 1, "TCP"), ("side", 2, "UDP")]),
    ],
)
def test_host_port_parses(value: str, expected: list[tuple[str, int, str]]) -> None:
    parsed = nconf.parse_network(HP, _c(("ContainerPorts", value)))
    assert isinstance(parsed, nconf.HostPortConf)
    assert [(p.container, p.port, p.protocol.value) for p in parsed.container_ports] == expected


@pytest.mark.parametrize(
    ("network_type", "conf", "expected"),
    [
        (
            HP,
            _c(("ContainerPorts", "game:abc/TCP")),
            [(0, 'network.networkConf[0] ContainerPorts: "game:abc/TCP" is not'
                 " <container>:<port>/<protocol> (port 1-65535, protocol TCP, UDP or TCPUDP)")],
        ),
        (
            HP,
            _c(("ContainerPorts", "game:80/SCTP")),
            [(0, 'network.networkConf[0] ContainerPorts: "game:80/SCTP" is not'
                 " <container>:<port>/<protocol> (port 1-65535, protocol TCP, UDP or TCPUDP)")],
        ),
        (
            HP,
            _c(("ContainerPorts", "8080/TCP")),
            [(0, 'network.networkConf[0] ContainerPorts: "8080/TCP" is not'
                 " <container>:<port>/<protocol>")],
        ),
        (
            HP,
            _c(("ContainerPorts", "game:80/TCP"), ("Bogus", "x")),
            [(1, "network.networkConf[1] Bogus: unknown parameter for Kubernetes-HostPort"
                 " (known: ContainerPorts, AllocatePolicy)")],
        ),
        (
            HP,
            _c(("ContainerPorts", "game:80/TCP"), ("AllocatePolicy", "random")),
            [(1, 'network.networkConf[1] AllocatePolicy: "random" is not one of per-node,'
                 " least-used")],
        ),
        (
            HP,
            _c(("ContainerPorts", "game:80/TCP,80/TCP")),
            [(0, "network.networkConf[0] ContainerPorts: a container port is listed more"
                 " than once")],
        ),
        (HP, [], [(-1, "network.networkConf: Kubernetes-HostPort needs ContainerPorts")]),
        (
            NP,
            _c(("PortProtocols", "80/TCP,0/UDP"), ("Fixed", "yes")),
            [
                (0, 'network.networkConf[0] PortProtocols: "0/UDP" is not <port>/<protocol>'
                    " (port 1-65535, protocol TCP, UDP or TCPUDP)"),
                (1, 'network.networkConf[1] Fixed: "yes" is not true or false'),
            ],
        ),
        (
            "Kubernetes-Nope",
            [],
            [(-1, "network.networkType: 'Kubernetes-Nope' is not supported (supported:"
                  f" {', '.join(nconf.SUPPORTED)})")],
        ),
        (
            "Kubernetes-Ingress",
            _c(("Path", "game<id>"), ("Port", "http"), ("PathType", "Regex"), ("Annotation", "x")),
            [
                (0, 'network.networkConf[0] Path: "game<id>" does not start with /'),
                (1, 'network.networkConf[1] Port: "http" is not a port 1-65535'),
                (2, 'network.networkConf[2] PathType: "Regex" is not one of Exact, Prefix,'
                    " ImplementationSpecific"),
                (3, 'network.networkConf[3] Annotation: "x" is not <key>: <value>'),
            ],
        ),
        ("Kubernetes-Ingress", [], [(-1, "network.networkConf: Kubernetes-Ingress needs Path"),
                                    (-1, "network.networkConf: Kubernetes-Ingress needs Port")]),
        (NP, "not a list", [(-1, "network.networkConf: is not a list of {name, value}"),
                            (-1, "network.networkConf: Kubernetes-NodePort needs PortProtocols")]),
        (NP, [{"value": "1"}], [(0, "network.networkConf[0]: is not {name, value}"),
                                (-1, "network.networkConf: Kubernetes-NodePort needs"
                                     " PortProtocols")]),
    ],
)  # fmt: skip
def test_validate_names_each_bad_parameter(
    network_type: str, conf: object, expected: list[tuple[int, str]]
) -> None:
    assert nconf.validate_network_conf(network_type, conf) == expected


def test_valid_node_port() -> None:
    conf = _c(("PortProtocols", "8080/TCP,9000/TCPUDP"), ("Fixed", "true"))
    assert nconf.validate_network_conf(NP, conf) == []
    parsed = nconf.parse_network(NP, conf)
    assert parsed == nconf.NodePortConf(
        (
            nconf.PortProtocol(8080, nconf.Protocol.TCP),
            nconf.PortProtocol(9000, nconf.Protocol.TCPUDP),
        ),
        fixed=True,
    )


def test_container_must_be_in_the_template_when_known() -> None:
    with pytest.raises(nconf.NetworkConfError) as caught:
        nconf.parse_network(HP, _c(("ContainerPorts", "side:80/TCP")), containers=["game"])
    assert caught.value.problems == [
        (0, 'network.networkConf[0] ContainerPorts: container "side" is not in the pod template')
    ]


def test_valid_ingress() -> None:
    parsed = nconf.parse_network(
        "Kubernetes-Ingress",
        _c(("Path", "/g<id>"), ("Port", "80"), ("TlsHosts", "a.io, b.io"), ("Fixed", "true"),
           ("Annotation", "k: v: w")),
    )  # fmt: skip
    assert parsed == nconf.IngressConf(
        path="/g<id>",
        port=80,
        tls_hosts=("a.io", "b.io"),
        annotations=(("k", "v: w"),),
        fixed=True,
    )
