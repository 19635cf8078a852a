"""Settings that could never take effect are refused at load time: one line naming the field, exit 2, nothing run.

Each case is a reviewer's reproduction (a shipped scenario and one `--set`), which used to run
with exit 0 and silently ignore the setting (or, for a link into a voting plane, die mid-run).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.scenario import load_scenario

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
RAFT = ROOT / "scenarios" / "raft-steady.yaml"
FLEET = ROOT / "scenarios" / "fleet" / "no-faults.yaml"
RAFT_KINDS = (
    "append_entries, append_entries_response, client_reply, client_request, install_snapshot, pre_vote, "
    "pre_vote_response, request_vote, request_vote_response"
)


def _refused(tmp_path: Path, scenario: Path, setting: str) -> str:
    """Run `scenario` with `--set setting`: it must exit 2 with one line on stderr and write nothing; that line."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario), "--set", setting, "--out", str(out), "--no-plots", "-q"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert not out.exists()
    return lines[0]


NEVER_FIRE = [
    ("workload.until=0.5s", "workload.until: 500ms is not after 'start' (1s): no command would be issued"),
    ("workload.start=20s", "workload.start: 20s is not before the end of the run (10s)"),
    ("workload.start=10s", "workload.start: 10s is not before the end of the run (10s)"),
    (
        "workload={kind: script, commands: [{at: 1s}, {at: 20s, op: x}]}",
        "workload.commands[1].at: 20s is not before the end of the run (10s)",
    ),
    (
        "faults=[{byzantine: [n1], behaviour: silent, from: 5s, until: 2s}]",
        "faults[0].until: 2s is not after 'from' (5s): it would never act",
    ),
    ("faults=[{byzantine: [n1], behaviour: silent, until: 0}]", "faults[0].until: 0ms is not after 'from' (0ms): it would never act"),
    (
        "faults=[{every: 1s, start: 5s, until: 2s, crash: random, for: 100ms}]",
        "faults[0].until: 2s is not after 'start' (5s): it would never act",
    ),
    (
        "faults=[{every: 3s, until: 2s, crash: random, for: 100ms}]",
        "faults[0].until: 2s is not after the first strike ('every', no 'start') (3s): it would never act",
    ),
    (
        "faults=[{every: 12s, crash: random, for: 100ms}]",
        "faults[0].every: 12s is not before the end of the run (10s): it would never act",
    ),
    (
        "faults=[{start: 3s, until: 3s, churn: {mtbf: 1s, mttr: 100ms}}]",
        "faults[0].until: 3s is not after 'start' (3s): it would never act",
    ),
]


@pytest.mark.parametrize(("setting", "message"), NEVER_FIRE, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(NEVER_FIRE)])
def test_a_setting_whose_time_never_comes_is_refused(tmp_path: Path, setting: str, message: str) -> None:
    """A workload window or a fault window that closes before it opens, or opens at or after the end of the run."""
    assert _refused(tmp_path, RAFT, setting) == f"{RAFT}: {message}"


NOTHING_TO_DO = [
    (
        "faults=[{from: 1s, byzantine: [n1], behaviour: omit, messages: [append_entries, bogus]}]",
        f"faults[0].messages[1]: raft sends no message of kind 'bogus' (its kinds: {RAFT_KINDS})",
    ),
    ("faults=[{at: 1s, crash: []}]", "faults[0].crash: names no node: the entry would do nothing"),
    (
        "faults=[{at: 1s, partition: [[n0], [n1, n2]]}, {at: 2s, heal: false}]",
        "faults[1].heal: false does not turn healing off (an entry with 'heal' removes every partition and cut):"
        " write 'heal: all', or leave the entry out",
    ),
    ("faults=[{byzantine: [], behaviour: silent}]", "faults[0].byzantine: names no node: the entry would do nothing"),
    ("faults=[{at: 1s, cut: {from: [], to: n1}}]", "faults[0].cut.from: names no node: the entry would do nothing"),
    ("faults=[{churn: {mtbf: 1s, mttr: 100ms, nodes: []}}]", "faults[0].churn.nodes: names no node: the entry would do nothing"),
    (
        "faults=[{at: 1s, set_link: {from: n0, to: n1}}]",
        "faults[0].set_link: changes nothing: give at least one of delay, loss, duplicate, bandwidth, ordered",
    ),
]


