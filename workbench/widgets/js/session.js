// One editor model's graph: the LiteGraph graph shared by all its views, kept equal to the
// kernel's Graph (docs/editor-protocol.md).
//
// `known` holds, per kernel node id, the node as both sides last agreed it was (computed from
// the canvas by `nodeState`). After a user action ends, `diff()` compares the canvas with
// `known` and sends the differences as edit ops; kernel ops are applied to the canvas and then
// `known` is read back from it, so they are never echoed. A kernel `state` is reconciled
// node by node: nothing is rebuilt, selection and viewport stay.
import { LGraph, LiteGraph } from "@comfyorg/litegraph";
import { CONTROL_SUFFIX, ensurePreviewWidget, missingNode, registerTypes } from "./nodes.js";
import { PROTOCOL } from "./protocol.js";
import { mark } from "./timing.js";

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const isLink = (v) => Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && Number.isInteger(v[1]);
const UI_KEYS = ["pos", "size", "title", "mode", "color", "bgcolor", "flags"];

export class Session {
  constructor(model) {
    this.model = model;
    this.graph = new LGraph();
    this.known = new Map(); // kernel id -> node state both sides agree on
    this.byId = new Map(); // kernel id -> LiteGraph node
    this.status = new Map(); // kernel id -> NodeStatus of the last run
    this.errors = new Map(); // kernel id -> {message, inputs}: validation or run errors
    this.previews = new Map(); // kernel id -> ImageBitmap[]
    this.texts = new Map(); // kernel id -> string[] (PreviewAny)
    this.listeners = new Set(); // views: {onStatus, onQueue, onHistory, onErrors, onPreview, onReconciled}
    this.seq = 0;
    this.applying = false; // kernel ops being applied: no diff
    this.pointerDown = 0;
    this.diffTimer = null;
    registerTypes(model.get("defs") || {}, this);
    // The graph the widget came with (or the notebook saved), built once `initialize` has
    // returned (anywidget allows it 2 s), unless the kernel's `state` came first.
    this.reconciled = false;
    this.revision = null; // the kernel's revision of the last whole graph built (see `hello`)
    setTimeout(() => this.reconciled || this.build(model.get("snapshot")));
    this.graph.onAfterChange = () => this.changed();
    this.graph.onNodeAdded = () => this.changed();
    this.graph.onNodeRemoved = () => this.changed();
    this.graph.onConnectionChange = () => this.changed();
    model.on("change:defs", () => registerTypes(model.get("defs") || {}, this));
    model.on("msg:custom", (msg, buffers) => this.receive(msg, buffers || []));
  }

  get defs() {
    return this.model.get("defs") || {};
  }

  emit(kind, ...args) {
    for (const listener of this.listeners) listener[kind]?.(...args);
  }

  redraw() {
    this.graph.setDirtyCanvas(true, true);
  }

  // --- canvas -> kernel ---

  /** A user action may have changed the graph: diff soon, once the pointer is up; `ended`:
   * the action is over (its pointer event has been handled), diff now. */
  changed(ended = false) {
    if (this.applying) return;
    clearTimeout(this.diffTimer);
    if (ended) this.diff();
    else this.diffTimer = setTimeout(() => this.diff(), 16);
  }

  /** The node as the kernel's Graph holds it (what the canvas can represent of it). */
  nodeState(node) {
    const inputs = {};
    if (node.wbMissing) Object.assign(inputs, node.wbInputs || {});
    const widgets = new Map((node.widgets || []).map((w) => [w.name, w]));
    for (const slot of node.inputs || []) {
      const link = slot.link != null ? this.graph.links.get(slot.link) : null;
      const origin = link ? this.graph.getNodeById(link.origin_id) : null;
      if (origin?.wbId != null) inputs[slot.name] = [origin.wbId, link.origin_slot];
      else if (slot.widget && widgets.has(slot.widget.name)) inputs[slot.name] = widgets.get(slot.widget.name).value;
      else if (node.wbMissing) inputs[slot.name] = node.wbInputs?.[slot.name];
    }
    const control = {};
    for (const w of node.widgets || []) if (w.wbControlFor) control[w.wbControlFor] = w.value;
    const ui = {
      pos: [Math.round(node.pos[0]), Math.round(node.pos[1])],
      size: [Math.round(node.size[0]), Math.round(node.size[1])],
      mode: node.mode ?? 0,
    };
    const defaultTitle = node.wbMissing ? `${node.type} (missing)` : node.wbDef?.display_name ?? node.type;
    if (node.title !== defaultTitle) ui.title = node.title;
    if (node.color) ui.color = node.color;
    if (node.bgcolor) ui.bgcolor = node.bgcolor;
    if (node.flags?.collapsed) ui.flags = { collapsed: true };
    return { class_type: node.type, inputs, ui, control };
  }

