// One view of an editor model: a LiteGraph canvas on the session's graph, with the search box,
// the queue, history, gallery and error panels. Sharp at any devicePixelRatio, resizable,
// JupyterLab's shortcuts suppressed on it; `dispose()` stops its render loop.
import { LiteGraph } from "@comfyorg/litegraph";
import { WorkbenchCanvas } from "./canvas.js";
import { ErrorPanel, Gallery, HistoryPanel, QueuePanel } from "./panels.js";
import { SearchBox } from "./search.js";
import { socketType } from "./nodes.js";

LiteGraph.saveViewportWithGraph = false; // panning is not an edit
LiteGraph.release_link_on_empty_shows_menu = false; // our search box instead

export class View {
  constructor(session, el) {
    this.session = session;
    this.el = el;
    const model = session.model;
    el.classList.add("wb-editor");
    el.setAttribute("data-jp-suppress-context-menu", "");
    this.box = document.createElement("div");
    this.box.className = "wb-canvas-box";
    this.box.style.height = `${model.get("settings")?.height ?? 600}px`;
    this.canvasEl = document.createElement("canvas");
    this.canvasEl.width = this.canvasEl.height = 0; // nothing is drawn before it has its size
    this.boxSize = [0, 0]; // CSS px, from the ResizeObserver (see resize)
    this.canvasEl.tabIndex = 0;
    // On the canvas itself: JupyterLab's command-mode keys must not edit the notebook.
    this.canvasEl.setAttribute("data-lm-suppress-shortcuts", "true");
    this.notice = document.createElement("div");
    this.notice.className = "wb-notice";
    this.tooltip = document.createElement("div");
    this.tooltip.className = "wb-tooltip";
    this.box.append(this.canvasEl, this.notice, this.tooltip);
    const panels = document.createElement("div");
    panels.className = "wb-panels";
    el.append(this.box, panels);
    this.errors = new ErrorPanel(el);
    this.gallery = new Gallery(el);
    this.queue = new QueuePanel(panels, (job) => model.send({ type: "cancel", job }));
    this.history = new HistoryPanel(panels);

    this.canvas = new WorkbenchCanvas(this.canvasEl, session.graph, { skip_render: false });
    this.canvas.allow_searchbox = false;
    this.canvas.show_info = false;
    this.canvas.onSelectionChange = () => session.selectionChanged(this.canvas);
    this.canvas.onNodeMoved = () => session.changed();
    this.search = new SearchBox(this.box, () => session.defs, (def, link) => this.addNode(def, link));
    this.canvasEl.addEventListener("litegraph:canvas", (e) => this.canvasEvent(e.detail));
    this.listeners = [];
    // LiteGraph handles the pointer in capture listeners on the canvas and stops the events'
    // propagation there, which spares only the canvas's other capture listeners: ours come
    // after LiteGraph's (added later). A release elsewhere is seen on the window, and acted on
    // once the event has been handled. The action is over then: its edits go at once, as one
    // message.
    const released = () => {
      if (!session.pointerDown) return;
      session.pointerDown = 0;
      session.changed(true);
    };
    this.listen(this.canvasEl, "pointerdown", () => (session.pointerDown += 1), true);
    this.listen(this.canvasEl, "pointerup", released, true);
    this.listen(window, "pointerup", () => session.pointerDown && setTimeout(released), true);
    this.listen(this.canvasEl, "keydown", (e) => this.key(e));
    this.listen(this.canvasEl, "keyup", () => session.changed());
    this.listen(this.canvasEl, "pointermove", (e) => this.hover(e));
    this.listen(this.canvasEl, "dragover", (e) => e.preventDefault());
    this.listen(this.canvasEl, "drop", (e) => this.drop(e));

    this.listener = {
      onQueue: (msg) => this.queue.apply(msg),
      onHistory: (msg) => this.history.apply(msg),
      onErrors: (msg) => this.errors.show(msg),
      onPreview: (msg, buffers) => this.gallery.add(msg, buffers),
      onNotice: (text) => this.say(text),
      onReconciled: () => this.fitted || this.resize(), // the first nodes: the graph in view
    };
    session.listeners.add(this.listener);
    // A new devicePixelRatio (browser zoom, another screen) does not always come with an
    // event: it is looked at twice a second.
    this.listen(window, "resize", () => this.resize());
    this.dprTimer = setInterval(() => {
      if (window.devicePixelRatio !== this.dpr) this.resize();
    }, 500);
    this.resizer = new ResizeObserver(([entry]) => {
      this.resize(Math.round(entry.contentRect.width), Math.round(entry.contentRect.height));
    });
    this.resizer.observe(this.box); // calls back once the box is laid out
    model.send(session.hello()); // the kernel answers with the whole state
    el.__wbView = this; // for tests and benchmarks: the canvas, the session
  }

  listen(target, type, fn, capture = false) {
    target.addEventListener(type, fn, capture);
    this.listeners.push(() => target.removeEventListener(type, fn, capture));
  }