@pytest.mark.parametrize(("setting", "message"), NOTHING_TO_DO, ids=[m.split(":")[0] for _, m in NOTHING_TO_DO])
def test_a_fault_that_targets_or_changes_nothing_is_refused(tmp_path: Path, setting: str, message: str) -> None:
    """A message kind the mechanism never sends, an empty list of nodes, a link change with nothing to change."""
    assert _refused(tmp_path, RAFT, setting) == f"{RAFT}: {message}"


SELF_ONLY = "a node never sends itself a message over the network"
SELF_PAIRS = [
    (
        "faults=[{at: 1s, cut: {from: n1, to: n1}}]",
        f"faults[0].cut: 'from' and 'to' select only 'n1': {SELF_ONLY}, so the cut drops nothing",
    ),
    (
        "faults=[{at: 1s, cut: {from: [n1, n1], to: [n1]}}]",
        f"faults[0].cut: 'from' and 'to' select only 'n1': {SELF_ONLY}, so the cut drops nothing",
    ),
    (
        "faults=[{at: 1s, cut: {from: leader, to: [leader]}}]",
        f"faults[0].cut: 'from' and 'to' select only 'leader': {SELF_ONLY}, so the cut drops nothing",
    ),
    (
        "faults=[{at: 1s, set_link: {from: n2, to: n2, loss: 0.5}}]",
        f"faults[0].set_link: 'from' and 'to' select only 'n2': {SELF_ONLY}, so the link setting changes nothing",
    ),
    (
        "network.links=[{from: n0, to: n1, loss: 0.1}, {from: n3, to: n3, loss: 0.5}]",
        f"network.links[1]: 'from' and 'to' select only 'n3': {SELF_ONLY}, so the link setting changes nothing",
    ),
]


@pytest.mark.parametrize(("setting", "message"), SELF_PAIRS, ids=["cut", "cut-lists", "cut-leader", "set_link", "network-link"])
def test_a_cut_or_link_from_a_node_to_itself_only_is_refused(tmp_path: Path, setting: str, message: str) -> None:
    """`cut: {from: n1, to: n1}` and a self-link validated OK, though the network skips every self-pair: they did nothing."""
    assert _refused(tmp_path, RAFT, setting) == f"{RAFT}: {message}"


def test_a_cut_or_link_with_a_self_pair_among_others_still_loads() -> None:
    """Only an entry that selects nothing but self-pairs is refused: '*', lists and 'leader' beside a name reach other nodes."""
    scenario = load_scenario(
        RAFT,
        [
            "faults=[{at: 1s, cut: {from: '*', to: n1}}, {at: 1s, cut: {from: [n1, n2], to: [n1]}}, {at: 1s, cut: {from: leader, to: n1}},"
            " {at: 1s, set_link: {from: '*', to: '*', loss: 0.5}}]",
            "network.links=[{from: n1, to: '*', loss: 0.1}, {from: [n0, n1], to: [n0, n1], loss: 0.2}]",
        ],
    )
    assert [fault.action for fault in scenario.faults] == ["cut", "cut", "cut", "set_link"]
    assert len(scenario.network.links) == 2


def test_a_fleet_cut_whose_plane_view_keeps_only_a_self_pair_still_loads(tmp_path: Path) -> None:
    """The control plane (n0-n4) sees the fleet's cut from [n1, n30] to n1 as n1 to n1: the fleet's cut acts, so it loads.

    On the fleet itself a cut from a node to itself alone is refused, as in a one-mechanism scenario.
    """
    scenario = load_scenario(FLEET, ["faults=[{at: 1s, cut: {from: [n1, n30], to: [n1]}}]"])
    control = scenario.plane_scenarios["control"].faults[0].cut
    assert control is not None and (control.from_, control.to) == (["n1"], ["n1"])
    line = _refused(tmp_path, FLEET, "faults=[{at: 1s, cut: {from: n1, to: n1}}]")
    assert line == f"{FLEET}: faults[0].cut: 'from' and 'to' select only 'n1': {SELF_ONLY}, so the cut drops nothing"


