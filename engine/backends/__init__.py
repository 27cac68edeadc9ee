"""Backends: what runs a ready node's code, for a run's scheduler (``engine/run.py``).

The scheduler stays in the process that owns the executor (the kernel). It
decides what runs and when: the execution list, lazy inputs, ExecutionBlocker,
expansion, the outputs cache, signatures and events. A backend only runs node
calls. The default, ``LocalBackend`` (``local.py``), runs them as the engine
always did: a sync node inline in the run's thread, an async node on the run's
event loop. ``DaskBackend`` (``dask.py``, imported only when chosen) runs them
on a Dask cluster; ``FuturesBackend`` (``futures.py``) on any
``concurrent.futures.Executor``.

The contract. One executor has one backend; one run at a time uses it, and
every method below is called from that run's thread:

- ``begin(run)``: a run starts. ``run`` is the scheduler: node progress channels
  call its ``emit_progress(data)``, ``check_interrupted()`` and
  ``display_node(node_id)``; ``run.ex`` is the executor, ``run.dynprompt`` the
  prompt as it grows, ``run.signatures`` the cache keys.
- ``start(call)``: run a ``NodeCall``. Returns its ``Outcome`` if it finished at
  once, or None: the call is in flight and a later ``wait_any`` reports it. A
  node's exception is raised by ``start`` (a call that finished at once) or
  reported by ``wait_any`` in the place of its outcome.
- ``wait_any(timeout)``: the calls in flight that finished, as ``(node id,
  Outcome or exception)`` pairs; ``[]`` if none did within ``timeout`` seconds
  (the scheduler checks the interrupt flag between calls). Each call started is
  reported once, unless it is cancelled.
- ``cancel()``: the run failed or was interrupted: stop every call in flight.
  None of them is reported afterwards, so none enters the cache.
- ``end()``: the run is over (after ``cancel()`` if it failed).
- ``await_now(coroutine)``: run an async hook that must run in the kernel
  (``IS_CHANGED``) to completion.
- ``fetch(outputs)``: a node's outputs (one list per slot, as cached) with
  every ``RemoteSlot`` replaced by its values: for values the user asks for.
- ``remote``: whether outputs may be ``RemoteSlot``s (they never go to the
  persistent store). A remote backend also has ``assemble(node_id, type,
  resolved)``: an expanded node's outputs joined from its subgraphs' where
  they are kept (``Run.resolve_subgraph``); and ``alive(outputs)``: whether
  the values of cached outputs still exist (a cache hit whose values are lost
  is computed again).

Early starts (optional; the Dask backend has them). A backend with
``pending(node_id)`` (the ``RemoteSlot``s a call in flight will fill, or None)
and ``prestart(call)`` (True if it started the call) lets the scheduler start
a node before its producers finish: when a call goes in flight, the nodes of
the run waiting for it whose producers are all at hand or in flight, with no
lazy inputs, are built with the pending outputs and prestarted, and so on down
the chain. The scheduler still stages each of them and calls ``start(call)``
once its producers have finished; ``start`` takes over the early call if the
call is the same (same producer calls, same values), or else drops it and
starts the call. Early calls never taken over are dropped by ``end()``. An
early call whose producer turns out to have expanded or asked for lazy inputs
does not run the node.

Values. The scheduler never looks inside a node's outputs. A backend that keeps
outputs elsewhere (on Dask workers) gives them back as ``RemoteSlot``
placeholders; the scheduler caches them and hands them on, in the inputs of
later calls, to the same backend. So a cached rerun moves no data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..registry import NodeType

__all__ = ["Backend", "NodeCall", "Outcome", "RemoteSlot", "make_backend"]


class NodeCall:
    """One call of a node, as the scheduler hands it to a backend.

    - ``node_id``: the node (ephemeral ids included).
    - ``type``: its ``NodeType`` (class, list flags, outputs).
    - ``inputs``: input name -> list of values (the node is mapped over the
      lists), or a ``RemoteSlot`` standing for such a list; unevaluated lazy
      inputs are ``[None]``; hidden inputs are filled in.
    - ``lazy``: None if the class has no ``check_lazy_status``; else the lazy
      inputs not evaluated yet, which it may ask for before it runs.
    """

    __slots__ = ("node_id", "type", "inputs", "lazy")

    def __init__(
        self, node_id: str, type: NodeType, inputs: dict[str, Any], lazy: frozenset | None
    ):
        self.node_id = node_id
        self.type = type
        self.inputs = inputs
        self.lazy = lazy


class Outcome:
    """What a finished call gives back to the scheduler (small, whatever the backend).

    - ``needed``: lazy inputs ``check_lazy_status`` asked for; the node did not run
      and is called again once they are evaluated (everything else is empty).
    - ``outputs``: one list of values per output slot (or ``RemoteSlot``s); if
      ``expanding``, the ``(subgraph, result)`` pairs of its expansion instead.
    - ``ui``: what the node shows (merged over its calls).
    - ``blocked``: messages of the ``ExecutionBlocker``s its inputs carried.
    """

    __slots__ = ("outputs", "ui", "expanding", "needed", "blocked")

    def __init__(
        self,
        outputs: list | None,
        ui: dict | None = None,
        expanding: bool = False,
        needed: set[str] | None = None,
        blocked: list[str] | None = None,
    ):
        self.outputs = outputs
        self.ui = ui
        self.expanding = expanding
        self.needed = needed
        self.blocked = blocked


class RemoteSlot:
    """One output slot of a node whose outputs are kept by the backend, not here.

    ``ref`` is the backend's handle of the node's outputs (a Dask future);
    ``slot`` the output index. Stands where a list of values would be.
    """

    __slots__ = ("ref", "slot")

    def __init__(self, ref: Any, slot: int):
        self.ref = ref
        self.slot = slot

    def __repr__(self) -> str:
        return f"<remote output {self.slot} of {getattr(self.ref, 'key', self.ref)}>"


def has_remote(outputs: Iterable) -> bool:
    """Whether any slot of ``outputs`` is a ``RemoteSlot``."""
    return any(type(slot) is RemoteSlot for slot in outputs)


class Backend(Protocol):
    """See the module docstring."""

    remote: bool

    def begin(self, run: Any) -> None: ...

    def start(self, call: NodeCall) -> Outcome | None: ...

    def wait_any(self, timeout: float) -> list[tuple[str, Outcome | BaseException]]: ...

    def cancel(self) -> None: ...

    def end(self) -> None: ...

    def await_now(self, coroutine: Any) -> Any: ...

    def fetch(self, outputs: list) -> list: ...


def make_backend(backend: Any = None) -> Backend:
    """The backend ``Executor(backend=...)`` asks for.

    None or ``"local"``: a ``LocalBackend``. A Dask ``distributed.Client``, a
    Dask cluster object or a scheduler address (``"tcp://..."``): a
    ``DaskBackend`` on it. A ``concurrent.futures.Executor``: a ``FuturesBackend``.
    Anything with ``start``, ``wait_any`` and ``cancel``: itself.
    """
    if backend is None or backend == "local":
        from .local import LocalBackend

        return LocalBackend()
    if _is_dask(backend):
        from .dask import DaskBackend  # imports distributed: only when asked for

        return DaskBackend(backend)
    import concurrent.futures

    if isinstance(backend, concurrent.futures.Executor):
        from .futures import FuturesBackend

        return FuturesBackend(backend)
    if all(hasattr(backend, name) for name in ("start", "wait_any", "cancel")):
        return backend
    raise TypeError(
        f"backend must be 'local', a Dask Client, cluster or address, a "
        f"concurrent.futures.Executor or a Backend, not {backend!r}"
    )


def _is_dask(backend: Any) -> bool:
    """A Dask client, cluster or scheduler address (without importing Dask)."""
    if isinstance(backend, str):
        return "://" in backend
    module = type(backend).__module__
    return module.startswith(("distributed.", "dask_")) and (
        hasattr(backend, "submit") or hasattr(backend, "scheduler_address")
    )
