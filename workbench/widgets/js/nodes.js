// Node types on the canvas, built from the kernel's node definitions (protocol.js NodeDef).
// A node's sockets and widgets follow its def: link inputs are sockets; widget inputs are
// widgets with a socket of their own (linking one disables the widget, as in ComfyUI);
// an input with control after generate gets a policy combo after it.
import { LGraphBadge, LGraphNode, LiteGraph } from "@comfyorg/litegraph";

export const CONTROL_MODES = ["fixed", "increment", "decrement", "randomize"];
export const CONTROL_SUFFIX = " control_after_generate";
const JS_SAFE_LIMIT = 1125899906842624; // 2**50: ComfyUI's bound for number widgets
export const MISSING = "workbench/missing";

/** The socket type of an input: a COMBO's list of choices is "COMBO". */
export function socketType(type) {
  return Array.isArray(type) ? "COMBO" : String(type);
}

function decimals(step) {
  const text = String(step);
  return text.includes(".") ? text.length - text.indexOf(".") - 1 : 0;
}

/** A widget for a widget input; `changed(node)` is called after every user change. */
function addWidget(node, input, changed) {
  const o = input.options || {};
  const type = socketType(input.type);
  const notify = () => changed(node);
  let widget;
  if (type === "INT" || type === "FLOAT") {
    const step = o.step ?? (type === "INT" ? 1 : 0.1);
    const min = Math.max(o.min ?? -JS_SAFE_LIMIT, -JS_SAFE_LIMIT);
    const max = Math.min(o.max ?? JS_SAFE_LIMIT, JS_SAFE_LIMIT);
    const precision = type === "INT" ? 0 : Math.max(decimals(o.round ?? step), 1);
    const options = { min, max, step2: step, step: step * 10, precision };
    const kind = o.display === "slider" ? "slider" : "number";
    widget = node.addWidget(kind, input.name, o.default ?? (min > 0 ? min : 0), (value) => {
      if (type === "INT") {
        // INT widgets snap to the step, counted from min (as ComfyUI's do).
        const snapped = Math.round((value - (o.min ?? 0)) / step) * step + (o.min ?? 0);
        widget.value = Math.min(Math.max(snapped, min), max);
      }
      notify();
    }, options);
  } else if (type === "COMBO") {
    const values = Array.isArray(input.type) ? input.type : o.options || [];
    widget = node.addWidget("combo", input.name, o.default ?? values[0] ?? "", notify, { values });
  } else if (type === "BOOLEAN") {
    widget = node.addWidget("toggle", input.name, o.default ?? false, notify, {
      on: o.label_on, off: o.label_off,
    });
  } else {
    widget = node.addWidget("text", input.name, o.default ?? "", notify, { multiline: !!o.multiline });
  }
  widget.tooltip = input.tooltip || undefined;
  widget.wbInput = input.name;
  return widget;
}

let building = null; // the node buildNode is building

/** Build `node`'s sockets and widgets from `def` (a new node, before it joins a graph). */
export function buildNode(node, def, session) {
  node.wbDef = def;
  node.title = def.display_name || def.name;
  const changed = () => session.changed();
  // LiteGraph measures the whole node again after each socket and widget added
  // (expandToFitContent): five times for a node with two widgets, ~40% of building a graph.
  // The node is measured once, when it is complete. (A flag outside the node: adding and
  // deleting a property of its own would turn every node into a slow dictionary object.)
  building = node;
  try {
    for (const input of def.inputs) {
      const type = socketType(input.type);
      if (input.kind === "link") {
        node.addInput(input.name, type, { tooltip: input.tooltip || undefined });
        continue;
      }
      addWidget(node, input, changed);
      node.addInput(input.name, type, { widget: { name: input.name }, tooltip: input.tooltip || undefined });
      if (input.control) {
        const control = node.addWidget("combo", input.name + CONTROL_SUFFIX, "fixed", changed, {
          values: CONTROL_MODES,
        });
        control.serialize = false;
        control.label = "control after generate";
        control.wbControlFor = input.name;
      }
    }
    for (const output of def.outputs) {
      node.addOutput(output.name, output.type, {
        tooltip: output.tooltip || undefined,
        shape: output.is_list ? LiteGraph.GRID_SHAPE : undefined,
      });
    }
  } finally {
    building = null;
  }
  node.size = node.computeSize();
  node.size[0] = Math.max(node.size[0], 240);
  decorate(node, session);
}

/** One badge object per node and place, made again only when its text changes (they are
 * asked for on every frame: thousands of nodes must not allocate thousands of badges). */
