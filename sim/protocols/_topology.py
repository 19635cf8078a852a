"""Overlay topologies for epidemic protocols: who may talk to whom, built once per run.

A full mesh is never materialised (at 10,000 nodes a complete graph has ~50M edges): peers
are sampled directly from the node list. Other graphs are built with networkx, seeded from
the run's protocol stream, and kept as one sorted neighbour tuple per node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from sim.exact_types import ExactScalars
from sim.scenario_parts import FOLDER_CONTEXT, anchored_path

if TYPE_CHECKING:
    import numpy as np


class _Spec(ExactScalars):
    model_config = ConfigDict(extra="forbid")


class MeshTopology(_Spec):
    """Every node may contact every other node (the default)."""

    kind: Literal["mesh"] = "mesh"


class RingTopology(_Spec):
    """Each node talks to its two ring neighbours."""

    kind: Literal["ring"]


class RandomRegularTopology(_Spec):
    """A random graph where every node has `degree` neighbours."""

    kind: Literal["random_regular"]
    degree: Annotated[int, Field(ge=1)] = 4


class SmallWorldTopology(_Spec):
    """Watts-Strogatz: a ring lattice of `k` neighbours, each edge rewired with probability `p`."""

    kind: Literal["small_world"]
    k: Annotated[int, Field(ge=2)] = 4
    p: Annotated[float, Field(ge=0, le=1)] = 0.1


class ScaleFreeTopology(_Spec):
    """Barabasi-Albert preferential attachment: each new node attaches `m` edges."""

    kind: Literal["scale_free"]
    m: Annotated[int, Field(ge=1)] = 2


class FileTopology(_Spec):
    """An edge list file: two node names per line, '#' starts a comment.

    A relative `path` is found from the folder of the scenario file that names it, as `extends:`
    and a `mechanism: file.py:Class` are; in a base file read through `extends:`, from the base's
    folder (see `sim.extends`). Loading makes it absolute, so the resolved scenario (a run
    directory's `scenario.yaml`, sweep and explore workers) finds the same file from any working
    folder. Validated without a scenario file (no folder in the context), it stays as written:
    relative to the working folder.
    """

    kind: Literal["file"]
    path: str

    @field_validator("path")
    @classmethod
    def _from_scenario_folder(cls, value: str, info: ValidationInfo) -> str:
        context = info.context if isinstance(info.context, dict) else {}
        folder = context.get(FOLDER_CONTEXT)
        return anchored_path(value, folder) if folder is not None else value


TopologySpec = Annotated[
    MeshTopology | RingTopology | RandomRegularTopology | SmallWorldTopology | ScaleFreeTopology | FileTopology,
    Field(discriminator="kind"),
]


@dataclass(frozen=True)
class Overlay:
    """Read-only topology shared by every node: node order, index, and neighbours (None: full mesh)."""

    nodes: tuple[str, ...]
    index: dict[str, int]
    neighbours: dict[str, tuple[str, ...]] | None
    key: int = 0
    """A 63-bit number drawn from the run's protocol stream, for the nodes' own random streams."""
    last_made: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """The last message a node made from its state, by that state (one entry): a node whose state
    is equal takes the same immutable object (gossip's digests; see `Gossip._digest`)."""


def read_edges(path: str) -> list[tuple[str, str]]:
    """Edges of an edge-list file: two names per non-empty line, '#' starts a comment.

    Raises:
        ValueError: when a line does not hold exactly two names.

    """
    edges: list[tuple[str, str]] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        words = line.split("#", 1)[0].replace(",", " ").split()
        if not words:
            continue
        if len(words) != 2:
            raise ValueError(f"line {number}: expected two node names, got {len(words)}")
        edges.append((words[0], words[1]))
    return edges


def check_topology(spec: TopologySpec, nodes: list[str]) -> list[tuple[str, str]]:
    """Problems with a topology for these nodes, as (field, problem) pairs."""
    n = len(nodes)
    where = "protocol.topology"
    if isinstance(spec, RandomRegularTopology):
        if spec.degree >= n:
            return [(f"{where}.degree", f"must be below the number of nodes ({n})")]
        if (spec.degree * n) % 2:
            return [(f"{where}.degree", f"degree x nodes must be even (got {spec.degree} x {n})")]
    elif isinstance(spec, SmallWorldTopology):
        if spec.k >= n:
            return [(f"{where}.k", f"must be below the number of nodes ({n})")]
    elif isinstance(spec, ScaleFreeTopology):
        if spec.m >= n:
            return [(f"{where}.m", f"must be below the number of nodes ({n})")]
    elif isinstance(spec, RingTopology) and n < 3:
        return [(where, "a ring needs at least 3 nodes")]
    elif isinstance(spec, FileTopology):
        if not Path(spec.path).is_file():
            # Named as it was looked for: a relative path is the scenario folder's, not the working folder's.
            found = Path(spec.path).absolute().as_posix()
            return [(f"{where}.path", f"no such file {found!r} (a relative path is found from the scenario file's folder)")]
        try:
            edges = read_edges(spec.path)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            return [(f"{where}.path", f"{spec.path}: {exc}")]
        known = set(nodes)
        for a, b in edges:
            for name in (a, b):
                if name not in known:
                    return [(f"{where}.path", f"{spec.path} names unknown node {name!r}")]
    return []


def build_overlay(spec: TopologySpec, nodes: list[str], rng: np.random.Generator) -> Overlay:
    """Build the overlay; random graphs and the streams' key are drawn from `rng` so a run is reproducible."""
    index = {name: i for i, name in enumerate(nodes)}
    if isinstance(spec, MeshTopology):
        return Overlay(tuple(nodes), index, None, int(rng.integers(2**63)))
    import networkx as nx  # only overlays other than the full mesh need it; validation does not

    n = len(nodes)
    seed = int(rng.integers(2**32))
    key = int(rng.integers(2**63))
    if isinstance(spec, RingTopology):
        graph = nx.cycle_graph(n)
    elif isinstance(spec, RandomRegularTopology):
        graph = nx.random_regular_graph(spec.degree, n, seed=seed)
    elif isinstance(spec, SmallWorldTopology):
        graph = nx.watts_strogatz_graph(n, spec.k, spec.p, seed=seed)
    elif isinstance(spec, ScaleFreeTopology):
        graph = nx.barabasi_albert_graph(n, spec.m, seed=seed)
    else:
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from((index[a], index[b]) for a, b in read_edges(spec.path) if a != b)
    neighbours = {nodes[i]: tuple(nodes[j] for j in sorted(graph.adj[i])) for i in range(n)}
    return Overlay(tuple(nodes), index, neighbours, key)
