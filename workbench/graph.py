"""Code-first graphs: build an API prompt by calling node types like functions.

    g = wb.graph()
    img, mask = g.LoadImage(image="cat.png")       # several outputs: unpack or index
    small = g.ImageScaleBy(image=img, scale_by=0.5) # one output: the handle itself
    g.PreviewImage(images=small)

A call checks its keywords against the node's spec at once (unknown input,
wrong link type, a constant of the wrong kind, a missing required link, a
handle from another graph) and names the node type and its valid inputs; a
misspelt node type or input name gets the closest ones suggested. Widget
inputs left out get their default, as ComfyUI's editor would send them. Node
ids are readable and stable (``ImageScaleBy_1``, ``ImageScaleBy_2``...):
building the same graph in the same order gives the same ids, so reruns hit
the cache.

Constants. A kernel value can stand where a link is expected (a tensor, an
image, a dataclass): the engine fingerprints it by content. A list constant is
wrapped as ``{"__value__": [...]}`` so that it is not read as a link. What a
constant may be depends on the input's kind (``engine.nodespec``):

- a widget input (INT, FLOAT, STRING, BOOLEAN, a COMBO), also one forced to a
  socket: a value of its type (an INT an int, not a bool), one of a COMBO's choices;
- a link input of a type ``engine.iotypes`` checks (IMAGE, MASK, LATENT): a value
  passing that check, as a ``@node`` returning it must (an IMAGE is a float
  tensor ``[B, H, W, C]``: not a file name, a PIL image or a numpy array);
- any other link input (MODEL, a pack's own type, a ``@node`` parameter hinted
  with a class): any Python value but a plain ``str``, ``int``, ``float``,
  ``bool`` or ``None``: those are file names, sizes and flags given where the
  node needs an object a node makes, the usual mistake;
- a ``"*"`` input: anything; an optional link input: also ``None`` (no value);
  a union ``"A,B"``: a constant either type takes.

Errors at the user's line. The builder's errors are raised from the user's
call with the builder's own frames cut from the traceback, and the one public
frame left sets ``__tracebackhide__`` (which IPython's tracebacks honour): a
notebook shows the user's line and the message. An error raised deeper (a
node's ``INPUT_TYPES()`` failing) keeps its frames.

Handles (``Output``, ``Node``) belong to the graph that made them: passing one
to another graph (as an input, to ``node()``, ``remove()``, ``set_ui()``...) is
refused, never read as the node with the same id there.

The graph is the one model behind the code and the editor (``docs/graph-model.md``):
besides each node's inputs it keeps its seed policy (``control``) and its UI data
(position, title, mode...), tells its subscribers every edit as an *edit op*, and
applies the editor's edit ops with the same checks as a call.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import keyword
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from engine import NodeRegistry, iotypes
from engine.graph import is_link
from engine.nodespec import NO_DEFAULT, InputSpec, NodeSpec
from engine.seeds import CONTROL_MODES
from engine.validation import types_match
from engine.workflow import MODES, Source, apply_modes
from engine.workflow.jsondoc import copy_json
from engine.workflow.widgets import fallback_value
from nodes import folders

_WIDGET_KINDS = {"INT": (int,), "FLOAT": (int, float), "STRING": (str,), "BOOLEAN": (bool,)}
# Constants that are never a value of an object type: see "Constants" in the module docstring.
_PLAIN = (str, int, float, bool, type(None))


def at_user_frame(function: Callable) -> Callable:
    """A public entry of the builder (or the session): its errors point at the caller's line.

    An error the workbench's own code raised (deliberately: a bad input, an
    unknown node), with only its frames below the entry, is re-raised with those
    frames cut, and the entry's own frame sets ``__tracebackhide__`` for IPython.
    An error with any other code's frame below the entry (a node's
    ``INPUT_TYPES()``, the user's function building a graph) keeps its frames.
    """

    @functools.wraps(function)
    def entry(*args, **kwargs):
        __tracebackhide__ = True  # noqa: F841 (read by IPython's traceback formatter)
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            if not _raised_here(exc):
                raise
            error = exc
        raise error.with_traceback(None)  # the error is in your call: see the message

    return entry


_OWN_CODE = os.path.dirname(os.path.abspath(__file__)) + os.sep  # the workbench package


def _raised_here(exc: BaseException) -> bool:
    """Whether every frame of ``exc``'s traceback is the workbench's own."""
    tb = exc.__traceback__
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_OWN_CODE):
            return False
        tb = tb.tb_next
    return True


class Output:
    """One output of a node in a graph: pass it as another node's input to link them."""

    def __init__(self, graph: Graph, node_id: str, slot: int, name: str, type: Any):
        self.graph = graph
        self.node_id = node_id
        self.slot = slot
        self.name = name
        self.type = type

    def link(self) -> list:
        return [self.node_id, self.slot]

    def __repr__(self) -> str:
        return f"<Output {self.node_id}[{self.slot}] {self.name}: {self.type}>"