  /** Send the canvas's changes since the last agreement as one `edit` message. */
  diff() {
    clearTimeout(this.diffTimer);
    if (this.applying) return;
    if (this.pointerDown) {
      this.diffTimer = setTimeout(() => this.diff(), 60); // one op per drag, on release
      return;
    }
    const adds = [], updates = [], removes = [];
    const seen = new Set();
    for (const node of this.graph._nodes) {
      if (node.wbId == null) {
        // A node the user added (search, paste, clone): it takes LiteGraph's id.
        let id = String(node.id);
        while (this.byId.has(id)) id += "_";
        node.wbId = id;
        this.byId.set(id, node);
        for (const w of node.widgets || []) if (w.wbControlFor) w.value = "randomize"; // ComfyUI's default
      }
      seen.add(node.wbId);
      const now = this.nodeState(node);
      const before = this.known.get(node.wbId);
      if (!before) {
        adds.push({ op: "add_node", id: node.wbId, ...now });
      } else {
        const changedInputs = {};
        for (const [name, value] of Object.entries(now.inputs)) {
          if (!same(value, before.inputs[name])) changedInputs[name] = value;
        }
        if (Object.keys(changedInputs).length) updates.push({ op: "set_inputs", id: node.wbId, inputs: changedInputs });
        for (const name of Object.keys(before.inputs)) {
          if (!(name in now.inputs)) updates.push({ op: "remove_input", id: node.wbId, name });
        }
        const ui = {};
        for (const key of UI_KEYS) if (!same(now.ui[key], before.ui[key])) ui[key] = now.ui[key] ?? null;
        if (Object.keys(ui).length) updates.push({ op: "set_ui", id: node.wbId, ui });
        for (const [input, mode] of Object.entries(now.control)) {
          if (before.control[input] !== mode) updates.push({ op: "set_control", id: node.wbId, input, mode });
        }
      }
      this.known.set(node.wbId, now);
    }
    for (const id of [...this.known.keys()]) {
      if (!seen.has(id)) {
        removes.push({ op: "remove_node", id });
        this.known.delete(id);
        this.byId.delete(id);
      }
    }
    // Producers first: a link may only name a node the kernel already has.
    const ops = [...adds.map(({ inputs, ...op }) => ({ ...op, inputs: Object.fromEntries(
      Object.entries(inputs).filter(([, v]) => !isLink(v))) })),
      ...adds.filter((op) => Object.values(op.inputs).some(isLink)).map((op) => ({
        op: "set_inputs", id: op.id, inputs: Object.fromEntries(Object.entries(op.inputs).filter(([, v]) => isLink(v))),
      })),
      ...updates, ...removes];
    if (ops.length) this.model.send({ type: "edit", seq: ++this.seq, ops });
  }

  /** What a view says when it starts: the kernel leaves the graph out of its answer if it
   * has not changed since the snapshot this session built (or is about to build). */
  hello() {
    const revision = this.reconciled ? this.revision : this.model.get("snapshot")?.revision;
    return { type: "hello", protocol: PROTOCOL, revision: revision ?? null };
  }

  /** Build (reconcile) the kernel's whole graph `snapshot`, and remember its revision. */
  build(snapshot) {
    this.reconcile(snapshot || { nodes: {} });
    this.revision = snapshot?.revision ?? null;
  }

  // --- kernel -> canvas ---

  receive(msg, buffers) {
    switch (msg.type) {
      case "state":
        // No graph: the one this session built is the kernel's (the hello's revision).
        if (msg.graph) this.build(msg.graph);
        else if (!this.reconciled) this.build(this.model.get("snapshot"));
        this.applyStatus(msg.status);
        this.applyErrors(msg.errors);
        break;
      case "ops":
        this.diff(); // the user's pending edits first: they must not be taken for the kernel's
        this.applyOps(msg.ops);
        break;
      case "rejected":
        this.emit("onNotice", `Edit refused: ${msg.message}`);
        break;
      case "status":
        this.applyStatus(msg);
        break;
      case "preview":
        this.applyPreview(msg, buffers);
        break;
      case "text":
        this.texts.set(msg.node, msg.text);
        this.withNode(msg.node, (node) => ensurePreviewWidget(node, this));
        this.redraw();
        break;
      case "errors":
        this.applyErrors(msg);
        break;
      case "queue":
        this.emit("onQueue", msg);
        break;
      case "history":
        this.emit("onHistory", msg);
        break;
      default:
        break;
    }
  }

