"""Gossip: spreading speed, last-writer-wins, partitions, checkers seen to fail, shipped scenarios."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sim import load_scenario, run
from sim.protocols._topology import MeshTopology, build_overlay
from sim.protocols.base import ClientReply, ClientRequest
from sim.protocols.gossip import Digest, Gossip, Rumor, RumorFeedback, Updates
from sim.scenario import ScenarioError, scenario_from_dict
from sim.testing import ManualContext

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def gossip_scenario(n: int, duration: str = "2s", updates: list | None = None, faults: list | None = None, **protocol: object):
    """A small gossip scenario with constant 1ms links and scripted writes."""
    return scenario_from_dict(
        {
            "name": "t",
            "mechanism": "gossip",
            "nodes": n,
            "duration": duration,
            "protocol": protocol,
            "network": {"delay": "1ms"},
            "faults": faults or [],
            "workload": {"kind": "updates", "updates": updates or [{"at": "5ms", "node": "n0", "key": "a", "value": "x"}]},
        }
    )


def manual(name: str, nodes: list[str], **config: object) -> tuple[Gossip, ManualContext]:
    """A gossip node on a hand-driven context sharing a full-mesh overlay."""
    import numpy as np

    ctx = ManualContext(name, nodes, shared=build_overlay(MeshTopology(), nodes, np.random.default_rng(0)))
    node = Gossip(ctx, Gossip.Config.model_validate(config))  # type: ignore[arg-type]
    node.on_start()
    return node, ctx


def test_last_writer_wins_by_version_then_writer_name():
    """A higher version replaces a lower one; on equal versions the greater writer name wins, at every node."""
    node, ctx = manual("n1", ["n0", "n1", "n2"])
    node.on_message("n0", Updates((("a", 1, "n2", "from-n2"),)))
    node.on_message("n0", Updates((("a", 1, "n0", "from-n0"),)))  # same version, smaller writer: ignored
    assert node.store["a"] == (1, "n2", "from-n2")
    node.on_message("n0", Updates((("a", 2, "n0", "newer"),)))
    assert node.store["a"] == (2, "n0", "newer")
    assert [d[0] for d in ctx.decided] == ["a@1:n2", "a@2:n0"]
    assert ctx.counters["gossip_duplicates"] == 1


def test_client_write_stamps_next_version_and_is_not_applied_twice():
    """A write gets the key's next version and the node's name; a retried write id is answered but not re-applied."""
    node, ctx = manual("n1", ["n0", "n1"])
    node.on_message("n0", Updates((("a", 4, "n0", "old"),)))
    node.on_request(ClientRequest("client0", "client0:0", "a=new"))
    node.on_request(ClientRequest("client0", "client0:0", "a=new"))
    assert node.store["a"] == (5, "n1", "new")
    assert sum(1 for d in ctx.decided if d[0] == "a@5:n1") == 1
    assert [m for _, m in ctx.take(ClientReply)] == [ClientReply("client0:0", True)] * 2


def test_pushpull_digest_exchange_sends_newer_and_asks_for_missing():
    """On a digest, a pushpull node sends what the peer lacks and asks for what it lacks itself."""
    node, ctx = manual("n1", ["n0", "n1"], mode="pushpull")
    node.on_message("n0", Updates((("a", 2, "n1", "mine"),)))
    node.on_message("n0", Digest.of((("a", 1, "n0"), ("b", 3, "n0"))))
    [(dst, reply)] = ctx.take(Updates)
    assert dst == "n0" and reply.entries == (("a", 2, "n1", "mine"),) and reply.wants == ("b",)
    pull, pctx = manual("n1", ["n0", "n1"], mode="pull")
    pull.on_message("n0", Digest.of((("b", 3, "n0"),)))
    assert pctx.take(Updates) == []  # pull: the responder never asks for anything


def test_rumor_counter_goes_cold_after_k_unnecessary_contacts():
    """Push rumor with feedback: a rumor stays hot until k peers said they already knew it."""
    node, ctx = manual("n0", ["n0", "n1", "n2"], style="rumor", mode="push", k=2, feedback=True)
    node.on_request(ClientRequest("c", "c:0", "a=x"))
    assert "a" in node.hot and "round" in ctx.timers
    node.on_message("n1", RumorFeedback(("a",)))
    assert "a" in node.hot
    node.on_message("n2", RumorFeedback(("a",)))
    assert "a" not in node.hot
    other, octx = manual("n1", ["n0", "n1", "n2"], style="rumor", mode="push", k=2, feedback=True)
    other.on_message("n0", Rumor((("a", 1, "n0", "x"),)))
    other.on_message("n2", Rumor((("a", 1, "n0", "x"),)))
    assert [m for _, m in octx.take(RumorFeedback)] == [RumorFeedback(("a",))]  # only the needless push is answered


def test_push_rumor_rounds_grow_like_log_n():
    """Push rumor spreading informs everyone in rounds ~ c*log(n): the ratio stays flat from 64 to 4096 nodes."""
    rounds = {}
    for n in (64, 256, 1024, 4096):
        result = run(gossip_scenario(n, "800ms", style="rumor", mode="push", k=12, interval="10ms"))
        assert result.summary["residue_mean"] == 0.0, n
        rounds[n] = result.summary["time_to_all_rounds_mean"]
    ratios = [rounds[n] / math.log(n) for n in rounds]
    assert max(ratios) / min(ratios) < 1.5, rounds
    assert rounds[4096] > rounds[64], rounds
    # 64x the nodes costs well under 3x the rounds (linear growth would be 64x).
    assert rounds[4096] / rounds[64] < 3.0, rounds


PARTITION = [[f"n{i}" for i in range(10)], [f"n{i}" for i in range(10, 20)]]
CONFLICT = [{"at": "20ms", "node": "n0", "key": "a", "value": "red"}, {"at": "40ms", "node": "n15", "key": "a", "value": "blue"}]


def final_states(result) -> dict[str, str]:
    events = result.events
    final = events[events["kind"] == "final_state"]
    return dict(zip(final["node"], final["state"], strict=True))


def test_anti_entropy_does_not_converge_across_a_partition():
    """While partitioned each side converges on its own write; the sides differ and the checker does not blame them."""
    faults = [{"at": "1ms", "partition": PARTITION}]
    result = run(gossip_scenario(20, "1500ms", CONFLICT, faults, interval="20ms", settle="500ms"))
    states = final_states(result)
    assert {states[n] for n in PARTITION[0]} == {"a=red@1:n0"}
    assert {states[n] for n in PARTITION[1]} == {"a=blue@1:n15"}
    assert result.violations.empty


def test_anti_entropy_converges_after_the_partition_heals():
    """After the heal, last-writer-wins makes all nodes hold n15's value (equal version, greater writer name)."""
    faults = [{"at": "1ms", "until": "800ms", "partition": PARTITION}]
    result = run(gossip_scenario(20, "2s", CONFLICT, faults, interval="20ms", settle="500ms"))
    states = final_states(result)
    assert set(states.values()) == {"a=blue@1:n15"}
    assert result.violations.empty
    decisions = result.decisions
    crossed = decisions[(decisions["slot"] == "a@1:n15") & decisions["node"].isin(PARTITION[0])]
    assert len(crossed) == 10 and crossed["time_ms"].min() >= 800.0