class Node:
    """A node in a graph: index it (``node[0]``, ``node["MASK"]``) or unpack it for its outputs."""

    def __init__(self, graph: Graph, node_id: str, class_type: str, outputs: tuple[Output, ...]):
        self.graph = graph
        self.id = node_id
        self.class_type = class_type
        self.outputs = outputs

    @property
    def node_id(self) -> str:
        return self.id

    def __getitem__(self, key: int | str) -> Output:
        __tracebackhide__ = True  # noqa: F841 (errors point at the user's line)
        if isinstance(key, int):
            return self.outputs[key]
        for output in self.outputs:
            if output.name == key or output.name.lower() == str(key).lower():
                return output
        names = [o.name for o in self.outputs]
        raise KeyError(
            f"{self.class_type} has no output {key!r}{_did_you_mean(str(key), names)} "
            f"(outputs: {', '.join(names) or 'none'})"
        )

    def __iter__(self) -> Iterator[Output]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)

    @at_user_frame
    def set(self, **inputs: Any) -> Node:
        """Change inputs of this node in place (checked like a call).

        ``control_after_generate="randomize"`` (or a dict per input) sets the seed policy.
        """
        self.graph._set_inputs(self.id, inputs)
        return self

    @property
    def control(self) -> dict[str, str]:
        """The seed policy of each controlled input (``fixed`` unless set)."""
        return self.graph.control_of(self.id)

    @property
    def ui(self) -> dict:
        """A copy of the node's UI data (position, title, mode...)."""
        return copy.deepcopy(self.graph._ui.get(self.id, {}))

    def __repr__(self) -> str:
        return f"<Node {self.id} ({self.class_type})>"


