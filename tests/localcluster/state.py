"""What a running local cluster is, and where it is recorded on disk."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib

CHECKOUT = pathlib.Path(__file__).resolve().parents[2]
REGIONS = (
    "eu-west-1",
    "us-east-1",
    "ap-southeast-1",
    "sa-east-1",
    "eu-central-1",
    "us-west-2",
    "ap-northeast-1",
    "af-south-1",
)
NAME_PREFIX = "gamefleet-"


def root() -> pathlib.Path:
    """Folder holding one subfolder per cluster; GAMEFLEET_CLUSTERS_DIR overrides."""
    if explicit := os.environ.get("GAMEFLEET_CLUSTERS_DIR"):
        return pathlib.Path(explicit)
    return CHECKOUT / ".local" / "clusters"


def cluster_name(index: int) -> str:
    return f"{NAME_PREFIX}{index + 1}"


def region_of(index: int) -> str:
    return REGIONS[index % len(REGIONS)] + ("" if index < len(REGIONS) else f"-{index}")


@dataclasses.dataclass
class Cluster:
    name: str
    index: int
    runtime: str  # "binary" or "kind"
    api_url: str
    region: str
    zone_prefix: str  # zone of node j is zone_prefix + "abc"[j % 3]
    nodes: int
    pod_cidr: str = ""
    ports: dict[str, int] = dataclasses.field(default_factory=dict)
    # process name -> [pid, executable]
    pids: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)
    # What the runtime started it with (binary: a hash of kwok's stages); a cluster started
    # with another setup is restarted instead of reused.
    setup: str = ""

    @property
    def dir(self) -> pathlib.Path:
        return root() / self.name

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.dir / "kubeconfig"

    @property
    def zones(self) -> list[str]:
        return [zone_of(self.zone_prefix, j) for j in range(self.nodes)]

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        tmp.replace(self.dir / "state.json")


def zone_of(zone_prefix: str, node_index: int) -> str:
    return zone_prefix + "abc"[node_index % 3]


def load(name: str) -> Cluster | None:
    path = root() / name / "state.json"
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    raw["pids"] = {k: (int(v[0]), str(v[1])) for k, v in raw.get("pids", {}).items()}
    return Cluster(**raw)


def load_all() -> list[Cluster]:
    if not root().is_dir():
        return []
    found = (load(p.name) for p in sorted(root().iterdir()) if p.is_dir())
    return sorted((c for c in found if c is not None), key=lambda c: c.index)