TIMING_DOES_NOTHING = [
    (
        "faults=[{at: 1s, crash: n0}, {at: 2s, recover: n0, for: 100ms}]",
        "faults[1].for: does not apply to recover, which leaves nothing to undo",
    ),
    (
        "faults=[{at: 1s, partition: [[n0], [n1, n2]]}, {at: 2s, heal: all, for: 100ms}]",
        "faults[1].for: does not apply to heal, which leaves nothing to undo",
    ),
    (
        "faults=[{at: 1s, crash: n0}, {at: 2s, recover: n0, until: 3s}]",
        "faults[1].until: with 'at', 'until' undoes the entry then, and recover leaves nothing to undo",
    ),
    (
        "faults=[{at: 5s, start: 2s, crash: n0, for: 100ms}]",
        "faults[0].start: belongs to 'every' (its first strike): an entry with 'at' strikes once, at 'at'",
    ),
    (
        "faults=[{at: 9.9s, crash: n0, jitter: 500ms}]",
        "faults[0].jitter: 'at' (9900ms) + jitter (500ms) may fall at or after the end of the run (10s),"
        " and the strike would not happen: lower the jitter or strike earlier",
    ),
    (
        "faults=[{every: 1s, start: 500ms, crash: random, for: 100ms, jitter: 500ms}]",
        "faults[0].jitter: the last strike (9500ms) + jitter (500ms) may fall at or after the end of the run (10s),"
        " and that strike would not happen: lower the jitter or end the strikes earlier with 'until'",
    ),
    (
        "faults=[{at: 1s, until: 1.2s, crash: n0, jitter: 500ms}]",
        "faults[0].jitter: 'at' (1s) + jitter (500ms) may fall at or after 'until' (1200ms), and the entry would be undone"
        " as soon as it strikes: lower the jitter or give a later 'until'",
    ),
    (
        "faults=[{at: 1s, partition: [[], [n0, n1, n2]]}]",
        "faults[0].partition[0]: names no node: an empty group separates nobody",
    ),
    (
        "faults=[{at: 1s, partition: [[n0, n1, n2, n3, n4], [rest]]}]",
        "faults[0].partition[1]: 'rest' names no node here (the other groups name every node): the group separates nobody",
    ),
]


@pytest.mark.parametrize(
    ("setting", "message"), TIMING_DOES_NOTHING, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(TIMING_DOES_NOTHING)]
)
def test_a_fault_timing_or_group_that_would_do_nothing_is_refused(tmp_path: Path, setting: str, message: str) -> None:
    """Each ran with exit 0 and nothing on stderr: an undo of what undoes nothing, an ignored 'start', a strike after the end."""
    assert _refused(tmp_path, RAFT, setting) == f"{RAFT}: {message}"


def test_fault_timings_that_act_still_load() -> None:
    """`until` ending a repeated recover or heal, jitter that stays inside the run and before 'until', 'rest' of the unnamed nodes."""
    scenario = load_scenario(
        RAFT,
        [
            "faults=[{every: 2s, recover: all, until: 8s}, {every: 3s, heal: all, until: 9s}, {at: 9s, crash: n0, jitter: 999ms},"
            " {at: 1s, until: 1.6s, crash: n1, jitter: 500ms}, {every: 1s, crash: random, for: 100ms, jitter: 999ms},"
            " {at: 2s, partition: [[n0, n1], [rest]], for: 1s}]"
        ],
    )
    assert len(scenario.faults) == 6


FLEET_CASES = [
    (
        "faults=[{at: 1s, crash: leader, plane: routing}]",
        "faults[0].crash: plane 'routing' (gossip) never has a leader: 'leader' would name no node",
    ),
    (
        "faults=[{at: 1s, partition: [[leader], [rest]], plane: scale}]",
        "faults[0].partition[0]: plane 'scale' (voting) never has a leader: 'leader' would name no node",
    ),
    ("links.0.when=sideways", "links[0].when: 'sideways' is not one of the answers of plane 'scale' (up, hold): the link would never fire"),
    (
        "links=[{from: scale, when: up, to: control, submit: x}, {from: control, to: scale, submit: y}]",
        "links[1].submit: the questions workload of plane 'scale' sends each command to the node it names first "
        "('node|...', e.g. 'n0|y'); 'y' names none of its nodes",
    ),
    (
        "links=[{from: scale, when: up, to: control, submit: x}, {from: control, to: scale, submit: 'n30|truth=up'}]",
        "links[1].submit: the questions workload of plane 'scale' sends each command to the node it names first "
        "('node|...', e.g. 'n0|n30|truth=up'); 'n30|truth=up' names none of its nodes",
    ),
    (
        "links=[{from: scale, when: up, to: control, submit: x}, {from: control, to: scale, write: k}]",
        "links[1].write: the questions workload of plane 'scale' sends each command to the node it names first "
        "('node|...', e.g. 'n0|k='); 'k=' names none of its nodes",
    ),
]