  withNode(id, fn) {
    const node = this.byId.get(id);
    if (node) fn(node);
  }

  applyOps(ops) {
    this.applying = true;
    this.pendingLinks = [];
    try {
      for (const op of ops) this.applyOp(op);
      const pending = this.pendingLinks;
      this.pendingLinks = [];
      for (const [node, name, value] of pending) if (node.graph) this.setInputs(node, { [name]: value });
      this.graph.updateExecutionOrder();
    } finally {
      this.applying = false;
    }
    for (const op of ops) this.agreeOn(op);
    this.redraw();
  }

  /** `known` takes what `op` changed, and only that: a drag under way (or any other edit
   * not yet diffed) stays a difference, to be sent when it ends. */
  agreeOn(op) {
    const node = this.byId.get(op.id);
    const known = this.known.get(op.id);
    if (op.op === "add_node") {
      if (node) this.known.set(op.id, this.nodeState(node));
      return;
    }
    if (op.op === "remove_node") {
      this.known.delete(op.id);
      for (const [id, state] of this.known) {
        const consumer = this.byId.get(id);
        if (consumer && Object.values(state.inputs).some((v) => isLink(v) && v[0] === op.id)) {
          state.inputs = this.nodeState(consumer).inputs; // its links to the node went with it
        }
      }
      return;
    }
    if (!node || !known) return;
    const now = this.nodeState(node);
    const take = (part, keys) => {
      for (const key of keys) {
        if (key in now[part]) known[part][key] = now[part][key];
        else delete known[part][key];
      }
    };
    if (op.op === "set_inputs") take("inputs", Object.keys(op.inputs || {}));
    else if (op.op === "remove_input") take("inputs", [op.name]);
    else if (op.op === "set_ui") take("ui", Object.keys(op.ui || {}));
    else if (op.op === "set_control") take("control", [op.input]);
  }

  /** `known` := the canvas, for every node (after kernel edits, which may touch neighbours). */
  agree() {
    this.known.clear();
    for (const node of this.graph._nodes) if (node.wbId != null) this.known.set(node.wbId, this.nodeState(node));
  }

  applyOp(op) {
    const node = this.byId.get(op.id);
    switch (op.op) {
      case "add_node":
        if (!node) this.createNode(op.id, op);
        break;
      case "remove_node":
        if (node) {
          this.graph.remove(node);
          this.byId.delete(op.id);
        }
        break;
      case "set_inputs":
        if (node) this.setInputs(node, op.inputs || {});
        break;
      case "remove_input":
        if (node) {
          const index = node.findInputSlot(op.name);
          if (index >= 0 && node.inputs[index].link != null) node.disconnectInput(index);
          if (node.wbMissing) delete node.wbInputs[op.name];
        }
        break;
      case "set_ui":
        if (node) this.setUi(node, op.ui || {});
        break;
      case "set_control":
        if (node) {
          const w = node.widgets?.find((x) => x.wbControlFor === op.input);
          if (w) w.value = op.mode;
        }
        break;
      default:
        break;
    }
  }

  createNode(id, state) {
    const def = this.defs[state.class_type];
    const node = def ? LiteGraph.createNode(state.class_type) : missingNode(state.class_type, state.inputs, this);
    if (!node) return null;
    node.wbId = id;
    if (/^\d+$/.test(id) && !this.graph.getNodeById(Number(id))) node.id = Number(id);
    this.byId.set(id, node);
    this.setUi(node, state.ui || {});
    this.graph.add(node, true); // the execution order once, after the batch (else O(n²))
    for (const w of node.widgets || []) if (w.wbControlFor) w.value = state.control?.[w.wbControlFor] ?? "fixed";
    this.setInputs(node, state.inputs || {});
    return node;
  }

  setUi(node, ui) {
    if (ui.pos) node.pos = [Number(ui.pos[0]), Number(ui.pos[1])];
    if (ui.size) node.size = [Number(ui.size[0]), Number(ui.size[1])];
    if ("title" in ui) node.title = ui.title ?? (node.wbDef?.display_name || node.type);
    if ("mode" in ui) node.mode = Number(ui.mode ?? 0);
    if ("color" in ui) node.color = ui.color ?? undefined;
    if ("bgcolor" in ui) node.bgcolor = ui.bgcolor ?? undefined;
    if ("flags" in ui) node.flags = { ...node.flags, collapsed: !!ui.flags?.collapsed };
  }