class NeverNewer(Gossip):
    """Broken: applies a key only the first time it is seen, never a newer version."""

    def _apply(self, entries):
        return super()._apply(tuple(e for e in entries if e[0] not in self.store))


class SelfishTies(Gossip):
    """Broken: on equal versions every node keeps its own choice (inconsistent tie-breaking)."""

    def _apply(self, entries):
        keep = []
        for e in entries:
            cur = self.store.get(e[0])
            if cur is None or e[1] > cur[0]:
                keep.append(e)
        return super()._apply(tuple(keep))


class Inventive(Gossip):
    """Broken: a node stores a value nobody wrote."""

    def on_stop(self):
        self.store["a"] = (99, self.ctx.name, "made-up")
        super().on_stop()


@pytest.mark.parametrize("broken", [NeverNewer, SelfishTies])
def test_convergence_checker_catches_broken_variants(broken):
    """The convergence checker reports nodes left with different values by a broken anti-entropy."""
    updates = [
        {"at": "5ms", "node": "n0", "key": "a", "value": "first"},
        {"at": "100ms", "node": "n3", "key": "a", "value": "second"},
        {"at": "100ms", "node": "n5", "key": "a", "value": "third"},
    ]
    scenario = gossip_scenario(12, "1s", updates, interval="10ms", settle="300ms")
    assert run(scenario).violations.empty
    violations = run(scenario, protocol_cls=broken).violations
    assert "convergence" in set(violations["rule"])


def test_validity_checker_catches_invented_values():
    """A value no one wrote in a final store is a validity violation."""
    violations = run(gossip_scenario(6, "300ms", interval="10ms", settle="100ms"), protocol_cls=Inventive).violations
    assert "validity" in set(violations["rule"])