class Graph:
    """An editable API prompt; node types are its methods (see the module docstring)."""

    def __init__(self, registry: NodeRegistry):
        self._registry = registry
        self._nodes: dict[str, dict] = {}  # node id -> {"class_type", "inputs"} (wire form)
        self._control: dict[str, dict[str, str]] = {}  # node id -> {input: policy}, as set
        self._ui: dict[str, dict] = {}  # node id -> UI data (pos, size, title, mode...)
        self._handles: dict[str, Node] = {}
        self._next_number: dict[str, int] = {}  # class type -> the number its next id tries
        self._subscribers: list[Callable[[dict], None]] = []
        self.document: dict = {}  # workflow data the engine does not read (docs/graph-model.md)
        self.opened_from: Source | None = None  # the workflow it was opened from (saving back)
        self._origin: Any = None  # the origin of the edit op being applied

    # --- building ---

    @at_user_frame
    def add(
        self, class_type: str, _id: str | None = None, *, _links_later: bool = False, **inputs: Any
    ) -> Output | Node:
        """Add a node of ``class_type``; what ``g.<class_type>(...)`` does.

        (``_links_later``: an editor's or a workflow's node, whose links come next.)
        """
        node_type = self._registry.get(class_type)
        if node_type is None:
            raise AttributeError(self._unknown_type(class_type))
        node_id = _id if _id is not None else self._new_id(class_type)
        if node_id in self._nodes:
            raise ValueError(f"node id {node_id!r} is already in the graph")
        self._nodes[node_id] = {"class_type": class_type, "inputs": {}}
        try:
            self._set_inputs(
                node_id, inputs, fill_defaults=not _links_later, notify=False, widgets=True
            )
        except Exception:
            del self._nodes[node_id]
            self._control.pop(node_id, None)
            raise
        self._notify(self._add_op(node_id))
        return self._handle(node_id)

    def _new_id(self, class_type: str) -> str:
        """``<class_type>_<n>``: the first free n from the last one given (not O(nodes))."""
        n = self._next_number.get(class_type, 1)
        while f"{class_type}_{n}" in self._nodes:
            n += 1
        self._next_number[class_type] = n + 1
        return f"{class_type}_{n}"

    def _handle(self, node_id: str) -> Output | Node:
        class_type = self._nodes[node_id]["class_type"]
        node_type = self._registry.get(class_type)  # None for a placeholder: no outputs known
        names = node_type.return_names if node_type is not None else ()
        types = node_type.return_types if node_type is not None else ()
        outputs = tuple(
            Output(self, node_id, i, name, t)
            for i, (name, t) in enumerate(zip(names, types, strict=False))
        )
        node = Node(self, node_id, class_type, outputs)
        self._handles[node_id] = node
        return outputs[0] if len(outputs) == 1 else node

    def _set_inputs(
        self,
        node_id: str,
        inputs: dict,
        fill_defaults: bool = False,
        notify: bool = True,
        widgets: bool = False,
    ) -> None:
        """Check and set ``inputs``; ``fill_defaults``: a new node's missing inputs get their
        defaults (a missing required link is an error); ``widgets``: its missing widget
        inputs get their defaults (a new node whose links come later)."""
        node = self._nodes[node_id]
        class_type = node["class_type"]
        node_type = self._registry.get(class_type)
        if node_type is None:
            raise TypeError(f"node {node_id} is of an unknown node type {class_type!r}")
        spec = node_type.spec()
        inputs = dict(inputs)
        control = inputs.pop("control_after_generate", None)
        if control is not None:
            self._set_control(node_id, spec, control)
        accepts_any = _accepts_undeclared(node_type.cls)
        wire: dict[str, Any] = {}
        for name, value in inputs.items():
            declared = spec.input(name)
            if declared is None and not (accepts_any and isinstance(value, (Output, Node))):
                names = _input_names(spec)
                raise TypeError(
                    f"{class_type}() got an unexpected input {name!r}{_did_you_mean(name, names)} "
                    f"(valid inputs: {', '.join(names) or 'none'})"
                )
            wire[name] = self._wire_value(class_type, name, value, declared)
        node["inputs"].update(wire)
        if fill_defaults or widgets:
            self._fill_defaults(class_type, spec, node["inputs"], require_links=fill_defaults)
        if notify and wire:
            self._notify({"op": "set_inputs", "id": node_id, "inputs": dict(wire)})
        if notify and control is not None:
            for name, mode in self._control.get(node_id, {}).items():
                self._notify({"op": "set_control", "id": node_id, "input": name, "mode": mode})

    def _set_control(self, node_id: str, spec: NodeSpec, control: str | dict) -> None:
        class_type = spec.name
        if not spec.controlled:
            raise TypeError(f"{class_type}() has no input with control after generate")
        wanted = dict.fromkeys(spec.controlled, control) if isinstance(control, str) else control
        if not isinstance(wanted, dict):
            raise TypeError(
                f"{class_type}(): control_after_generate is a policy or a dict of them, "
                f"not {type(control).__name__}"
            )
        for name, mode in wanted.items():
            if name not in spec.controlled:
                raise ValueError(
                    f"{class_type}(): input {name!r} has no control after generate "
                    f"(inputs with one: {', '.join(spec.controlled)})"
                )
            if mode not in CONTROL_MODES:
                raise ValueError(
                    f"{class_type}(): control_after_generate for {name!r} must be one of "
                    f"{', '.join(CONTROL_MODES)}, got {mode!r}"
                )
        self._control.setdefault(node_id, {}).update(wanted)

    def _wire_value(self, class_type: str, name: str, value: Any, declared: InputSpec | None):
        input_type = declared.type if declared is not None else None
        if isinstance(value, Node):
            if len(value.outputs) != 1:
                raise TypeError(
                    f"{class_type}(): input {name!r} needs one output of {value.class_type}, "
                    f"which has {len(value.outputs)}; index it, e.g. node[0]"
                )
            value = value.outputs[0]
        if isinstance(value, Output):
            if value.graph is not self:
                raise ValueError(
                    f"{class_type}(): input {name!r} is given {value.node_id} of another graph; "
                    "a graph links only to its own nodes"
                )
            if declared is not None and not types_match(value.type, input_type):
                raise TypeError(
                    f"{class_type}(): input {name!r} expects {declared.type_text()}, "
                    f"but {value.node_id} output {value.name!r} gives {value.type}"
                )
            return value.link()
        kinds = _WIDGET_KINDS.get(input_type) if isinstance(input_type, str) else None
        if kinds is not None and (
            not isinstance(value, kinds) or (input_type != "BOOLEAN" and isinstance(value, bool))
        ):
            raise TypeError(
                f"{class_type}(): input {name!r} expects {input_type}, got {type(value).__name__} {value!r}"
            )
        if kinds is None and declared is not None and declared.kind == "link":
            problem = _constant_problem(declared, value)
            if problem is not None:
                fix = "link a node's output to it"
                if not isinstance(value, _PLAIN):
                    fix += ", or pass such a value"
                raise TypeError(
                    f"{class_type}(): input {name!r} expects {input_type}, got "
                    f"{iotypes.describe(value)}; {problem}: {fix}"
                )
        choices = declared.choices if declared is not None else None
        if choices is not None and value not in choices:
            shown = choices if len(choices) <= 20 else f"{len(choices)} choices"
            hint = ""
            if declared.options.get("image_upload"):  # its choices are the input folder's files
                with self._registry.scope():
                    folder = folders.get_input_directory()
                hint = f"; the choices are the files in the input folder {folder} (wb.input_dir)"
            raise ValueError(
                f"{class_type}(): input {name!r} must be one of {shown}, got {value!r}{hint}"
            )
        if isinstance(value, list):
            return {"__value__": value}
        return value

    def _fill_defaults(
        self, class_type: str, spec: NodeSpec, inputs: dict, require_links: bool = True
    ) -> None:
        for declared in spec.inputs:
            name = declared.name
            if not declared.required or name in inputs:
                continue
            if declared.kind == "link" and not require_links:
                continue
            value = fallback_value(declared)
            if value is not NO_DEFAULT:
                inputs[name] = value
            else:
                raise TypeError(
                    f"{class_type}() missing required input {name!r} ({declared.type_text()}); "
                    f"valid inputs: {', '.join(_input_names(spec))}"
                )

    # --- reading ---

    def to_prompt(self) -> dict[str, dict]:
        """The API prompt the engine runs (ComfyUI's format); a copy.

        Unknown node types and muted nodes are left out (links to them dangle, so
        validation names the inputs that need them); bypassed nodes are resolved
        through (``engine.workflow.modes``).
        """
        prompt = {
            node_id: {"class_type": node["class_type"], "inputs": dict(node["inputs"])}
            for node_id, node in self._nodes.items()
            if self._runs(node_id)
        }
        modes = {n: ui["mode"] for n, ui in self._ui.items() if ui.get("mode")}
        return apply_modes(prompt, modes, self._registry) if modes else prompt

    def _runs(self, node_id: str) -> bool:
        """A node of a known type that is not a workflow's virtual placeholder."""
        ui = self._ui.get(node_id)
        return self._nodes[node_id]["class_type"] in self._registry and not (
            ui and ui.get("virtual")
        )

    def state(self) -> dict[str, dict]:
        """Every node as ``{"class_type", "inputs", "ui", "control"}`` (its ``add_node`` op
        without ``op`` and ``id``), in insertion order; copies. What an editor view starts from."""
        state = {}
        for node_id in self._nodes:
            op = self._add_op(node_id)
            del op["op"], op["id"]
            state[node_id] = op
        return state

    @at_user_frame
    def control_of(self, key: str | Output | Node) -> dict[str, str]:
        """The seed policy of each of the node's controlled inputs (``fixed`` unless set)."""
        node_id = self._existing(key)
        node_type = self._registry.get(self._nodes[node_id]["class_type"])
        controlled = node_type.spec().controlled if node_type is not None else ()
        policies = dict.fromkeys(controlled, "fixed")
        policies.update(self._control.get(node_id, {}))
        return policies

    def seed_control(self) -> dict[str, dict[str, str]]:
        """Node id -> {input: policy} for the controlled constant inputs of the prompt's nodes."""
        control = {}
        for node_id, node in self._nodes.items():
            if not self._runs(node_id):
                continue
            policies = {
                name: mode
                for name, mode in self.control_of(node_id).items()
                if name in node["inputs"] and not is_link(node["inputs"][name])
            }
            if policies:
                control[node_id] = policies
        return control

    @at_user_frame
    def set_mode(self, key: str | Output | Node, mode: str | int) -> None:
        """``"always"``, ``"mute"`` (``"never"``) or ``"bypass"`` (or the workflow's 0, 2, 4)."""
        value = MODES.get(mode, mode) if isinstance(mode, str) else mode
        if value not in MODES.values():
            raise ValueError(f"mode must be one of {', '.join(MODES)} (or 0, 2, 4), not {mode!r}")
        self.set_ui(key, mode=value)

    @at_user_frame
    def set_ui(self, key: str | Output | Node, **fields: Any) -> None:
        """Set UI data of a node (``pos``, ``size``, ``title``, ``mode``, ``color``...)."""
        node_id = self._existing(key)
        self._ui.setdefault(node_id, {}).update(copy.deepcopy(fields))
        self._notify({"op": "set_ui", "id": node_id, "ui": copy.deepcopy(fields)})

    # --- edit ops (docs/graph-model.md) ---

    def subscribe(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        """Call ``callback(op)`` after every edit; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    @at_user_frame
    def apply(self, op: dict, origin: Any = None) -> dict:
        """Apply one edit op (checked like the call it stands for); returns it as applied.

        ``add_node`` without an ``id`` gets a new one; ``add_node`` of an unknown node
        type keeps it as a placeholder (a workflow's missing node). ``origin`` is
        passed on to subscribers, so a view can skip its own edits.
        """
        kind = op.get("op")
        self._origin = origin
        try:
            if kind == "add_node":
                return self._apply_add(op)
            node_id = self._existing(op.get("id"))
            if kind == "remove_node":
                self.remove(node_id)
            elif kind == "set_inputs":
                inputs = {
                    name: self._output_at(value) if is_link(value) else value
                    for name, value in dict(op.get("inputs") or {}).items()
                }
                self._set_inputs(node_id, _unwrap(inputs))
            elif kind == "remove_input":
                self.remove_input(node_id, op["name"])
            elif kind == "set_ui":
                self.set_ui(node_id, **dict(op.get("ui") or {}))
            elif kind == "set_control":
                self._set_inputs(node_id, {"control_after_generate": {op["input"]: op["mode"]}})
            else:
                raise ValueError(f"unknown edit op {kind!r}")
            return op
        finally:
            self._origin = None

    def _apply_add(self, op: dict) -> dict:
        class_type = op.get("class_type")
        node_id = op.get("id")
        if node_id is not None and node_id in self._nodes:
            raise ValueError(f"node id {node_id!r} is already in the graph")
        if class_type in self._registry:
            inputs = {k: v for k, v in dict(op.get("inputs") or {}).items() if not is_link(v)}
            links = {k: v for k, v in dict(op.get("inputs") or {}).items() if is_link(v)}
            control = op.get("control") or None
            self._origin, origin = None, self._origin  # one op out: add_node with everything
            subscribers, self._subscribers = self._subscribers, []
            try:
                handle = self.add(class_type, node_id, _links_later=True, **_unwrap(inputs))
                node_id = node_id_of(handle)
                self._nodes[node_id]["inputs"].update(links)  # producers may come later
                if control:
                    self._set_inputs(node_id, {"control_after_generate": control}, notify=False)
                if op.get("ui"):
                    self._ui[node_id] = copy.deepcopy(op["ui"])
            finally:
                self._subscribers, self._origin = subscribers, origin
        else:  # a placeholder for a node type we do not have: kept as it came
            node_id = node_id if node_id is not None else self._new_id(str(class_type))
            self._nodes[node_id] = {
                "class_type": class_type,
                "inputs": copy.deepcopy(dict(op.get("inputs") or {})),
            }
            self._ui[node_id] = copy.deepcopy(op.get("ui") or {})
        applied = self._add_op(node_id)
        self._notify(applied)
        return applied

    def _add_op(self, node_id: str) -> dict:
        node = self._nodes[node_id]
        return {
            "op": "add_node",
            "id": node_id,
            "class_type": node["class_type"],
            "inputs": dict(node["inputs"]),
            "ui": copy.deepcopy(self._ui.get(node_id, {})),
            "control": dict(self._control.get(node_id, {})),
        }

    def _notify(self, op: dict) -> None:
        origin = self._origin
        for callback in list(self._subscribers):
            callback({**op, "origin": origin} if origin is not None else op)

    def _output_at(self, link: list) -> Output:
        node = self.node(self._existing(link[0]))
        slot = int(link[1])
        if not 0 <= slot < len(node.outputs):
            raise ValueError(f"node {node.id} ({node.class_type}) has no output {slot}")
        return node.outputs[slot]

    def _existing(self, key: Any) -> str:
        node_id = node_id_of(key, self)
        if node_id not in self._nodes:
            raise KeyError(f"no node {node_id!r} in this graph")
        return node_id

    @classmethod
    def from_nodes(
        cls,
        records: list[dict],
        registry: NodeRegistry,
        document: dict | None = None,
        source: Source | None = None,
    ) -> Graph:
        """A graph holding ``records`` (``add_node`` ops, as a workflow reader makes them)
        as they are: values are not checked here (validation names bad ones when the
        graph runs) and unknown node types are kept as placeholders."""
        graph = cls(registry)
        for record in records:
            node_id = str(record["id"])
            graph._nodes[node_id] = {
                "class_type": record["class_type"],
                "inputs": copy_json(dict(record.get("inputs") or {})),
            }
            if record.get("control"):
                graph._control[node_id] = dict(record["control"])
            if record.get("ui"):
                graph._ui[node_id] = copy_json(record["ui"])
        graph.document = copy_json(document or {})
        graph.opened_from = source
        return graph

    def node_records(self) -> list[dict]:
        """Every node as an ``add_node`` op (a copy), in graph order: what a writer takes."""
        return [copy_json(self._add_op(node_id)) for node_id in self._nodes]

    @classmethod
    @at_user_frame
    def from_prompt(cls, prompt: dict[str, dict], registry: NodeRegistry) -> Graph:
        """A graph holding ``prompt``'s nodes (ids kept); unknown node types are an error."""
        graph = cls(registry)
        for node_id, node in prompt.items():
            class_type = node.get("class_type")
            if registry.get(class_type) is None:
                raise ValueError(f"node {node_id}: unknown node type {class_type!r}")
            graph._nodes[str(node_id)] = {
                "class_type": class_type,
                "inputs": dict(node.get("inputs", {})),
            }
        return graph

    @at_user_frame
    def node(self, key: str | Output | Node) -> Node:
        """The handle of a node, by id or from one of its outputs."""
        node_id = self._existing(key)
        if node_id not in self._handles:
            self._handle(node_id)  # made on first use (a node from from_prompt)
        return self._handles[node_id]

    @at_user_frame
    def remove(self, key: str | Output | Node) -> None:
        """Remove a node (links to it are left dangling: validation will name them)."""
        node_id = self._existing(key)
        del self._nodes[node_id]
        self._handles.pop(node_id, None)
        self._control.pop(node_id, None)
        self._ui.pop(node_id, None)
        self._notify({"op": "remove_node", "id": node_id})

    @at_user_frame
    def remove_input(self, key: str | Output | Node, name: str) -> None:
        """Remove an input's value or link (a widget left without one runs with its default)."""
        node_id = self._existing(key)
        if self._nodes[node_id]["inputs"].pop(name, None) is not None:
            self._notify({"op": "remove_input", "id": node_id, "name": name})

    def __contains__(self, key: object) -> bool:
        if isinstance(key, (Output, Node)):
            return key.graph is self and node_id_of(key) in self._nodes
        return isinstance(key, str) and key in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._nodes))

    def __getattr__(self, name: str):
        __tracebackhide__ = True  # noqa: F841 (errors point at the user's line)
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._registry:
            raise AttributeError(self._unknown_type(name))
        return _Factory(self, name)

    def _unknown_type(self, name: str) -> str:
        """'no node type ...', with the closest names and display names suggested."""
        spellings: dict[str, str] = {}  # name or display name (with and without spaces) -> name
        for type_name in self._registry:
            spellings.setdefault(type_name, type_name)
            display = self._registry.get(type_name).display_name
            spellings.setdefault(display, type_name)
            spellings.setdefault(display.replace(" ", ""), type_name)
        return f"no node type {name!r}{_did_you_mean(name, spellings)}"

    def __dir__(self) -> list[str]:
        types = [n for n in self._registry if n.isidentifier() and not keyword.iskeyword(n)]
        return sorted(set(super().__dir__()) | set(types))

    def __repr__(self) -> str:
        return f"<Graph of {len(self._nodes)} nodes>"


