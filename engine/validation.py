"""Prompt validation, with ComfyUI's error types and shapes.

``validate_prompt`` checks the structure of the prompt, then walks back from
each output (or each partial-execution target) through its links, validating
every node it reaches once. A node is valid when its own inputs are and every
node it links to is; an invalid node makes the outputs that depend on it
invalid, and only those: the other outputs still run.

Errors are dicts ``{"type", "message", "details", "extra_info"}``. Per node,
``node_errors[id] = {"errors": [...], "dependent_outputs": [...], "class_type"}``.

The walk uses an explicit stack, not recursion, so a 10,000-deep chain
validates, and a cycle is reported as ``dependency_cycle`` on each node in it.
Constants are converted (``"5"`` → 5 for an INT) into ``ValidationResult.prompt``,
a copy; the caller's prompt is never modified.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from ._aio import resolve
from .errors import full_name
from .graph import ExecutionBlocker
from .nodespec import InputSpec, NodeSpec
from .registry import NodeRegistry, NodeType

_CONVERTERS = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}
PLAIN = (str, int, float, bool, type(None))  # constants that compare by value

# A cycle's error lists its first CYCLE_SHOWN nodes and is reported on its first
# CYCLE_REPORTED nodes (every node of it is invalid).
CYCLE_SHOWN = 12
CYCLE_REPORTED = 100


@dataclass
class ValidationResult:
    ok: bool
    error: dict | None = None
    outputs: list[str] = field(default_factory=list)
    node_errors: dict[str, dict] = field(default_factory=dict)
    prompt: dict[str, dict] = field(default_factory=dict)  # with constants converted
    unchanged: set[str] = field(default_factory=set)  # nodes the memo showed as unchanged
    # The valid nodes walked, each after the nodes it links to (empty if the memo
    # showed every node unchanged and nothing was walked).
    order: list[str] = field(default_factory=list)
    specs: dict[str, NodeSpec] = field(default_factory=dict)  # class type -> the spec used
    memo: ValidationMemo | None = None  # what the next validation may reuse, if a memo was given


def error(type: str, message: str, details: str = "", **extra_info: Any) -> dict:
    return {"type": type, "message": message, "details": details, "extra_info": extra_info}


def types_match(received: Any, expected: Any) -> bool:
    """ComfyUI's link type check: equal, ``"*"``, or overlapping ``"A,B"`` unions.

    Equality is tested as ``not received != expected`` so that ``str`` subclasses
    overriding ``__ne__`` (node packs' "any type") decide for themselves.
    """
    if isinstance(expected, list):  # a COMBO input accepts COMBO outputs
        expected = "COMBO"
    if not received != expected:  # noqa: SIM202 (see docstring)
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    received_set = {t.strip() for t in received.split(",")}
    expected_set = {t.strip() for t in expected.split(",")}
    if "*" in received_set or "*" in expected_set:
        return True
    return not received_set.isdisjoint(expected_set)


@dataclass(frozen=True)
class ValidationMemo:
    """What one validation learnt that the next may reuse (see ``engine.last_run``).

    A node validated without errors, conversions or a ``VALIDATE_INPUTS`` is
    valid again if its class type, its inputs (plain constants and links only,
    compared by value), the class types it links to and its class's
    ``INPUT_TYPES()`` are all unchanged, and no node type was (re)registered.
    Everything else is validated afresh: custom validators may look at the
    world (a file that went missing), so they always run.

    A validation never changes the memo it is given: it returns a new one
    (``ValidationResult.memo``), which the executor keeps only if the prompt runs.
    """

    generation: int = -1  # the registry's generation it was made under
    specs: dict[str, NodeSpec] = field(default_factory=dict)  # class type -> its spec
    nodes: dict[str, tuple] = field(
        default_factory=dict
    )  # id -> (class, inputs, linked types, deps)
    # The prompt's targets, and its nodes no target reached (not validated):
    # node id -> (class type, inputs). With the same targets and every other node
    # unchanged, they are still unreached.
    targets: list[str] = field(default_factory=list)
    unreached: dict[str, tuple] = field(default_factory=dict)
    seen: frozenset[str] = frozenset()  # the node ids of the prompt


class _Validator:
    def __init__(self, prompt: dict, registry: NodeRegistry, memo: ValidationMemo | None):
        self.prompt = prompt
        self.registry = registry
        self.normalized = dict(prompt)
        self.specs: dict[
            str, NodeSpec
        ] = {}  # class_type -> its spec (INPUT_TYPES() once per prompt)
        # node id -> (valid, errors, ids of the nodes it links to)
        self.validated: dict[str, tuple[bool, list, list]] = {}
        self.memo = memo
        self.reusable: dict[str, bool] = {}  # class type -> its spec is unchanged since the memo
        self.learnt: dict[str, tuple] = {}  # the memo's next nodes
        self.learnt_unreached: dict[str, tuple] = {}  # and its next unreached nodes
        self.unchanged: set[str] = set()
        self.in_cycle: set[str] = set()  # nodes on a cycle: invalid, reported or not
        if memo is not None and memo.generation != registry.generation:
            # A node type was (re)registered since: no node or spec is known any more.
            self.memo = ValidationMemo(
                registry.generation, {}, {}, memo.targets, memo.unreached, memo.seen
            )

    def spec(self, node_type: NodeType) -> NodeSpec:
        spec = self.specs.get(node_type.name)
        if spec is None:
            spec = self.specs[node_type.name] = node_type.spec()
            if self.memo is not None:  # the same object if INPUT_TYPES() returned the same
                self.reusable[node_type.name] = self.memo.specs.get(node_type.name) is spec
        return spec

    def remembered(self, node_id: str, node: dict) -> list | None:
        """The node's links if the memo shows it valid and unchanged, else None."""
        known = self.memo.nodes.get(node_id)
        class_type = node["class_type"]
        if known is None or known[0] != class_type:
            return None
        reusable = self.reusable.get(class_type)
        if reusable is None:  # first node of its class: is its INPUT_TYPES() unchanged?
            self.spec(self.registry.get(class_type))
            reusable = self.reusable[class_type]
        if not reusable:
            return None
        try:
            if known[1] != node.get("inputs", {}):
                return None
        except Exception:  # an input whose == is not a bool (a tensor): compare no further
            return None
        deps = known[3]
        prompt = self.prompt
        for (_, producer), linked_type in zip(deps, known[2], strict=True):
            linked = prompt.get(producer)
            if linked is None or linked["class_type"] != linked_type:
                return None
        self.learnt[node_id] = known
        self.unchanged.add(node_id)
        return deps

    def all_remembered(self) -> bool:
        """True if the memo shows every node of the prompt valid and unchanged.

        Then every output is valid and there is no cycle (making one changes a
        node's inputs), so nothing needs walking.
        """
        unreached = self.memo.unreached
        for node_id, node in self.prompt.items():
            if self.remembered(node_id, node) is None:
                known = unreached.get(node_id)
                if known is None or not _same_node(known, node):
                    return False
                self.learnt_unreached[node_id] = known
                self.unchanged.add(node_id)
        return True

    def learn(self, node_id: str, node: dict, deps: list) -> None:
        """Remember a node that validated cleanly, if its inputs are plain enough to compare.

        Only a node the previous validation saw too: a prompt run once does not
        pay for remembering (the second run learns, the third reuses).
        """
        if node_id not in self.memo.seen:
            return
        snapshot = _snapshot(node)
        if snapshot is None:
            return
        linked = tuple(self.prompt[producer]["class_type"] for _, producer in deps)
        self.learnt[node_id] = (*snapshot, linked, deps)

    def save(self, targets: list[str]) -> ValidationMemo | None:
        """The memo for the next validation: what this one learnt of its prompt."""
        if self.memo is None:
            return None
        unreached = self.learnt_unreached
        seen = self.memo.seen
        for node_id, node in self.prompt.items():
            if (
                node_id not in self.validated
                and node_id not in self.learnt
                and node_id not in unreached
                and node_id in seen
            ):
                snapshot = _snapshot(node)
                if snapshot is not None:
                    unreached[node_id] = snapshot
        return ValidationMemo(
            self.registry.generation,
            self.specs,
            self.learnt,
            targets,
            unreached,
            frozenset(self.prompt),
        )

    def validate_tree(self, root: str) -> None:
        """Validate ``root`` and everything it links to, without recursion."""
        if root in self.validated:
            return
        validated = self.validated
        visiting: dict[str, int] = {}  # node id -> its index on the stack
        stack: list[list] = []  # [node id, errors, deps, index of the next dep]

        def enter(node_id: str, via: tuple[str, str] | None) -> None:
            errors, deps = self.check_node(node_id, via, is_root=via is None)
            visiting[node_id] = len(stack)
            stack.append([node_id, errors, deps, 0])

        enter(root, None)
        while stack:
            top = stack[-1]
            deps, index = top[2], top[3]
            if index < len(deps):
                top[3] = index + 1
                input_name, dep = deps[index]
                if dep in visiting:
                    self.report_cycle(stack[visiting[dep] :])
                elif dep not in validated:
                    enter(dep, (top[0], input_name))
                continue
            stack.pop()
            del visiting[top[0]]
            valid = not top[1] and top[0] not in self.in_cycle
            ids = []
            for _, dep in deps:  # a dep still on the stack closed a cycle: already reported
                ids.append(dep)
                if valid and dep in validated and not validated[dep][0]:
                    valid = False
            validated[top[0]] = (valid, top[1], ids)

    def report_cycle(self, members: list) -> None:
        """Mark the nodes of a cycle invalid (``members``: their stack entries, in link order).

        The error names the cycle (shortened past ``CYCLE_SHOWN`` nodes) and is put on
        at most ``CYCLE_REPORTED`` of them: the report of a 10,000-node cycle stays small,
        where naming the whole cycle on every node of it grew with its length squared.
        """
        cycle = [entry[0] for entry in members]
        self.in_cycle.update(cycle)
        shown = [f"{n} ({_short(self.prompt[n]['class_type'], 60)})" for n in cycle[:CYCLE_SHOWN]]
        if len(cycle) > CYCLE_SHOWN:
            shown.append(f"… {len(cycle) - CYCLE_SHOWN:,} more")
        shown.append(shown[0])
        problem = error(
            "dependency_cycle",
            "Dependency cycle detected",
            " -> ".join(shown),
            cycle_length=len(cycle),
        )
        for entry in members[:CYCLE_REPORTED]:
            if not any(e["type"] == "dependency_cycle" for e in entry[1]):
                entry[1].append(problem)

    def check_node(self, node_id: str, via: tuple[str, str] | None, is_root: bool):
        """Errors of the node's own inputs, and the (input, node id) pairs it links to."""
        node = self.prompt[node_id]
        node_type = self.registry.get(node["class_type"])
        try:
            return self._check_inputs(node_id, node, node_type)
        except Exception as exc:
            info = {
                "exception_message": str(exc),
                "exception_type": full_name(type(exc)),
                "traceback": traceback.format_tb(exc.__traceback__),
            }
            if is_root:
                problem = error(
                    "exception_during_validation",
                    "Exception when validating node",
                    str(exc),
                    **info,
                )
            else:
                consumer, input_name = via
                consumer_type = self.registry.get(self.prompt[consumer]["class_type"])
                declared = self.spec(consumer_type).input(input_name)
                problem = error(
                    "exception_during_inner_validation",
                    "Exception when validating inner node",
                    str(exc),
                    input_name=input_name,
                    input_config=declared.config if declared is not None else None,
                    linked_node=list(self.prompt[consumer]["inputs"][input_name]),
                    **info,
                )
            return [problem], []

    def _check_inputs(self, node_id: str, node: dict, node_type: NodeType):
        if self.memo is not None:
            deps = self.remembered(node_id, node)
            if deps is not None:
                return [], deps
        spec = self.spec(node_type)
        inputs = node.get("inputs", {})
        errors: list[dict] = []
        deps: list[tuple[str, str]] = []
        received_types: dict[str, Any] = {}
        converted: dict[str, Any] = {}
        validate_args, validate_kwargs = spec.validate_args, spec.validate_kwargs

        by_name = spec.by_name
        for name, value in inputs.items():  # undeclared links still run: validate their source
            if isinstance(value, list) and (name not in by_name or by_name[name].kind == "hidden"):
                source = self._link_source(value)
                if source is not None:
                    deps.append((name, source[0]))

        for declared in spec.inputs:
            name = declared.name
            if name not in inputs:
                if declared.required:
                    errors.append(
                        error(
                            "required_input_missing",
                            "Required input is missing",
                            name,
                            input_name=name,
                        )
                    )
                continue
            value = inputs[name]
            if isinstance(value, list):
                source, problem = self._check_link(declared, value, validate_args, received_types)
                if problem is not None:
                    errors.append(problem)
                else:
                    deps.append((name, source[0]))
                    if source[0] is not value[0] or source[1] is not value[1]:
                        converted[name] = list(source)
                continue
            problem = self._check_constant(
                declared, value, validate_args, validate_kwargs, converted
            )
            if problem is not None:
                errors.append(problem)

        if converted:
            self.normalized[node_id] = {**node, "inputs": {**inputs, **converted}}
        if spec.validate is not None and (validate_args or validate_kwargs):
            errors.extend(self._custom_validation(node_id, spec, received_types))
        elif self.memo is not None and not errors and not converted:
            self.learn(node_id, node, deps)
        return errors, deps

    def _link_source(self, value: list) -> tuple[str, int] | None:
        if len(value) != 2:
            return None
        source, slot = value
        if type(source) is str and type(slot) is int:  # the usual [node id, slot]
            return (source, slot) if source in self.prompt else None
        if isinstance(source, int) and not isinstance(source, bool):
            source = str(source)
        if not isinstance(source, str) or source not in self.prompt:
            return None
        if isinstance(slot, float) and slot.is_integer():
            slot = int(slot)
        if not isinstance(slot, int) or isinstance(slot, bool):
            return None
        return source, slot

    def _check_link(self, declared: InputSpec, value, validate_args, received_types):
        """(the normalized source, None), or (None, the error)."""
        name, input_type = declared.name, declared.type
        if len(value) != 2:
            return None, error(
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                name,
                input_name=name,
                input_config=declared.config,
                received_value=_short(value),
            )
        source = self._link_source(value)
        if source is None:
            linked = value[0]
            if isinstance(linked, int) and not isinstance(linked, bool):
                linked = str(linked)
            if isinstance(linked, str) and linked in self.prompt:
                reason = f"the slot {_text(value[1])} is not an integer"
            else:
                reason = f"node {_text(value[0])} is not in the prompt"
            return None, error(
                "bad_linked_input",
                f"Bad linked input: {reason}",
                f"{name}, {_text(value)}",
                input_name=name,
                input_config=declared.config,
                received_value=_short(value),
            )
        source_id, slot = source
        source_type = self.registry.get(self.prompt[source_id]["class_type"])
        if not 0 <= slot < len(source_type.return_types):
            return None, error(
                "bad_linked_input",
                f"Bad linked input: node {source_id} has no output {slot}",
                f"{name}, {_text(value)}",
                input_name=name,
                input_config=declared.config,
                received_value=_short(value),
            )
        received = source_type.return_types[slot]
        received_types[name] = received
        if (
            received != input_type  # most links: equal (types_match's own first test)
            and "input_types" not in validate_args
            and not types_match(received, input_type)
        ):
            return None, error(
                "return_type_mismatch",
                "Return type mismatch between linked nodes",
                f"{name}, received_type({received}) mismatch input_type({input_type})",
                input_name=name,
                input_config=declared.config,
                received_type=received,
                linked_node=list(source),
            )
        return source, None

    def _check_constant(
        self, declared: InputSpec, value, validate_args, validate_kwargs, converted
    ):
        name, input_type, options = declared.name, declared.type, declared.options
        if isinstance(value, dict) and "__value__" in value:  # a list constant, wrapped
            value = converted[name] = value["__value__"]
        convert = _CONVERTERS.get(input_type) if isinstance(input_type, str) else None
        if convert is not None and type(value) is not convert:
            try:
                new_value = convert(value)
            except Exception as exc:
                return error(
                    "invalid_input_type",
                    f"Failed to convert an input value to a {input_type} value",
                    f"{name}, {_short(value)}, {exc}",
                    input_name=name,
                    input_config=declared.config,
                    received_value=_short(value),
                    exception_message=str(exc),
                )
            value = converted[name] = new_value
        if name in validate_args or validate_kwargs:
            return None  # the node's VALIDATE_INPUTS replaces the built-in checks
        if "min" in options and value < options["min"]:
            return error(
                "value_smaller_than_min",
                f"Value {_text(value)} smaller than min of {_text(options['min'])}",
                name,
                input_name=name,
                input_config=declared.config,
                received_value=_short(value),
            )
        if "max" in options and value > options["max"]:
            return error(
                "value_bigger_than_max",
                f"Value {_text(value)} bigger than max of {_text(options['max'])}",
                name,
                input_name=name,
                input_config=declared.config,
                received_value=_short(value),
            )
        choices = declared.choices
        if choices is not None and value not in choices:
            listed = f"(list of length {len(choices)})" if len(choices) > 20 else str(choices)
            return error(
                "value_not_in_list",
                "Value not in list",
                f"{name}: '{_short(value)}' not in {listed}",
                input_name=name,
                input_config=declared.config if len(choices) <= 20 else None,
                received_value=_short(value),
            )
        return None

    def _custom_validation(self, node_id: str, spec: NodeSpec, received_types: dict) -> list:
        node = self.normalized[node_id]
        inputs = node.get("inputs", {})
        args, has_kwargs = spec.validate_args, spec.validate_kwargs
        values: dict[str, Any] = {}
        for name, value in inputs.items():
            declared = name in spec.by_name
            if (name in args or has_kwargs) and (declared or isinstance(value, list)):
                # Links are not evaluated at validation time: the node sees None.
                values[name] = None if isinstance(value, list) else value
        hidden = {
            "UNIQUE_ID": node_id,
            "PROMPT": self.prompt,
            "EXTRA_PNGINFO": None,
            "DYNPROMPT": None,
        }
        for declared in spec.hidden:
            if declared.name in args:
                values[declared.name] = hidden.get(declared.type)
        if "input_types" in args:
            values["input_types"] = received_types
        result = resolve(spec.validate(**values))
        if result is True or isinstance(result, ExecutionBlocker):
            return []
        details = "" if result is False else f" - {result}"
        return [
            error(
                "custom_validation_failed",
                "Custom validation failed for node",
                f"{name}{details}",
                input_name=name,
            )
            for name in (values or {"": None})
        ]


def validate_prompt(
    prompt: Any,
    registry: NodeRegistry,
    outputs: list[str] | None = None,
    memo: ValidationMemo | None = None,
) -> ValidationResult:
    """Validate an API prompt; ``outputs`` selects partial-execution targets (any node ids).

    ``memo`` (optional) carries what this validation learns to the next one.
    """
    problem = _check_structure(prompt, registry)
    if problem is not None:
        return ValidationResult(False, problem)

    if outputs is None:
        targets = [n for n, node in prompt.items() if registry.get(node["class_type"]).is_output]
    else:
        if isinstance(outputs, (str, bytes)) or not hasattr(outputs, "__iter__"):
            return ValidationResult(
                False, error("invalid_prompt", "outputs must be a list of node ids")
            )
        targets = []
        for target in outputs:
            target = str(target) if isinstance(target, int) else target
            if not isinstance(target, str) or target not in prompt:
                return ValidationResult(
                    False,
                    error(
                        "invalid_prompt",
                        "Partial execution target is not a node of the prompt",
                        repr(target),
                        node_id=target if isinstance(target, str) else repr(target),
                    ),
                )
            if target not in targets:
                targets.append(target)
    if not targets:
        return ValidationResult(False, error("prompt_no_outputs", "Prompt has no outputs"))

    validator = _Validator(prompt, registry, memo)
    memo = validator.memo
    if memo is not None and memo.nodes and memo.targets == targets and validator.all_remembered():
        return ValidationResult(
            True,
            None,
            targets,
            {},
            validator.normalized,
            validator.unchanged,
            [],
            validator.specs,
            validator.save(targets),
        )
    good: list[str] = []
    node_errors: dict[str, dict] = {}
    failures: dict[int, str] = {}  # id of an error -> its line (an error shared by nodes: once)
    for target in targets:
        validator.validate_tree(target)
        if validator.validated[target][0]:
            good.append(target)
            continue
        for node_id in _tree(validator.validated, target):
            errors = validator.validated[node_id][1]
            if errors:
                entry = node_errors.setdefault(
                    node_id,
                    {
                        "errors": errors,
                        "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"],
                    },
                )
                entry["dependent_outputs"].append(target)
                for e in errors:
                    failures.setdefault(id(e), f"{e['message']}: {e['details']}")
    if not good:
        failed = error(
            "prompt_outputs_failed_validation",
            "Prompt outputs failed validation",
            "\n".join(failures.values()),
        )
        return ValidationResult(False, failed, [], node_errors, validator.normalized)
    order = [node_id for node_id, (valid, _, _) in validator.validated.items() if valid]
    return ValidationResult(
        True,
        None,
        good,
        node_errors,
        validator.normalized,
        validator.unchanged,
        order,
        validator.specs,
        validator.save(targets),
    )