def test_bad_topology_and_workload_names_are_rejected(tmp_path):
    """Topology parameters and names are validated at load time with a field path."""
    with pytest.raises(ScenarioError, match="protocol.topology.degree"):
        gossip_scenario(5, topology={"kind": "random_regular", "degree": 3})
    edges = tmp_path / "edges.txt"
    edges.write_text("n0 n1\nn1 zz\n")
    with pytest.raises(ScenarioError, match="unknown node 'zz'"):
        gossip_scenario(3, topology={"kind": "file", "path": str(edges)})
    with pytest.raises(ScenarioError, match="no such file"):
        gossip_scenario(3, topology={"kind": "file", "path": str(tmp_path / "missing.txt")})
    with pytest.raises(ScenarioError, match=r"workload.updates\[0\].node"):
        gossip_scenario(3, updates=[{"at": "1ms", "node": "nx"}])


def test_file_topology_confines_gossip_to_its_edges(tmp_path):
    """On a line graph from a file, only neighbours exchange messages and everyone still converges."""
    edges = tmp_path / "line.txt"
    edges.write_text("# a line\n" + "\n".join(f"n{i} n{i + 1}" for i in range(5)))
    result = run(gossip_scenario(6, "1s", interval="10ms", settle="200ms", topology={"kind": "file", "path": str(edges)}))
    pairs = result.messages[result.messages["type"] == "digest"][["src", "dst"]]
    assert all(abs(int(s[1:]) - int(d[1:])) == 1 for s, d in pairs.itertuples(index=False))
    assert set(final_states(result).values()) == {"a=x@1:n0"} and result.violations.empty


def test_same_seed_same_output():
    """Two runs of one gossip scenario give identical journals."""
    scenario = load_scenario(SCENARIOS / "gossip-small-world-loss.yaml", overrides={"nodes": 60, "duration": "3s"})
    assert run(scenario).summary["journal_sha256"] == run(scenario).summary["journal_sha256"]


# --- shipped scenarios ----------------------------------------------------------------------


def summary(name: str) -> dict:
    result = run(load_scenario(SCENARIOS / f"{name}.yaml"))
    assert result.violations.empty, result.violations
    return result.summary


def test_scenarios_push_pull_pushpull():
    """At n=1000 every mode reaches all nodes; pushpull is fastest and pull beats push (Demers et al.)."""
    rounds = {m: summary(f"gossip-{m}-1000") for m in ("push", "pull", "pushpull")}
    for s in rounds.values():
        assert s["residue_mean"] == 0.0 and s["updates_reached_all"] == 1
    r = {m: s["time_to_all_rounds_mean"] for m, s in rounds.items()}
    assert r["pushpull"] < r["pull"] < r["push"], r


def test_scenarios_rumor_k():
    """Rumor mongering: a larger k leaves fewer nodes uninformed and costs more messages."""
    s = [summary(f"gossip-rumor-k{k}") for k in (1, 2, 3)]
    assert s[0]["residue_mean"] > s[1]["residue_mean"] > s[2]["residue_mean"] > 0.0
    assert s[0]["messages_per_node"] < s[1]["messages_per_node"] < s[2]["messages_per_node"]
    assert 0.1 < s[0]["residue_mean"] < 0.35  # Demers et al. report ~0.18 for k=1


def test_scenario_small_world_with_loss_converges():
    """Small world, 10% loss: messages are lost, yet every write reaches every node and stores converge."""
    s = summary("gossip-small-world-loss")
    assert s["messages_dropped"] > 0 and s["updates"] >= 10
    assert s["residue_mean"] == 0.0 and s["updates_reached_all"] == s["updates"]


def test_scenario_partition_heal():
    """Partition then heal: the halves' conflicting writes resolve to n30's value everywhere."""
    result = run(load_scenario(SCENARIOS / "gossip-partition-heal.yaml"))
    assert result.violations.empty
    assert {s.split(";")[0] for s in final_states(result).values()} == {"color=blue@1:n30"}


def test_blind_coin_with_k1_pushes_each_rumor_exactly_once():
    """Blind coin with k=1: every push cools the rumor, so each informed node pushes exactly once."""
    result = run(gossip_scenario(200, "1s", style="rumor", mode="push", stop="coin", k=1, feedback=False, interval="10ms"))
    rumors = int(result.messages.loc[result.messages["type"] == "rumor", "sent"].sum())
    informed = result.decisions["node"].nunique()
    assert rumors == informed and "rumor_feedback" not in set(result.messages["type"])
    assert 0.0 < result.summary["residue_mean"] < 1.0