class _Factory:
    """``g.<NodeType>``: callable, with a signature built from the node's spec."""

    def __init__(self, graph: Graph, class_type: str):
        self._graph = graph
        self._class_type = class_type
        self._node_type = node_type = graph._registry.get(class_type)
        self.__name__ = class_type
        self.__qualname__ = f"Graph.{class_type}"
        self.__doc__ = getattr(node_type.cls, "DESCRIPTION", "") or node_type.cls.__doc__

    @property
    def __signature__(self) -> inspect.Signature:
        # Built when asked for (help, completion, repr), not on every g.<NodeType>(...)
        # call: that would run INPUT_TYPES() once more per node added.
        return _signature(self._node_type.spec())

    @at_user_frame
    def __call__(self, _id: str | None = None, **inputs: Any) -> Output | Node:
        return self._graph.add(self._class_type, _id, **inputs)

    def __repr__(self) -> str:
        return f"<node type {self._class_type}{self.__signature__}>"


def _unwrap(inputs: dict) -> dict:
    """Wire-form list constants (``{"__value__": [...]}``) as the lists a call takes."""
    return {
        name: value["__value__"] if isinstance(value, dict) and "__value__" in value else value
        for name, value in inputs.items()
    }


def node_id_of(key: str | Output | Node, graph: Graph | None = None) -> str:
    """The node id of a handle or id; given ``graph``, a handle of another graph is refused."""
    __tracebackhide__ = True  # noqa: F841 (errors point at the user's line)
    if isinstance(key, (Output, Node)):
        if graph is not None and key.graph is not graph:
            raise ValueError(
                f"{key!r} belongs to another graph; pass a handle of this graph, or the "
                f"node id {key.node_id!r} to mean this graph's node of that id"
            )
        return key.node_id
    if isinstance(key, str):
        return key
    raise TypeError(f"expected a node id, a node or an output, got {type(key).__name__}")