def _snapshot(node: dict) -> tuple | None:
    """(class type, a copy of the inputs) if every input compares by value, else None."""
    inputs = {}
    for name, value in node.get("inputs", {}).items():
        kind = type(value)
        if kind is list:
            inputs[name] = list(value)
        elif kind in PLAIN:
            inputs[name] = value
        else:
            return None
    return node["class_type"], inputs


def _same_node(snapshot: tuple, node: dict) -> bool:
    try:
        return snapshot[0] == node["class_type"] and snapshot[1] == node.get("inputs", {})
    except Exception:  # an input whose == is not a bool
        return False


def _tree(validated: dict, root: str) -> list[str]:
    seen = {root}
    order = [root]
    for node_id in order:
        for dep in validated[node_id][2]:
            if dep not in seen and dep in validated:
                seen.add(dep)
                order.append(dep)
    return order


def _check_structure(prompt: Any, registry: NodeRegistry) -> dict | None:
    if not isinstance(prompt, dict):
        return error(
            "invalid_prompt", "The prompt must be a dict of node id -> node", type(prompt).__name__
        )
    for node_id, node in prompt.items():
        if not isinstance(node_id, str):
            return error("invalid_prompt", "Node ids must be strings", repr(node_id))
        if not isinstance(node, dict) or "class_type" not in node:
            return error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
                node_id=node_id,
            )
        class_type = node["class_type"]
        if registry.get(class_type) is None:
            return error(
                "invalid_prompt",
                f"Cannot execute because node {_short(class_type)} does not exist.",
                f"Node ID '#{node_id}'",
                node_id=node_id,
                class_type=_short(class_type),
            )
        if not isinstance(node.get("inputs", {}), dict):
            return error(
                "invalid_prompt",
                "A node's inputs must be a dict",
                f"Node ID '#{node_id}'",
                node_id=node_id,
            )
    return None


def _short(value: Any, limit: int = 200) -> Any:
    """``value`` itself if JSON-ready and short, else a short text for it."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        if isinstance(value, str) and len(value) > limit:
            return value[:limit] + "…"
        if isinstance(value, int) and not -(1 << 60) < value < (1 << 60):
            return _text(value, limit)
        return value
    return _text(value, limit)


def _text(value: Any, limit: int = 200) -> str:
    """A short text for any value (ints too long for ``repr`` in hex)."""
    try:
        text = repr(value)
    except Exception:
        text = hex(value) if isinstance(value, int) else f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"