function badge(node, place, text, fgColor, bgColor) {
  const cache = (node.wbBadges ??= {});
  const key = `${text}|${bgColor}`;
  if (cache[place]?.key !== key) cache[place] = { key, badge: new LGraphBadge({ text, fgColor, bgColor }) };
  return cache[place].badge;
}

/** Status marks: the id badge, "cached" / "ran in X ms", and the outline of its state. */
export function decorate(node, session) {
  node.badges = [
    () => badge(node, "id", `#${node.wbId ?? "?"}`, "#ccc", "#444"),
    () => {
      const status = session.status.get(node.wbId);
      if (status?.state === "cached") return badge(node, "run", "cached", "#fff", "#2a6");
      if (status?.state === "ran") return badge(node, "run", `${Math.round(status.ms ?? 0)} ms`, "#fff", "#36a");
      if (status?.state === "error") return badge(node, "run", "error", "#fff", "#a22");
      return badge(node, "run", "", "#fff", "#000");
    },
  ];
  node.strokeStyles = {
    ...node.strokeStyles,
    wbStatus() {
      const status = session.status.get(this.wbId);
      if (session.errors.has(this.wbId) || status?.state === "error") {
        return { color: "#f33", lineWidth: 3, padding: 8 };
      }
      if (status?.state === "running") return { color: "#2f2", lineWidth: 3, padding: 8 };
      if (this.wbMissing) return { color: "#f80", lineWidth: 2, padding: 6 };
    },
  };
}

/** Register one LiteGraph node class per def (so copy, paste and clone make the right node). */
export function registerTypes(defs, session) {
  for (const def of Object.values(defs)) {
    class WorkbenchNode extends LGraphNode {
      constructor(title) {
        super(title, def.name);
        buildNode(this, def, session);
      }

      expandToFitContent() {
        if (building !== this) super.expandToFitContent();
      }
    }
    WorkbenchNode.title = def.display_name || def.name;
    LiteGraph.registerNodeType(def.name, WorkbenchNode);
  }
}

/** A placeholder for a node type the kernel does not have: its values kept, marked missing. */
export function missingNode(classType, inputs, session) {
  const node = new LGraphNode(`${classType} (missing)`, classType);
  node.wbMissing = true;
  node.wbInputs = inputs;
  node.color = "#833";
  node.bgcolor = "#422";
  for (const [name, value] of Object.entries(inputs || {})) {
    if (Array.isArray(value) && value.length === 2 && typeof value[1] === "number") {
      node.addInput(name, "*");
    }
  }
  node.size = [Math.max(240, node.computeSize()[0]), Math.max(60, node.computeSize()[1])];
  decorate(node, session);
  return node;
}

const PREVIEW = "$$preview";

/** The node's preview: its images (ImageBitmaps) fit into the space under its widgets. */
export function ensurePreviewWidget(node, session) {
  if (node.widgets?.some((w) => w.name === PREVIEW)) return;
  const widget = {
    type: "wb_preview",
    name: PREVIEW,
    value: "",
    serialize: false,
    y: 0,
    options: {},
    computeLayoutSize: () => ({ minHeight: 160, minWidth: 120 }),
    draw(ctx, owner, width, y) {
      const height = (this.computedHeight ?? 160) - 4;
      const images = session.previews.get(owner.wbId) || [];
      const texts = session.texts.get(owner.wbId);
      ctx.save();
      if (texts) {
        ctx.fillStyle = "#ddd";
        ctx.font = "12px monospace";
        texts.join("\n").split("\n").slice(0, Math.floor(height / 15)).forEach((line, i) => {
          ctx.fillText(line.slice(0, 60), 10, y + 14 + i * 15);
        });
      }
      if (images.length) {
        const columns = Math.ceil(Math.sqrt(images.length));
        const rows = Math.ceil(images.length / columns);
        const cellW = (width - 20) / columns;
        const cellH = height / rows;
        ctx.imageSmoothingEnabled = images[0].width >= 128;
        images.forEach((image, i) => {
          const scale = Math.min(cellW / image.width, cellH / image.height);
          const w = image.width * scale;
          const h = image.height * scale;
          const x = 10 + (i % columns) * cellW + (cellW - w) / 2;
          const top = y + Math.floor(i / columns) * cellH + (cellH - h) / 2;
          ctx.drawImage(image, x, top, w, h);
        });
      }
      ctx.restore();
    },
  };
  node.addCustomWidget(widget);
  node.wbPreview = widget; // for the overview (canvas.js)
  node.setSize([Math.max(node.size[0], 260), node.size[1] + 180]);
}
