"""A rerun gives the result of a cold run: a differential, stateful property test.

One executor per cache strategy lives through a long random sequence of graph
edits (constants changed, nodes added, removed and renamed, links moved, node
types redefined, the world outside the graph changed), runs of the graph (whole
or partial), runs of deliberately invalid variants, and runs interrupted at a
random moment. After every run, each executor's result must equal that of a
fresh ``Executor(registry, cache="none")`` given the same prompt and targets:
the same status, the same validation errors, the same ``ui`` of the output
nodes, the same runtime error. An interrupted run is not compared; the runs
after it are.

The ``classic-live`` executor is given the test's own prompt dict, edited in
place between runs (as a notebook might); the others get a copy each run.

The regression tests below the machine are the defects it found, each reduced
to the shortest prompt sequence that shows it:

- an invalid prompt between two runs made the next run reuse what the run
  before it knew of a node changed since (stale values, every strategy; after
  a renamed node, a crash: "node '1' is not in the prompt");
- an output node inside an expansion shows its ui in a cold run, not in a
  rerun that takes the expanding node from the cache (now: a run's outputs are
  its targets' ui, an expanding target's ui is its expansion's);
- a partial run reports the ui of the output nodes upstream of its targets
  only if the cache still holds them (LRU evictions change the result; now a
  run reports its targets' ui only);
- redefining a node type that an expansion is made of does not rerun the
  expanding node: its cached outputs, made with the old code, are served.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from engine import Executor, NodeOutput, NodeRegistry
from engine import node as node_type

from . import differential_nodes as nodes
from .stubs import node

STRATEGIES = {
    "classic": {"cache": "classic"},
    "classic-live": {"cache": "classic"},
    "lru": {"cache": "lru", "lru_size": 3},  # small: evictions in every run
    "ram": {"cache": "ram"},
    "none": {"cache": "none"},
}
CACHES = ["classic", "lru", "ram", "none"]  # the regression tests' parametrization
MAX_NODES = 12
CLASSES = sorted(nodes.VARIANTS)
REDEFINABLE = sorted(name for name, variants in nodes.VARIANTS.items() if len(variants) > 1)
INVALID_KINDS = [
    "drop_required_input",
    "wrong_constant_type",
    "unknown_class",
    "link_to_missing_slot",
    "link_to_missing_node",
    "cycle",
    "unknown_target",
]

constants = st.integers(-2, 14)  # covers Fail's 7, Block's 3 and 4, both Switch branches
picks = st.integers(0, 10**6)  # an index into whatever list the rule picks from
target_picks = st.one_of(st.none(), st.lists(picks, min_size=1, max_size=2))
# A new node: its class, per input (link it?, to which node, else which constant), and
# the output node to add on it, if any (a Tap passes the value on to later nodes).
input_choices = st.lists(st.tuples(st.booleans(), picks, constants), min_size=3, max_size=3)
node_choices = st.tuples(
    st.sampled_from(CLASSES), input_choices, st.sampled_from([None, "Show", "Tap"])
)
# What follows an edit: nothing, a run, or a run after an invalid or an interrupted one.
followups = st.one_of(
    st.none(),
    st.just(("run",)),
    st.tuples(st.just("invalid"), st.sampled_from(INVALID_KINDS), picks, picks),
    st.tuples(st.just("interrupt"), st.integers(1, 8)),
)


def outcome(result) -> dict:
    """What a rerun must share with a cold run."""
    seen: dict = {"status": result.status, "node_errors": result.node_errors}
    if result.status == "success":
        seen["outputs"] = result.outputs
    elif result.status == "invalid":
        seen["error"] = result.error
    elif result.status == "error":
        # The traceback is left out; which node failed, how and on what is compared.
        seen["error"] = {
            k: result.error.get(k)
            for k in ("node_id", "node_type", "exception_type", "exception_message")
        }
        seen["current_inputs"] = result.error.get("current_inputs")
    return seen


class InterruptAt:
    """Interrupts ``executor`` at the ``k``-th node it starts or first progress tick it reports.

    Deterministic: a node that reports progress is stopped at its next tick, one
    that does not finishes and the run stops before the next node.
    """

    def __init__(self, executor: Executor, k: int):
        self.executor = executor
        self.left = k

    def __call__(self, event) -> None:
        data = event.data
        if (event.type == "executing" and data.get("node") is not None) or (
            event.type == "progress" and data.get("value") == 0
        ):
            self.left -= 1
            if self.left == 0:
                self.executor.interrupt()


class DifferentialMachine(RuleBasedStateMachine):
    """The model is ``self.prompt``: an API prompt whose links point only to earlier nodes."""

    def __init__(self):
        super().__init__()
        nodes.reset_world()
        self.registry = nodes.make_registry()
        self.variant = dict.fromkeys(nodes.VARIANTS, 0)  # the definition each type has now
        self.executors = {
            name: Executor(self.registry, **options) for name, options in STRATEGIES.items()
        }
        self.prompt: dict[str, dict] = {}
        self.next_id = 0

    def teardown(self):
        nodes.reset_world()  # leave the module's globals as other tests expect them

    # --- the model ------------------------------------------------------------------

    def new_node(self, class_type: str, inputs: dict) -> str:
        node_id = f"n{self.next_id}"
        self.next_id += 1
        self.prompt[node_id] = {"class_type": class_type, "inputs": inputs}
        return node_id

    def input_types(self, class_type: str) -> dict[str, object]:
        """Input name -> type (a list for a COMBO), required inputs first."""
        spec = self.registry.get(class_type).input_types()
        found = {}
        for section in ("required", "optional"):
            for name, (input_type, *_) in spec.get(section, {}).items():
                found[name] = input_type
        return found

    def input_names(self, class_type: str) -> list[str]:
        return list(self.input_types(class_type))

    def constant(self, class_type: str, name: str, value: int):
        """``value`` made a constant of the input's type."""
        input_type = self.input_types(class_type)[name]
        if input_type == "STRING":
            return "abc"[: value % 4]
        if isinstance(input_type, list):  # Pick's COMBO: any word, offered or not
            return nodes.WORDS[value % len(nodes.WORDS)]
        return value

    def has_outputs(self, node_id: str) -> bool:
        node_type = self.registry.get(self.prompt[node_id]["class_type"])
        return bool(node_type.return_types)

    def producers_before(self, node_id: str | None) -> list[str]:
        """Nodes with an output that come before ``node_id`` (all of them for None)."""
        found = []
        for other in self.prompt:
            if other == node_id:
                break
            if self.has_outputs(other):
                found.append(other)
        return found

    def link_to(self, producers: list[str], pick: int) -> list:
        """A link to one of ``producers``: for even picks one of the last three (chains)."""
        if pick % 2 == 0:
            producers = producers[-3:]
        return [producers[pick // 2 % len(producers)], 0]

    def pick_node(self, index: int) -> str:
        ids = list(self.prompt)
        return ids[index % len(ids)]

    def targets(self, choice: list[int] | None) -> list[str] | None:
        if choice is None or not self.prompt:
            return None
        return list(dict.fromkeys(self.pick_node(i) for i in choice))

    def descendants(self, node_id: str) -> set[str]:
        found = {node_id}
        for other, entry in self.prompt.items():  # consumers come after their producers
            if any(isinstance(v, list) and v[0] in found for v in entry["inputs"].values()):
                found.add(other)
        return found - {node_id}

    # --- running and comparing -------------------------------------------------------

    def check(self, prompt: dict, targets: list[str] | None, interrupt_at: int | None = None):
        """Run ``prompt`` on every executor and compare each result with a cold run's."""
        live = prompt is self.prompt
        cold = Executor(self.registry, cache="none")
        expected = cold.execute(copy.deepcopy(prompt), outputs=copy.copy(targets))
        for name, ex in self.executors.items():
            given = prompt if live and name == "classic-live" else copy.deepcopy(prompt)
            unsubscribe = None
            if interrupt_at is not None:
                unsubscribe = ex.subscribe(InterruptAt(ex, interrupt_at))
            try:
                got = ex.execute(given, outputs=copy.copy(targets))
            finally:
                if unsubscribe is not None:
                    unsubscribe()
            if got.status == "interrupted":
                continue
            assert outcome(got) == outcome(expected), (
                f"executor {name!r} differs from a cold run\n"
                f"prompt: {prompt}\ntargets: {targets}\n"
                f"rerun: {outcome(got)}\ncold:  {outcome(expected)}"
            )
            assert not got.executed & got.cached, (name, got.executed, got.cached)
            if name == "none":
                assert not got.cached, f"cache 'none' served {got.cached}"
            if got.status == "success":
                # A rerun touches no node that a cold run would not run (or reuse).
                assert (
                    got.executed | got.cached | got.reused <= expected.executed | expected.reused
                ), (
                    name,
                    got.executed,
                    got.cached,
                    expected.executed,
                )
                if name == "none":
                    assert got.executed == expected.executed, (got.executed, expected.executed)

    def edited(self, then) -> None:
        """After an edit: nothing, a run, or a run after an invalid or interrupted one."""
        if then is None:
            return
        if then[0] == "invalid" and self.prompt:
            self.check(*self.broken(*then[1:], outputs="downstream"))
        elif then[0] == "interrupt":
            self.check(self.prompt, None, interrupt_at=then[1])
        self.check(self.prompt, None)

    # --- rules: edits ------------------------------------------------------------------

    @initialize(value=constants, more=st.lists(node_choices, max_size=6))
    def start(self, value, more):
        """A Const shown by a Show, and up to six more nodes."""
        source = self.new_node("Const", {"v": value})
        self.new_node("Show", {"x": [source, 0], "tag": 0})
        for class_type, choices, observed in more:
            self.add(class_type, choices, observed)
        self.check(self.prompt, None)

    @precondition(lambda self: len(self.prompt) < MAX_NODES)
    @rule(new=node_choices, then=followups)
    def add_node(self, new, then):
        self.add(*new)
        self.edited(then)

    def add(self, class_type: str, choices: list, observed: str | None) -> None:
        """Add a node linked to earlier ones, and an ``observed`` output node on it."""
        producers = self.producers_before(None)
        inputs = {}
        for name, (linked, pick, value) in zip(self.input_names(class_type), choices, strict=False):
            if linked and producers:
                inputs[name] = self.link_to(producers, pick)
            else:
                inputs[name] = self.constant(class_type, name, value)
        node_id = self.new_node(class_type, inputs)
        if observed and self.has_outputs(node_id):
            shown = {"x": [node_id, 0]}
            if observed == "Show":
                shown["tag"] = 0
            self.new_node(observed, shown)

    @precondition(lambda self: self.prompt)
    @rule(
        pick=picks,
        class_type=st.sampled_from(CLASSES),
        choices=input_choices,
        then=followups,
    )
    def replace_node(self, pick, class_type, choices, then):
        """Give a node another class and inputs under the same id; its consumers stay linked."""
        node_id = self.pick_node(pick)
        producers = self.producers_before(node_id)
        inputs = {}
        for name, (linked, source, value) in zip(
            self.input_names(class_type), choices, strict=False
        ):
            if linked and producers:
                inputs[name] = self.link_to(producers, source)
            else:
                inputs[name] = self.constant(class_type, name, value)
        self.prompt[node_id] = {"class_type": class_type, "inputs": inputs}
        self.edited(then)

    @precondition(lambda self: len(self.prompt) > 1)
    @rule(pick=picks, fix_links=st.booleans(), value=constants, then=followups)
    def remove_node(self, pick, fix_links, value, then):
        """Remove a node; its consumers get a constant instead, or keep a dangling link."""
        gone = self.pick_node(pick)
        del self.prompt[gone]
        if fix_links:
            for entry in self.prompt.values():
                for name, v in entry["inputs"].items():
                    if isinstance(v, list) and v[0] == gone:
                        entry["inputs"][name] = self.constant(entry["class_type"], name, value)
        self.edited(then)

    @rule(value=constants, then=followups)
    def repair_dangling_links(self, value, then):
        for entry in self.prompt.values():
            for name, v in entry["inputs"].items():
                if isinstance(v, list) and v[0] not in self.prompt:
                    entry["inputs"][name] = self.constant(entry["class_type"], name, value)
        self.edited(then)

    @precondition(lambda self: self.prompt)
    @rule(pick=picks, which=picks, value=constants, then=followups)
    def set_constant(self, pick, which, value, then):
        entry = self.prompt[self.pick_node(pick)]
        names = self.input_names(entry["class_type"])
        name = names[which % len(names)]
        entry["inputs"][name] = self.constant(entry["class_type"], name, value)
        self.edited(then)

    @precondition(lambda self: self.prompt)
    @rule(pick=picks, which=picks, source=picks, then=followups)
    def move_link(self, pick, which, source, then):
        """Link one input to another earlier node (never a cycle)."""
        node_id = self.pick_node(pick)
        producers = self.producers_before(node_id)
        if not producers:
            return
        entry = self.prompt[node_id]
        names = self.input_names(entry["class_type"])
        entry["inputs"][names[which % len(names)]] = self.link_to(producers, source)
        self.edited(then)

    @precondition(lambda self: len(self.prompt) < MAX_NODES)
    @rule(class_type=st.sampled_from(["Show", "Tap"]), source=picks, then=followups)
    def observe(self, class_type, source, then):
        """Add an output node showing an existing node (so that more of the graph matters)."""
        producers = self.producers_before(None)
        if producers:
            inputs = {"x": self.link_to(producers, source)}
            if class_type == "Show":
                inputs["tag"] = 0
            self.new_node(class_type, inputs)
            self.edited(then)

    @precondition(lambda self: self.prompt)
    @rule(pick=picks, then=followups)
    def rename_node(self, pick, then):
        """Give a node a new id (same place in the order); its consumers follow."""
        old = self.pick_node(pick)
        new = f"n{self.next_id}"
        self.next_id += 1
        self.prompt = {(new if k == old else k): v for k, v in self.prompt.items()}
        for entry in self.prompt.values():
            for name, v in entry["inputs"].items():
                if isinstance(v, list) and v[0] == old:
                    entry["inputs"][name] = [new, v[1]]
        self.edited(then)

    @rule(class_type=st.sampled_from(REDEFINABLE), variant=picks, then=followups)
    def redefine_node_type(self, class_type, variant, then):
        """Register another definition under the name (always a different one)."""
        variants = nodes.VARIANTS[class_type]
        others = [i for i in range(len(variants)) if i != self.variant[class_type]]
        self.variant[class_type] = others[variant % len(others)]
        self.registry.register(variants[self.variant[class_type]], name=class_type)
        self.edited(then)

    @rule(
        what=st.sampled_from(["world", "global", "choices"]),
        value=st.integers(0, 7),
        then=followups,
    )
    def change_outside(self, what, value, then):
        """Change what nodes read outside the graph: the WORLD that World reads
        (reported by IS_CHANGED), the global OFFSET (fingerprinted with Offset's
        code), or Pick's choices (its INPUT_TYPES: some constants become invalid)."""
        if what == "world":
            nodes.WORLD[:] = [value, value + 1, value + 2]
        elif what == "global":
            nodes.OFFSET = value
        else:
            nodes.CHOICES[:] = [w for i, w in enumerate(nodes.WORDS) if value >> i & 1]
        self.edited(then)

    # --- rules: runs -------------------------------------------------------------------

    @rule(outputs=target_picks, interrupt_at=st.one_of(st.none(), st.integers(1, 8)))
    def run(self, outputs, interrupt_at):
        self.check(self.prompt, self.targets(outputs), interrupt_at)

    @precondition(lambda self: self.prompt)
    @rule(
        kind=st.sampled_from(INVALID_KINDS),
        pick=picks,
        which=picks,
        outputs=st.one_of(st.just("downstream"), target_picks),
    )
    def run_invalid(self, kind, pick, which, outputs):
        """Run a broken copy of the graph; the graph itself stays as it is."""
        self.check(*self.broken(kind, pick, which, outputs))

    def broken(self, kind: str, pick: int, which: int, outputs) -> tuple[dict, list | None]:
        """A copy of the graph broken as ``kind`` says, and the targets to run it with.

        With ``outputs="downstream"`` the targets are the broken node and what
        depends on it, so that every target fails validation.
        """
        prompt = copy.deepcopy(self.prompt)
        node_id = self.pick_node(pick)
        if outputs == "downstream":
            targets = [node_id, *sorted(self.descendants(node_id))]
        else:
            targets = self.targets(outputs)
        entry = prompt[node_id]
        names = self.input_names(entry["class_type"])
        name = names[which % len(names)]
        producers = self.producers_before(None)
        if kind == "drop_required_input":
            entry["inputs"].pop(name, None)
        elif kind == "wrong_constant_type":
            entry["inputs"][name] = "not a number"
        elif kind == "unknown_class":
            entry["class_type"] = "NoSuchNode"
        elif kind == "link_to_missing_slot" and producers:
            entry["inputs"][name] = [producers[which % len(producers)], 5]
        elif kind == "link_to_missing_node":
            entry["inputs"][name] = ["ghost", 0]
        elif kind == "cycle":
            # Link the node to itself or to a node downstream of it.
            later = [n for n in sorted(self.descendants(node_id)) if self.has_outputs(n)]
            loop = later[which % len(later)] if later else node_id
            entry["inputs"][name] = [loop, 0]
        elif kind == "unknown_target":
            targets = [*(targets or []), "ghost"]
        return prompt, targets


# Passing takes about 20 s of CPU. A failure is shrunk to a short sequence first,
# which may take hypothesis up to its own limit of 5 minutes: the timeout leaves it that.
@pytest.mark.timeout(900)
def test_reruns_match_cold_runs():
    """The acceptance test: 100 sequences of up to 50 steps (over 4,000 steps in all),
    the same sequences on every run (derandomized, no example database)."""
    run_state_machine_as_test(
        DifferentialMachine,
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            derandomize=True,
            database=None,
            deadline=None,
            # No "explain" phase: it traces every line, which makes a failure take minutes.
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# --- the defects it found, as regression tests --------------------------------------------
#
# Each compares a rerun with a cold run of the same prompt (not with a value
# written here), so that it holds whichever way the engine is made consistent.


def cold_run(registry: NodeRegistry, prompt: dict, outputs=None):
    return Executor(registry, cache="none").execute(copy.deepcopy(prompt), outputs=outputs)


@node_type
def k(v: int = 0) -> int:
    return v


@node_type(output=True)
def show(x: int, label: str) -> None:
    return NodeOutput(ui={"x": [x]})


@pytest.mark.parametrize("cache", CACHES)
def test_invalid_prompt_leaves_no_stale_state(cache):
    """An invalid prompt between two runs must not make the next run reuse the first's values.

    The invalid prompt's validation remembers node 1 (changed, valid in itself)
    as validated; the next run took that to mean "unchanged since the last
    run" and reused what the run before the invalid prompt knew of node 1.
    """
    registry = NodeRegistry()
    registry.register(k)
    registry.register(show)
    ex = Executor(registry, cache=cache)

    def prompt(v):
        return {
            "1": node("k", v=v),
            "2": node("show", x=["1", 0], label="a"),
        }

    assert ex.execute(prompt(1)).outputs == {"2": {"x": [1]}}
    bad = prompt(2)
    del bad["2"]["inputs"]["label"]
    assert ex.execute(bad).status == "invalid"
    r = ex.execute(prompt(2))
    assert r.status == "success"
    assert r.outputs == {"2": {"x": [2]}}


@pytest.mark.parametrize("strategy", CACHES)
@pytest.mark.parametrize("targets", [None, ["e", "s"]], ids=["full", "expanding-target"])
def test_cached_expansion_reports_the_output_nodes_it_made(strategy, targets):
    """A rerun that takes the expanding node from the cache reports what a cold run does.

    The outputs of a run are its targets' ui; an expanding target's ui is that of the
    output nodes its expansion made (here the Show inside "e"), kept with its entry.
    """
    registry = nodes.make_registry()
    prompt = {
        "e": node("Expand", x=0, depth=2),  # depth 2: the subgraph has a Show
        "s": node("Show", x=["e", 0], tag=0),
    }
    cold = cold_run(registry, prompt, outputs=targets)
    assert set(cold.outputs) == set(targets or ["s"])
    if targets:
        assert cold.outputs["e"]["x"]  # the inner Show's ui, shown as the expanding node's
    ex = Executor(registry, **STRATEGIES[strategy])
    assert ex.execute(copy.deepcopy(prompt), outputs=targets).outputs == cold.outputs
    assert ex.execute(copy.deepcopy(prompt), outputs=targets).outputs == cold.outputs


@pytest.mark.parametrize("lru_size", [1, 2, 100])
def test_partial_rerun_reports_output_nodes_upstream_as_a_cold_run_does(lru_size):
    """A partial run reports the ui of the output nodes its target depends on (the
    Tap here), when they run. A rerun must report the same whatever the cache
    has evicted: with one or two entries left, the Tap's was gone and its ui missing."""
    registry = nodes.make_registry()
    prompt = {
        "t": node("Tap", x=1),
        "a": node("Add", a=["t", 0], b=1),
        "s": node("Show", x=["a", 0], tag=0),
    }
    ex = Executor(registry, cache="lru", lru_size=lru_size)
    ex.execute(copy.deepcopy(prompt))
    r = ex.execute(copy.deepcopy(prompt), outputs=["s"])
    cold = cold_run(registry, prompt, outputs=["s"])
    assert r.status == cold.status == "success"
    assert r.outputs == cold.outputs


@pytest.mark.parametrize("strategy", CACHES)
def test_redefining_a_node_type_reruns_expansions_that_use_it(strategy):
    """Expand's subgraph is made of Add and Mul nodes: redefining Add changes its
    result, so its cached outputs must not be served."""
    registry = nodes.make_registry()
    prompt = {
        "e": node("Expand", x=0, depth=0),  # Mul(Add(0, 1), 2)
        "s": node("Show", x=["e", 0], tag=0),
    }
    ex = Executor(registry, **STRATEGIES[strategy])
    before = ex.execute(copy.deepcopy(prompt))
    registry.register(nodes.add_plus_one, name="Add")
    after = ex.execute(copy.deepcopy(prompt))
    cold = cold_run(registry, prompt)
    assert before.outputs != cold.outputs  # the redefinition does change the result
    assert after.outputs == cold.outputs


@pytest.mark.parametrize("cache", CACHES)
def test_invalid_prompt_after_a_rename_leaves_no_stale_links(cache):
    """The same stale state, seen as a crash: node "1" renamed "3", an invalid
    prompt, then the fixed prompt failed with "node '1' is not in the prompt"."""
    registry = nodes.make_registry()
    ex = Executor(registry, **STRATEGIES[cache])
    ex.execute({"1": node("Const", v=5), "2": node("Show", x=["1", 0], tag=0)})
    renamed = {"3": node("Const", v=5), "2": node("Show", x=["3", 0], tag=0)}
    bad = copy.deepcopy(renamed)
    del bad["3"]["inputs"]["v"]
    assert ex.execute(bad).status == "invalid"
    r = ex.execute(copy.deepcopy(renamed))
    cold = cold_run(registry, renamed)
    assert (r.status, r.error, r.outputs) == (cold.status, cold.error, cold.outputs)