@pytest.mark.parametrize(("setting", "message"), FLEET_CASES, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(FLEET_CASES)])
def test_a_fleet_setting_that_never_fires_or_cannot_submit_is_refused(tmp_path: Path, setting: str, message: str) -> None:
    """A leader of a leaderless plane, a `when` the plane never decides, a command a voting plane's client cannot send (was a KeyError)."""
    assert _refused(tmp_path, FLEET, setting) == f"{FLEET}: {message}"


def test_windows_cut_short_by_the_end_of_the_run_and_real_targets_still_load() -> None:
    """Only what can never act is refused: a window that the end of the run cuts short still acts, and so do real targets."""
    scenario = load_scenario(
        RAFT,
        [
            "workload.until=20s",
            "faults=[{every: 1s, start: 5s, until: 20s, crash: random, for: 100ms}, "
            "{byzantine: [n1], behaviour: omit, from: 5s, until: 20s, messages: [append_entries]}, "
            "{at: 1s, set_link: {from: n0, to: n1, ordered: true}}, {at: 2s, crash: [n2], for: 1s}]",
        ],
    )
    assert [f.action for f in scenario.faults] == ["crash", "byzantine", "set_link", "crash"]
    assert scenario.faults[1].messages == ["append_entries"]


def test_a_link_naming_a_node_of_a_voting_plane_and_a_leader_of_a_leading_plane_still_load() -> None:
    """`n0|truth=up` reaches the scale plane's n0; `leader` of the control plane (Raft) exists; `when: up` is an answer."""
    links = "links=[{from: scale, when: up, to: control, submit: x}, {from: control, when: linked, to: scale, submit: 'n0|truth=up'}]"
    scenario = load_scenario(FLEET, [links, "faults=[{at: 5s, crash: leader, plane: control, for: 1s}]"])
    assert scenario.links is not None and scenario.links[1].submit == "n0|truth=up"


def test_a_fleet_byzantine_kind_of_one_plane_lies_only_in_that_plane() -> None:
    """`messages: [append_entries]` without `plane` is a Raft kind: accepted, and the other planes' views leave the entry out."""
    faults = "faults=[{byzantine: [n1], behaviour: omit, messages: [append_entries]}]"
    scenario = load_scenario(FLEET, [faults])
    views = {name: plane.faults for name, plane in scenario.plane_scenarios.items()}
    assert [f.messages for f in views["control"]] == [["append_entries"]]
    assert views["scale"] == [] and views["routing"] == []
    bogus = "faults=[{byzantine: [n1], behaviour: omit, messages: [bogus]}]"
    with pytest.raises(Exception, match=r"faults\[0\]\.messages\[0\]: plane scale \(voting\) or plane control \(raft\) or plane routing"):
        load_scenario(FLEET, [bogus])


def test_a_saved_fleet_run_reads_back_the_same_plane_views(tmp_path: Path) -> None:
    """A plane of a saved run sees the fleet's byzantine entry as at load time: only the plane that sends its kind."""
    from sim.planes.results import plane_scenario

    scenario = load_scenario(FLEET, ["faults=[{byzantine: [n1], behaviour: omit, messages: [append_entries]}]"])
    resolved = scenario.resolved()
    views = {plane["name"]: plane_scenario(resolved, plane)["faults"] for plane in resolved["planes"]}
    assert [entry["messages"] for entry in views["control"]] == [["append_entries"]]
    assert views["scale"] == [] and views["routing"] == []