def _did_you_mean(name: str, candidates: Iterable[str] | dict[str, str]) -> str:
    """``"; did you mean 'x'?"`` naming up to three candidates closest to ``name`` (case
    ignored), or ``""``. A dict maps other spellings (display names) to what they name."""
    if not isinstance(candidates, dict):
        candidates = {c: c for c in candidates}
    by_key: dict[str, str] = {}
    for spelling, meant in candidates.items():
        by_key.setdefault(spelling.lower(), meant)
    wanted = str(name).lower()
    matches = difflib.get_close_matches(wanted, by_key, n=6, cutoff=0.6)  # best first
    # The best match, and those nearly as close (not every name sharing a prefix).
    ratios = [difflib.SequenceMatcher(None, wanted, key).ratio() for key in matches]
    close = [
        by_key[key] for key, ratio in zip(matches, ratios, strict=True) if ratio >= ratios[0] - 0.1
    ]
    close = list(dict.fromkeys(close))[:3]
    return "; did you mean " + " or ".join(map(repr, close)) + "?" if close else ""


def _constant_problem(declared: InputSpec, value: Any) -> str | None:
    """Why ``value`` cannot be the constant of link input ``declared`` (see "Constants"
    in the module docstring), or None if it can."""
    if value is None and not declared.required:
        return None  # an optional input without a value
    if type(declared.type) is not str:  # a pack's "any type", a COMBO forced to a socket
        return None
    problems = []
    for part in (p.strip() for p in declared.type.split(",")):
        if part == "*":
            return None
        if iotypes.checker(part) is not None:
            problem = iotypes.value_problem(part, value)
        elif isinstance(value, _PLAIN):
            shown = "None" if value is None else f"a {type(value).__name__}"
            problem = f"a {part} is an object a node makes, not {shown}"
        else:
            problem = None
        if problem is None:
            return None
        problems.append(problem)
    return "; ".join(problems)