def test_crashed_node_catches_up_after_recovery_and_is_not_judged_while_down():
    """A node down during a write keeps its store across the crash and catches up by anti-entropy once back."""
    updates = [{"at": "5ms", "node": "n0", "key": "a", "value": "x"}, {"at": "50ms", "node": "n1", "key": "b", "value": "y"}]
    down = run(gossip_scenario(10, "600ms", updates, [{"at": "30ms", "crash": "n3"}], interval="10ms", settle="200ms"))
    assert "n3" not in final_states(down) and down.violations.empty
    back = run(gossip_scenario(10, "600ms", updates, [{"at": "30ms", "crash": "n3", "for": "200ms"}], interval="10ms", settle="200ms"))
    assert set(final_states(back).values()) == {"a=x@1:n0;b=y@1:n1"} and back.violations.empty
    assert back.decisions[(back.decisions["node"] == "n3") & (back.decisions["slot"] == "b@1:n1")]["time_ms"].min() >= 230.0


def test_large_runs_count_messages_per_sender_not_per_pair():
    """Above PAIR_COUNT_LIMIT nodes the messages table aggregates destinations, keeping totals exact."""
    from sim.records import PAIR_COUNT_LIMIT

    result = run(gossip_scenario(PAIR_COUNT_LIMIT + 1, "200ms", interval="50ms"))
    gossip = result.messages[~result.messages["type"].isin(["client_request", "client_reply"])]
    assert set(gossip["dst"]) == {"*"} and len(gossip) <= 2 * (PAIR_COUNT_LIMIT + 1)
    assert int(gossip["sent"].sum()) == int(gossip["delivered"].sum()) > PAIR_COUNT_LIMIT


@pytest.mark.parametrize("style", [{"style": "anti_entropy", "mode": "pushpull"}, {"style": "rumor", "mode": "pull", "k": 2}])
def test_spreading_cost_does_not_grow_with_the_run(style):
    """Issue 9: messages_per_node doubled from a 3 s to a 6 s run with the same spread; the per-write cost does not."""
    data = load_scenario(SCENARIOS / "gossip-push-1000.yaml").resolved()
    data = {**data, "nodes": 200, "protocol": {**data["protocol"], **style}}
    short, long = (run(scenario_from_dict({**data, "duration": d})).summary for d in ("3s", "6s"))
    assert long["messages_per_node"] > 1.5 * short["messages_per_node"]
    assert long["spread_messages_per_write"] == short["spread_messages_per_write"] > 0
    # Every node starts `fanout` (here 1) background exchanges per round, however long the run.
    for s in (short, long):
        assert s["background_messages_per_node_per_round"] == pytest.approx(1.0, rel=0.05)


def test_push_rumor_mongering_has_no_background_traffic():
    """Push rumor mongering sleeps between rumors: every message it sends spreads the write."""
    s = summary("gossip-rumor-k1")
    assert s["background_messages_per_node_per_round"] == 0.0
    assert s["spread_messages_per_write_per_node"] == pytest.approx(s["messages_per_node"], rel=1e-6)


def test_digest_size_is_the_header_plus_each_stamp() -> None:
    """The stored size is what the property computed: 48-byte header, then per stamp the key, 8 bytes of version, the writer."""
    assert Digest.of(()).size_bytes == 48
    assert Digest.of((("a", 1, "n0"), ("bb", 3, "n12"))).size_bytes == 48 + (1 + 8 + 2) + (2 + 8 + 3)
    with pytest.raises(TypeError):
        Digest((("a", 1, "n0"),))  # type: ignore[call-arg]  # no size: it has no default to fall back on


def test_nodes_holding_the_same_versions_send_one_shared_digest() -> None:
    """Equal stores give the very same (immutable) Digest; a store that differs gets its own, and sharing changes no content."""
    import numpy as np

    nodes = ["n0", "n1", "n2", "n3"]
    overlay = build_overlay(MeshTopology(), nodes, np.random.default_rng(0))
    pairs = []
    for name in ("n1", "n2", "n3"):
        ctx = ManualContext(name, nodes, shared=overlay)
        node = Gossip(ctx, Gossip.Config.model_validate({}))  # type: ignore[arg-type]
        node.on_start()
        pairs.append((node, ctx))
    for node, _ in pairs[:2]:
        node.on_message("n0", Updates((("a", 1, "n0", "x"),)))
    pairs[2][0].on_message("n0", Updates((("a", 2, "n0", "y"),)))
    digests = []
    for node, ctx in pairs:
        node.on_timer("round")
        digests.append(next(msg for _, msg in reversed(ctx.sent) if isinstance(msg, Digest)))
    assert digests[0] is digests[1]
    assert digests[2] is not digests[0] and digests[2].stamps == (("a", 2, "n0"),)
    assert digests[0] == Digest.of((("a", 1, "n0"),))