def test_the_link_checks_know_the_linked_word_of_the_link_driver() -> None:
    """The fleet checks spell `linked` as the link driver does (they keep their own copy so as not to load pandas)."""
    from sim.planes.effects import LINKED as CHECKED
    from sim.planes.links import LINKED

    assert CHECKED == LINKED


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ([], "nodes[0].weight: raft never weighs its nodes: the weight would do nothing; remove it"),
        (["mechanism=pbft", "protocol={}"], "nodes[0].weight: pbft never weighs its nodes: the weight would do nothing; remove it"),
    ],
    ids=["raft", "pbft"],
)
def test_a_node_weight_on_a_mechanism_that_never_weighs_nodes_is_refused(tmp_path: Path, settings: list[str], message: str) -> None:
    """Raft and PBFT count heads: a weight there used to be accepted and ignored."""
    out = tmp_path / "out"
    nodes = ["--set", "nodes=[{name: a, weight: 5}, {name: b}, {name: c}, {name: d}]"]
    more = [arg for setting in settings for arg in ("--set", setting)]
    result = runner.invoke(app, ["run", str(RAFT), *nodes, *more, "--out", str(out), "--no-plots", "-q"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"{RAFT}: {message}"
    assert not out.exists()


def test_weights_load_where_nodes_can_be_weighed_and_weight_one_anywhere() -> None:
    """Voting keeps its weights under any rule (the same nodes compared under two rules is an experiment), so does Multi-Paxos;
    a weight of 1 is no weight, on any mechanism."""
    voting = ROOT / "scenarios" / "voting-weighted.yaml"
    assert [s.weight for s in load_scenario(voting).node_specs][0] == 5.0
    by_head = load_scenario(voting, ["protocol={rule: majority, accuracy: 0.95, timeout: 100ms, coordinator: expert}"])
    assert by_head.node_specs[0].weight == 5.0
    weighted = "nodes=[{name: a, weight: 3}, {name: b}, {name: c}]"
    assert load_scenario(RAFT, ["mechanism=multipaxos", "protocol={quorums: weighted}", weighted]).node_specs[0].weight == 3.0
    plain = load_scenario(RAFT, ["nodes=[{name: a, weight: 1}, {name: b}, {name: c}]"])
    assert [s.weight for s in plain.node_specs] == [1.0, 1.0, 1.0]


def test_a_fleet_weight_counts_where_some_plane_of_its_node_weighs_nodes() -> None:
    """A weight matters if a plane its node takes part in can weigh nodes (then the other planes get the node unweighted)."""
    names = [f"n{i}" for i in range(40)]

    def nodes(heavy: str) -> str:
        return "nodes=[" + ", ".join(f"{{name: {n}, weight: 3}}" if n == heavy else f"{{name: {n}}}" for n in names) + "]"

    with pytest.raises(Exception, match=r"nodes\[12\]\.weight: no plane 'n12' takes part in ever weighs its nodes"):
        load_scenario(FLEET, [nodes("n12")])  # in routing (gossip) only
    fleet = load_scenario(FLEET, [nodes("n2")])  # in scale (voting), control (Raft) and routing (gossip)
    weights = {name: [s.weight for s in plane.node_specs][2] for name, plane in fleet.plane_scenarios.items()}
    assert weights == {"scale": 3.0, "control": 1.0, "routing": 1.0}


def test_the_readme_and_the_code_agree_on_raft_election_timeout_bounds() -> None:
    """Equal bounds are a fixed timeout (a deliberate experiment), so the README allows them as the code does; reversed ones are refused."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `election_timeout` |") and "each timeout is drawn" in line)
    assert "low must not be above high" in row and "below high" not in row
    assert load_scenario(RAFT, ["protocol.election_timeout=[150ms, 150ms]"]).protocol["election_timeout"] == ["150ms", "150ms"]
    with pytest.raises(Exception, match=r"protocol\.election_timeout: low \(300ms\) must not be above high \(150ms\)"):
        load_scenario(RAFT, ["protocol.election_timeout=[300ms, 150ms]"])


def test_a_trace_window_that_starts_after_the_run_is_refused_for_run_and_plot(tmp_path: Path) -> None:
    """`--trace-window 20s:30s` on a 1 s run drew an empty space-time diagram; a window the end of the run cuts short still draws."""
    out = tmp_path / "out"
    quick = ["--set", "duration=1s", "--set", "workload.start=0", "--trace", "-q"]  # plots drawn: --no-plots refuses a window
    late = runner.invoke(app, ["run", str(RAFT), *quick, "--trace-window", "20s:30s", "--out", str(out)])
    assert late.exit_code == 2, late.output
    assert late.stderr.strip() == "--trace-window: starts at 20s, not before the end of the run (1s): the diagram would be empty"
    assert not out.exists()
    ran = runner.invoke(app, ["run", str(RAFT), *quick, "--trace-window", "500ms:5s", "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    replot = runner.invoke(app, ["plot", str(out), "--trace-window", "1s:2s"])
    assert replot.exit_code == 2, replot.output
    assert replot.stderr.strip() == "--trace-window: starts at 1s, not before the end of the run (1s): the diagram would be empty"


def test_message_kinds_finds_messages_of_a_module_imported_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user mechanism that writes `msgs.Store(...)` sends 'store': it may be named (it was refused as unknown)."""
    import sys
    import types
    from dataclasses import dataclass

    from sim.effects import message_kinds
    from sim.protocols.base import Message, Protocol

    msgs = types.ModuleType("user_msgs")

    @dataclass(frozen=True, slots=True)
    class Store(Message):
        """A message of the user's own."""

    Store.__module__ = "user_msgs"
    msgs.Store = Store  # type: ignore[attr-defined]
    mechanism = types.ModuleType("user_mechanism")
    mechanism.msgs = msgs  # type: ignore[attr-defined]
    replica = type("Replica", (Protocol,), {"__module__": "user_mechanism"})
    monkeypatch.setitem(sys.modules, "user_msgs", msgs)
    monkeypatch.setitem(sys.modules, "user_mechanism", mechanism)
    assert "store" in message_kinds(replica)


def test_a_script_start_does_nothing_and_its_commands_still_run(tmp_path: Path) -> None:
    """A script issues each command at its `at`: a `start` is refused, while the script with `start` past its commands' times ran them."""
    line = _refused(tmp_path, RAFT, "workload={kind: script, start: 800ms, commands: [{at: 1s}, {at: 1.2s}]}")
    expected = "workload.start: a script issues each command at its own 'at': 'start' does nothing (write the times into the commands)"
    assert line.endswith(expected)
    ok = load_scenario(RAFT, ["duration=2s", "workload={kind: script, until: 900ms, commands: [{at: 1s}, {at: 1.2s}]}"])
    assert [c["at"] for c in ok.workload.model_dump()["commands"]] == ["1s", "1200ms"]  # `until` (the measurement's end) stays allowed


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("workload.every=20s", "workload.every: the first would be issued at start + every = 20s, not before the end of the run (10s)"),
        (
            "workload={kind: questions, every: 50ms, until: 40ms}",
            "workload.every: the first would be issued at start + every = 50ms, not before 'until' (40ms)",
        ),
    ],
)
def test_a_paced_workload_whose_first_tick_never_comes_is_refused(tmp_path: Path, setting: str, message: str) -> None:
    """Questions (and loads, claims) are issued at start + every, start + 2 every, ...: a first tick at or past the end issues nothing."""
    line = _refused(tmp_path, ROOT / "scenarios" / "voting-weighted.yaml", setting)
    assert line.endswith(message + ": no command would be issued")