def _signature(spec: NodeSpec) -> inspect.Signature:
    params = [inspect.Parameter("_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
    for declared in spec.inputs:
        if not declared.name.isidentifier():
            continue
        default = declared.default
        if default is NO_DEFAULT:
            default = None if not declared.required else inspect.Parameter.empty
        params.append(
            inspect.Parameter(
                declared.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=declared.type_text(),
            )
        )
    return inspect.Signature(params)


def _input_names(spec: NodeSpec) -> list[str]:
    return [declared.name for declared in spec.inputs]


@functools.lru_cache(maxsize=1024)
def _accepts_undeclared(cls: type) -> bool:
    """Whether the node's function takes ``**kwargs`` (undeclared linked inputs)."""
    function = getattr(cls, "__wrapped__", None) or getattr(cls, getattr(cls, "FUNCTION", ""), None)
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_KEYWORD for p in parameters)


def terminal_nodes(prompt: dict[str, dict]) -> list[str]:
    """The nodes of ``prompt`` whose values no other node consumes, in prompt order."""
    consumed = {
        value[0]
        for node in prompt.values()
        for value in node.get("inputs", {}).values()
        if is_link(value)
    }
    return [node_id for node_id in prompt if node_id not in consumed]


__all__ = ["Graph", "Node", "Output", "node_id_of", "terminal_nodes"]