  /** The canvas bitmap is CSS size × devicePixelRatio; LiteGraph draws in CSS pixels. The
   * box's size (CSS px) comes from its ResizeObserver, never read here: reading it would
   * force a layout of the whole notebook, which is mid-update when the first graph arrives.
   * Resizing a canvas clears it: done only when the size or the devicePixelRatio changed. */
  resize(width = this.boxSize[0], height = this.boxSize[1]) {
    this.dpr = window.devicePixelRatio;
    const dpr = Math.max(window.devicePixelRatio || 1, 1);
    if (!width || !height) return;
    if (width !== this.boxSize[0] || height !== this.boxSize[1] || dpr !== this.bitmapScale) {
      this.boxSize = [width, height];
      this.bitmapScale = dpr;
      this.canvasEl.style.width = `${width}px`;
      this.canvasEl.style.height = `${height}px`;
      this.canvasEl.width = Math.round(width * dpr);
      this.canvasEl.height = Math.round(height * dpr);
      this.canvasEl.getContext("2d").scale(dpr, dpr);
      this.canvas.setDirty(true, true);
    }
    if (!this.fitted && this.session.graph._nodes.length) {
      this.fitted = true; // once the canvas has its size: the whole graph in view
      this.fit();
    }
  }

  fit() {
    const nodes = this.session.graph._nodes;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of nodes) {
      x0 = Math.min(x0, n.pos[0]);
      y0 = Math.min(y0, n.pos[1] - 60);
      x1 = Math.max(x1, n.pos[0] + n.size[0]);
      y1 = Math.max(y1, n.pos[1] + n.size[1]);
    }
    if (!Number.isFinite(x0)) return;
    this.canvas.ds.fitToBounds([x0 - 20, y0 - 20, x1 - x0 + 40, y1 - y0 + 40], { zoom: 0.9 });
    this.canvas.ds.scale = Math.min(this.canvas.ds.scale, 1);
    this.canvas.setDirty(true, true);
  }

  say(text) {
    this.notice.textContent = text;
    this.notice.style.display = text ? "block" : "none";
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => (this.notice.style.display = "none"), 6000);
  }

  canvasEvent(detail) {
    const e = detail.originalEvent;
    if (detail.subType === "empty-double-click") {
      this.openSearch(e, null);
    } else if (detail.subType === "empty-release") {
      const link = detail.linkReleaseContext?.links?.[0];
      if (!link) return;
      const fromOutput = !!link.output;
      const slot = fromOutput ? link.output : link.input;
      this.openSearch(e, { node: link.node, slot: link.slot, fromOutput, type: socketType(slot?.type ?? "*") });
    }
  }

  openSearch(e, link) {
    const rect = this.box.getBoundingClientRect();
    this.searchAt = this.canvas.convertEventToCanvasOffset(e);
    this.search.open(e.clientX - rect.left, e.clientY - rect.top, link);
  }

  /** A node picked in the search box, at the click; connected to the dropped link's end. */
  addNode(def, link) {
    const node = LiteGraph.createNode(def.name);
    if (!node) return;
    node.pos = [this.searchAt[0], this.searchAt[1]];
    this.session.graph.add(node);
    if (link?.fromOutput) {
      const index = node.inputs.findIndex((i) => LiteGraph.isValidConnection(link.type, i.type));
      if (index >= 0) link.node.connect(link.slot, node, index);
    } else if (link) {
      const index = node.outputs.findIndex((o) => LiteGraph.isValidConnection(o.type, link.type));
      if (index >= 0) node.connect(index, link.node, link.slot);
    }
    this.canvas.selectNode(node);
    this.session.changed();
    this.canvasEl.focus();
  }

  key(e) {
    const model = this.session.model;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      model.send({ type: "run", front: e.shiftKey });
    } else if (e.key === "Enter" && e.altKey) {
      model.send({ type: "run", selected: true });
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
  }

  /** Hovering a node shows its error, else the tooltip of the widget, socket or title under
   * the pointer (from the node type's spec). */
  hover(e) {
    const [x, y] = this.canvas.convertEventToCanvasOffset(e);
    const node = this.session.graph.getNodeOnPos(x, y);
    const text = node ? this.tooltipOf(node, x, y) : "";
    if (!text) {
      this.tooltip.style.display = "none";
      return;
    }
    const rect = this.box.getBoundingClientRect();
    this.tooltip.textContent = text;
    this.tooltip.style.left = `${e.clientX - rect.left + 12}px`;
    this.tooltip.style.top = `${e.clientY - rect.top + 12}px`;
    this.tooltip.style.display = "block";
  }

  tooltipOf(node, x, y) {
    const id = node.wbId;
    const error = id != null ? this.session.errors.get(id) ?? this.errorOf(id) : null;
    if (error) return error.message + (error.inputs?.length ? ` (${error.inputs.join(", ")})` : "");
    const widget = node.getWidgetOnPos?.(x, y);
    if (widget?.tooltip) return widget.tooltip;
    const slot = node.getInputOnPos?.([x, y]) ?? node.getOutputOnPos?.([x, y]);
    if (slot?.tooltip) return slot.tooltip;
    if (y < node.pos[1] && node.wbDef?.description) return node.wbDef.description;
    return "";
  }

  errorOf(id) {
    const status = this.session.status.get(id);
    return status?.state === "error" ? { message: status.message } : null;
  }

  async drop(e) {
    e.preventDefault();
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    this.session.model.send({ type: "drop", name: file.name }, undefined, [bytes.buffer]);
  }

  dispose() {
    clearInterval(this.dprTimer);
    this.canvas.stopRendering?.();
    this.canvas.unbindEvents?.();
    this.canvas.graph?.detachCanvas?.(this.canvas);
    this.resizer.disconnect();
    for (const off of this.listeners) off();
    this.session.listeners.delete(this.listener);
    this.gallery.dispose();
    this.queue.dispose();
    this.el.__wbView = null;
  }
}