LEADERLESS = [
    ("gossip-partition-heal.yaml", "faults=[{at: 1s, crash: leader}]", "faults[0].crash: gossip never has a leader"),
    ("voting-majority-third-faulty.yaml", "faults=[{at: 1s, crash: [n3, leader], for: 1s}]", "faults[0].crash: voting never has a leader"),
    ("attestation-forgers.yaml", "faults=[{every: 1s, crash: leader, for: 100ms}]", "faults[0].crash: attestation never has a leader"),
    (
        "gossip-partition-heal.yaml",
        "faults=[{at: 1s, crash: n1}, {at: 1s, partition: [[leader], [rest]], for: 1s}]",
        "faults[1].partition[0]: gossip never has a leader",
    ),
    ("gossip-partition-heal.yaml", "faults=[{at: 1s, cut: {from: n0, to: leader}}]", "faults[0].cut.to: gossip never has a leader"),
]


LEADERLESS_IDS = [f"{s.split('-')[0]}-{m.split(':')[0]}" for s, _, m in LEADERLESS]


@pytest.mark.parametrize(("scenario", "setting", "message"), LEADERLESS, ids=LEADERLESS_IDS)
def test_a_leader_target_of_a_mechanism_that_never_leads_is_refused(tmp_path: Path, scenario: str, setting: str, message: str) -> None:
    """`crash: leader` on gossip, voting or attestation struck nobody at every strike, and only the run warned (fault_missed)."""
    path = ROOT / "scenarios" / scenario
    assert _refused(tmp_path, path, setting) == f"{path}: {message}: 'leader' would name no node"