  setInputs(node, inputs) {
    for (const [name, value] of Object.entries(inputs)) {
      const index = node.findInputSlot(name);
      if (node.wbMissing) node.wbInputs[name] = value;
      if (isLink(value)) {
        const origin = this.byId.get(value[0]);
        const slot = index >= 0 ? node.inputs[index] : null;
        const current = slot?.link != null ? this.graph.links.get(slot.link) : null;
        if (current && origin && current.origin_id === origin.id && current.origin_slot === value[1]) continue;
        if (origin && index >= 0) origin.connect(value[1], node, index);
        else if (!origin) this.pendingLinks?.push([node, name, value]); // its producer comes later
        continue;
      }
      if (index >= 0 && node.inputs[index].link != null) node.disconnectInput(index);
      const widget = node.widgets?.find((w) => w.name === name);
      if (widget && !(value && typeof value === "object" && value.stand_in)) widget.value = value;
    }
  }

  /** Make the canvas show the kernel's graph `snapshot`, changing only what differs. */
  reconcile(snapshot) {
    mark("reconcile-start");
    const started = performance.now();
    const nodes = snapshot?.nodes || {};
    this.applying = true;
    this.pendingLinks = [];
    try {
      for (const [id, node] of [...this.byId]) {
        if (!(id in nodes) || nodes[id].class_type !== node.type) {
          this.graph.remove(node);
          this.byId.delete(id);
        }
      }
      for (const node of [...this.graph._nodes]) if (node.wbId == null) this.graph.remove(node);
      for (const [id, state] of Object.entries(nodes)) {
        const node = this.byId.get(id);
        if (!node) {
          this.createNode(id, state);
          continue;
        }
        this.setUi(node, state.ui || {});
        for (const w of node.widgets || []) if (w.wbControlFor) w.value = state.control?.[w.wbControlFor] ?? "fixed";
        const inputs = state.inputs || {};
        this.setInputs(node, inputs);
        // Links the kernel does not have go.
        for (const [index, slot] of (node.inputs || []).entries()) {
          if (slot.link != null && !isLink(inputs[slot.name])) node.disconnectInput(index);
        }
      }
      const pending = this.pendingLinks;
      this.pendingLinks = [];
      for (const [node, name, value] of pending) this.setInputs(node, { [name]: value });
      this.graph.updateExecutionOrder();
    } finally {
      this.applying = false;
    }
    this.agree();
    this.redraw();
    this.reconciled = true;
    this.reconcileMs = (this.reconcileMs ?? 0) + performance.now() - started; // all; bench/editor.py
    mark("reconcile-end");
    this.emit("onReconciled");
  }

  applyStatus(msg) {
    if (!msg) return;
    if (msg.reset) {
      this.status.clear();
      for (const node of this.graph._nodes) node.progress = undefined;
      this.applyErrors(null);
    }
    for (const [id, status] of Object.entries(msg.nodes || {})) {
      this.status.set(id, status);
      this.withNode(id, (node) => {
        node.progress = status.state === "running" && status.progress != null ? status.progress : undefined;
      });
    }
    this.emit("onStatus", msg);
    this.redraw();
  }

  applyErrors(msg) {
    this.errors.clear();
    for (const [id, error] of Object.entries(msg?.nodes || {})) this.errors.set(id, error);
    this.emit("onErrors", msg && msg.message ? msg : null);
    this.redraw();
  }

  async applyPreview(msg, buffers) {
    const bitmaps = await Promise.all(
      buffers.map((b) => decodeImage(b.buffer ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : b, msg.mime)),
    );
    this.previews.set(msg.node, bitmaps);
    this.withNode(msg.node, (node) => ensurePreviewWidget(node, this));
    if (msg.kind === "output") this.emit("onPreview", msg, buffers);
    this.redraw();
  }

  /** The kernel ids of the selected nodes (for Run selected). */
  selectionChanged(canvas) {
    const ids = Object.values(canvas.selected_nodes || {}).map((n) => n.wbId).filter((x) => x != null);
    this.model.send({ type: "selection", nodes: ids });
  }
}

/** An ImageBitmap of encoded image `bytes`. ImageDecoder (on secure pages: localhost, https)
 * reads the bytes where they are; createImageBitmap needs them in a Blob, which Chromium
 * registers with its browser process first: 3 ms instead of 1 on an idle machine, tens of ms
 * when it is busy running the graph. */
async function decodeImage(bytes, mime) {
  if (typeof ImageDecoder === "undefined") return createImageBitmap(new Blob([bytes], { type: mime }));
  const decoder = new ImageDecoder({ data: bytes, type: mime });
  try {
    const { image } = await decoder.decode();
    try {
      return await createImageBitmap(image);
    } finally {
      image.close();
    }
  } finally {
    decoder.close();
  }
}

export { CONTROL_SUFFIX };
