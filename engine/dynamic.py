"""Dynamic inputs (ComfyUI V3's Autogrow and DynamicCombo) as flat inputs named ``group.key``.

In ComfyUI's V3 schema a dynamic input is one entry that stands for several
inputs of a prompt: an Autogrow ``values`` whose template names ``a``, ``b``...
arrives as ``values.a``, ``values.b``; a DynamicCombo ``resize_type`` as the combo
itself plus the chosen option's inputs ``resize_type.width``,
``resize_type.height``... Here every input it can stand for is spelled out in
``INPUT_TYPES`` as an ordinary input with that flat name, so validation, the
``NodeSpec``, ``object_info`` and the graph builder need to know nothing more.
What they lose: an option's inputs are all optional (which are needed depends
on the combo's value).

Each flat input's options carry a ``"dynamic"`` marker, for the workflow
converter and the editor (which show only the chosen option's widgets, or the
connected Autogrow sockets plus one)::

    values.a          {"dynamic": {"group": "values", "kind": "autogrow", "key": "a"}}
    resize_type       {"dynamic": {"group": "resize_type", "kind": "combo"}}
    resize_type.width {"dynamic": {"group": "resize_type", "kind": "option", "key": "width",
                                   "when": ["scale dimensions", "scale width"]}}

``Nesting`` turns the flat values of a call back into ComfyUI's nested form,
which is what a V3 node's ``execute`` expects: ``values={"a": 1.0, "b": 2}``,
``resize_type={"resize_type": "scale width", "width": 512}``. Only connected
Autogrow inputs appear (none: an empty dict); only the chosen option's inputs
appear, a missing one with its default. Dynamic inputs do not nest (an Autogrow
inside a DynamicCombo option is not supported).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MARKER", "Nesting", "autogrow", "dynamic_combo"]

MARKER = "dynamic"


def autogrow(
    group: str,
    entry: tuple,
    names: Iterable[str],
    required: int = 0,
    tooltip: str | None = None,
) -> dict[str, dict[str, tuple]]:
    """``{"required": ..., "optional": ...}`` entries of an Autogrow ``group``.

    ``entry`` is the template input (``(type, options)``); its widget, if any,
    becomes a socket (``forceInput``), as in ComfyUI. The first ``required``
    names are required inputs, the others optional.
    """
    input_type, options = entry[0], dict(entry[1]) if len(entry) > 1 else {}
    sections: dict[str, dict[str, tuple]] = {"required": {}, "optional": {}}
    for index, key in enumerate(names):
        flat = {**options, "forceInput": True}
        flat[MARKER] = {"group": group, "kind": "autogrow", "key": key}
        if tooltip and "tooltip" not in flat:
            flat["tooltip"] = tooltip
        section = "required" if index < required else "optional"
        sections[section][f"{group}.{key}"] = (input_type, flat)
    return sections


def dynamic_combo(
    group: str,
    options: Mapping[str, Mapping[str, tuple]],
    combo_options: Mapping[str, Any] | None = None,
    required: bool = True,
) -> dict[str, dict[str, tuple]]:
    """``{"required": ..., "optional": ...}`` entries of a DynamicCombo ``group``.

    The combo itself (its choices: the keys of ``options``) is required unless
    ``required`` is false; each choice's inputs (``{name: (type, options)}``, in
    order) are optional. An input named in several choices is listed once, with
    the first choice's spec, and its marker's ``when`` lists every choice that has it.
    """
    when: dict[str, list[str]] = {}
    first: dict[str, tuple] = {}
    for choice, inputs in options.items():
        for name, entry in inputs.items():
            when.setdefault(name, []).append(choice)
            first.setdefault(name, entry)
    combo = {**(combo_options or {}), MARKER: {"group": group, "kind": "combo"}}
    inner: dict[str, tuple] = {}
    for name, entry in first.items():
        input_type, flat = entry[0], dict(entry[1]) if len(entry) > 1 else {}
        flat[MARKER] = {"group": group, "kind": "option", "key": name, "when": when[name]}
        inner[f"{group}.{name}"] = (input_type, flat)
    selector = (list(options), combo)
    if required:
        return {"required": {group: selector}, "optional": inner}
    return {"required": {}, "optional": {group: selector, **inner}}


class Nesting:
    """How the flat dynamic inputs of one ``INPUT_TYPES()`` result nest (see the module docstring)."""

    def __init__(self, input_types: Mapping[str, Any]):
        self.autogrow: dict[str, dict[str, str]] = {}  # group -> {flat name: key}
        self.combos: dict[str, dict[str, tuple[str, list, Any]]] = {}  # group -> options
        for section in ("required", "optional"):
            entries = input_types.get(section) or {}
            for name, entry in entries.items():
                options = entry[1] if isinstance(entry, (tuple, list)) and len(entry) > 1 else {}
                marker = options.get(MARKER) if isinstance(options, Mapping) else None
                if not isinstance(marker, Mapping):
                    continue
                group, kind = marker.get("group"), marker.get("kind")
                if kind == "autogrow":
                    self.autogrow.setdefault(group, {})[name] = marker.get("key")
                elif kind == "combo":
                    self.combos.setdefault(group, {})
                elif kind == "option":
                    default = options.get("default")
                    option = (marker.get("key"), list(marker.get("when") or ()), default)
                    self.combos.setdefault(group, {})[name] = option

    def __bool__(self) -> bool:
        return bool(self.autogrow or self.combos)

    @property
    def groups(self) -> set[str]:
        return set(self.autogrow) | set(self.combos)

    def nest(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """``kwargs`` with each group's flat inputs replaced by one nested dict."""
        if not self:
            return dict(kwargs)
        members = {name for names in self.autogrow.values() for name in names}
        members |= {name for options in self.combos.values() for name in options}
        out = {k: v for k, v in kwargs.items() if k not in members and k not in self.combos}
        for group, names in self.autogrow.items():
            out[group] = {key: kwargs[name] for name, key in names.items() if name in kwargs}
        for group, options in self.combos.items():
            if group not in kwargs:
                continue
            choice = kwargs[group]
            nested = {group.rsplit(".", 1)[-1]: choice}
            for name, (key, when, default) in options.items():
                if choice not in when:
                    continue
                if name in kwargs:
                    nested[key] = kwargs[name]
                elif default is not None:
                    nested[key] = default
            out[group] = nested
        return out