@pytest.mark.parametrize("mechanism", ["raft", "multipaxos", "pbft", "hotstuff", "tendermint"])
def test_a_leader_target_of_a_mechanism_that_leads_still_loads(mechanism: str) -> None:
    """Every mechanism with a leader (or primary, or proposer) still takes `leader` in each place a fault may name it."""
    faults = (
        "faults=[{at: 2s, crash: leader, for: 1s}, {at: 4s, partition: [[leader], [rest]], for: 1s}, "
        "{at: 6s, cut: {from: leader, to: '*'}}]"
    )
    scenario = load_scenario(RAFT, [f"mechanism={mechanism}", "protocol={}", faults])
    assert [f.action for f in scenario.faults] == ["crash", "partition", "cut"]


def test_a_fleet_without_a_leading_plane_refuses_leader_and_its_planes_views_still_load(tmp_path: Path) -> None:
    """In a fleet `leader` is a plane's: refused when no plane leads; accepted when one does, though each
    leaderless plane's own view then carries the fleet's `leader` (it must load, and plot)."""
    from sim import run, scenario_from_dict
    from sim.plots import run_figures
    from sim.scenario import ScenarioError

    planes = [
        {"name": "routing", "mechanism": "gossip", "protocol": {"interval": "50ms"}, "workload": {"kind": "updates", "rate": "20/s"}},
        {"name": "scale", "mechanism": "voting", "nodes": 3, "workload": {"kind": "questions", "every": "200ms"}},
    ]
    fleet = {"name": "f", "nodes": 5, "duration": "1s", "planes": planes, "faults": [{"at": "500ms", "crash": "leader", "for": "100ms"}]}
    with pytest.raises(ScenarioError, match=r"^fleet.yaml: faults\[0\]\.crash: no plane ever has a leader: 'leader' would name no node$"):
        scenario_from_dict(fleet, "fleet.yaml")

    control = {"name": "control", "mechanism": "raft", "nodes": 3, "workload": {"kind": "poisson", "rate": "20/s"}}
    scenario = scenario_from_dict({**fleet, "planes": [*planes, control]}, "fleet.yaml")
    routing = scenario.plane_scenarios["routing"]
    assert [f.crash for f in routing.faults] == [["leader"]]
    result = run(scenario)
    assert set(run_figures(result.planes["routing"])) >= {"infection"}


PBFT = ROOT / "scenarios" / "pbft-normal.yaml"
BYZANTINE_WINDOW = "which lies from 'from' to 'until' (default: the whole run)"
BYZANTINE_TIMING = [
    ("at: 5s", "at"),
    ("at: 1s", "at"),
    ("at: 0s", "at"),
    ("every: 500ms", "every"),
    ("start: 1s", "start"),
    ("for: 1s", "for"),
    ("jitter: 100ms", "jitter"),
    ("from: 1s, for: 500ms", "for"),
]


@pytest.mark.parametrize(("timing", "key"), BYZANTINE_TIMING, ids=[t for t, _ in BYZANTINE_TIMING])
def test_a_strike_timing_on_a_byzantine_entry_is_refused(tmp_path: Path, timing: str, key: str) -> None:
    """A byzantine entry lies from `from` to `until`; the strike timings of the other kinds used to be ignored.

    The reproduction: `{byzantine: n0, behaviour: equivocate, at: 1s}` on a 2 s PBFT run lied from 0 ms,
    exit 0 and nothing on stderr (`at: 5s` was refused as after the end of the run, which missed the point).
    """
    setting = f"faults=[{{byzantine: n0, behaviour: equivocate, {timing}}}]"
    message = f"{PBFT}: faults[0].{key}: does not apply to a byzantine entry, {BYZANTINE_WINDOW}"
    out = tmp_path / "out"
    args = ["run", str(PBFT), "--set", "duration=2s", "--set", setting, "--out", str(out), "--no-plots", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [message]
    assert not out.exists()


def test_a_byzantine_window_from_until_still_loads() -> None:
    """`from` and `until`, the documented window, load and reach the behaviour."""
    faults = [{"byzantine": "n0", "behaviour": "equivocate", "from": "1s", "until": "1.5s"}]
    scenario = load_scenario(PBFT, overrides={"duration": "2s", "faults": faults})
    assert (scenario.faults[0].from_, scenario.faults[0].until) == (1000.0, 1500.0)
