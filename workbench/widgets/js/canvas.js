// The editor's canvas: LiteGraph's LGraphCanvas, drawn on demand, with an overview drawing
// for zoom levels where a node is a few pixels big.
//
// On demand: LiteGraph records what needs drawing in `dirty_canvas` / `dirty_bgcanvas` and
// polls them every animation frame, which kept ~10% of a core busy per idle editor on the
// page. Here setting either flag asks for one animation frame instead: an idle canvas
// costs nothing.
//
// Below OVERVIEW_SCALE (where LiteGraph's low-quality mode already draws no text) drawing
// every node's widgets, sockets and spline links costs ~0.08 ms a node: 150 ms a frame with
// 2,000 nodes in view. The overview draws what can still be seen at that size: each node's
// title bar and body as plain rectangles, the outlines of its state (selected, running,
// error, missing) at least 2 screen pixels wide, its progress bar and preview, and the
// links as curves at least 1 pixel wide; rectangles and curves are batched by colour (a
// handful of fills and strokes a frame; overlapping nodes may stack in another order).
// While the user drags the canvas, the overview of the whole graph is drawn once into an
// image that each frame then only copies, shifted: nothing but the viewport moves during a
// drag, and any other change (kernel messages, edits: everything that calls `setDirty`)
// drops the image. At OVERVIEW_SCALE and above LiteGraph draws as it always does.
//
// Node sizes are measured with LiteGraph's `LGraphCanvas._measureText`, which sets the
// context's font twice per call: over half the time a large graph takes to build. Widths
// are remembered per font and text instead.
//
// The overview is drawn on LiteGraph's back canvas, with the links: the front canvas then
// adds what is drawn over the graph (a link being dragged, the selection rectangle) as usual.
import { LGraphCanvas, LiteGraph } from "@comfyorg/litegraph";
import { mark } from "./timing.js";

/** Below this zoom a node's 20-unit widgets are under 6 px tall and its title unreadable. */
export const OVERVIEW_SCALE = 0.3;
const MAX_IMAGE_SIDE = 4096; // px: a larger pan image is not made (the overview is drawn per frame)
const MAX_IMAGE_PIXELS = 8 * 2 ** 20;

export class WorkbenchCanvas extends LGraphCanvas {
  /** The whole graph's overview while the canvas is dragged: {image, scale, dpr, x, y}, image
   * null if too large (a plain field: LGraphCanvas's constructor already calls setDirty). */
  panImage = null;
  #frame = 0; // the animation frame asked for, 0: none
  #drawing = false;
  #drawnNodes = false;

  constructor(canvas, graph, options = {}) {
    super(canvas, graph, { ...options, skip_render: true }); // no polling loop
    LGraphCanvas._measureText = rememberWidths(LGraphCanvas._measureText); // set by super()
    for (const name of ["dirty_canvas", "dirty_bgcanvas"]) {
      let dirty = this[name];
      Object.defineProperty(this, name, {
        get: () => dirty,
        set: (value) => {
          dirty = value;
          if (value) this.requestDraw();
        },
        configurable: true,
        enumerable: true,
      });
    }
    if (!options.skip_render) this.startRendering();
  }

  /** Draw at the next animation frame (once, however often it is asked for before). */
  requestDraw() {
    if (this.#frame || this.#drawing || !this.is_rendering) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      if (this.pause_rendering) return;
      this.#drawing = true; // flags set while drawing are the drawing's own
      try {
        this.draw();
      } finally {
        this.#drawing = false;
      }
      if (!this.#drawnNodes && this.graph?._nodes.length) {
        this.#drawnNodes = true;
        mark("first-frame", this.graph._nodes.length); // the first frame with nodes (bench/editor.py)
      }
      // Still dirty after a frame (something asked while it was drawn): one more. A canvas
      // without a size draws nothing and waits to be asked again (resize sets the flags).
      if ((this.dirty_canvas || this.dirty_bgcanvas) && this.canvas?.width) this.requestDraw();
    });
  }

  startRendering() {
    this.is_rendering = true;
    this.requestDraw();
  }

  stopRendering() {
    this.is_rendering = false;
    cancelAnimationFrame(this.#frame);
    this.#frame = 0;
  }

  /** True while the graph is drawn as an overview (see the module comment). */
  get overview() {
    return this.ds.scale < OVERVIEW_SCALE;
  }

  setDirty(foreground, background) {
    if (foreground || background) this.panImage = null; // the graph changed, not the view
    super.setDirty(foreground, background);
  }

  draw(forceCanvas, forceBackground) {
    if (this.overview && (this.dirty_canvas || this.dirty_bgcanvas || forceCanvas || forceBackground)) {
      // Nodes are drawn with the back canvas: any change redraws both, visible nodes first.
      forceCanvas = forceBackground = true;
    }
    super.draw(forceCanvas, forceBackground);
  }

  drawFrontCanvas() {
    if (!this.overview) {
      super.drawFrontCanvas();
      return;
    }
    const visible = this.visible_nodes;
    this.visible_nodes = []; // already drawn on the back canvas
    try {
      super.drawFrontCanvas();
    } finally {
      this.visible_nodes = visible;
    }
  }

  drawConnections(ctx) {
    if (!this.overview || !this.dragging_canvas) this.panImage = null;
    if (!this.overview) {
      super.drawConnections(ctx);
      return;
    }
    this.renderedPaths.clear(); // no link centre markers to hit at this size
    const pan = this.dragging_canvas ? this.panImageNow() : null;
    if (pan) {
      const { image, x, y, scale, dpr } = pan;
      const smoothing = ctx.imageSmoothingEnabled;
      ctx.imageSmoothingEnabled = false; // copied 1:1: sharp, never blurred
      ctx.drawImage(image, x, y, image.width / (scale * dpr), image.height / (scale * dpr));
      ctx.imageSmoothingEnabled = smoothing;
      return;
    }
    drawOverview(ctx, this, this.visible_nodes, this.visible_area);
  }

  /** The pan image at the current zoom, made if needed; null if it would be too large. */
  panImageNow() {
    const scale = this.ds.scale;
    const dpr = Math.max(window.devicePixelRatio || 1, 1);
    if (this.panImage?.scale !== scale || this.panImage.dpr !== dpr) {
      this.panImage = { image: null, x: 0, y: 0, scale, dpr }; // "too large", unless made below
      const [x0, y0, x1, y1] = graphBounds(this);
      const width = Math.ceil((x1 - x0) * scale * dpr);
      const height = Math.ceil((y1 - y0) * scale * dpr);
      if (width > 0 && height > 0 && Math.max(width, height) <= MAX_IMAGE_SIDE && width * height <= MAX_IMAGE_PIXELS) {
        const image = document.createElement("canvas");
        image.width = width;
        image.height = height;
        const ctx = image.getContext("2d");
        ctx.setTransform(scale * dpr, 0, 0, scale * dpr, -x0 * scale * dpr, -y0 * scale * dpr);
        drawOverview(ctx, this, this.graph._nodes, [x0, y0, x1 - x0, y1 - y0]);
        Object.assign(this.panImage, { image, x: x0, y: y0 });
      }
    }
    return this.panImage.image ? this.panImage : null;
  }
}

const widths = new Map(); // `${font}\n${text}` -> width; shared by every canvas of the page

/** `measure(text, font)`, remembered (at most 10,000 widths: a long session's titles). */
function rememberWidths(measure) {
  return (text, font) => {
    const key = `${font}\n${text}`;
    let width = widths.get(key);
    if (width === undefined) {
      if (widths.size >= 10000) widths.clear();
      width = measure(text, font);
      widths.set(key, width);
    }
    return width;
  };
}

/** [x0, y0, x1, y1] holding every node (with its outline) and link of the graph. */
function graphBounds(canvas) {
  const margin = Math.max(12, 4 / canvas.ds.scale); // outlines: padding + line width
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const node of canvas.graph._nodes) {
    const [x, y] = node.pos;
    const [w, h] = node.renderingSize;
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y - LiteGraph.NODE_TITLE_HEIGHT);
    x1 = Math.max(x1, x + w);
    y1 = Math.max(y1, y + (node.collapsed ? 0 : h));
  }
  forEachLink(canvas.graph, (ax, ay, bx, by) => {
    const bend = Math.hypot(bx - ax, by - ay) * 0.25; // a curve stays within its control points
    x0 = Math.min(x0, bx - bend);
    x1 = Math.max(x1, ax + bend);
  });
  return [x0 - margin, y0 - margin, x1 + margin, y1 + margin];
}

/** Call `fn(ax, ay, bx, by, link)` for every link, from its output to its input socket. */
function forEachLink(graph, fn) {
  for (const node of graph._nodes) {
    const inputs = node.inputs;
    if (!inputs?.length) continue;
    for (let i = 0; i < inputs.length; i++) {
      const linkId = inputs[i]?.link;
      if (linkId == null) continue;
      const link = graph._links.get(linkId);
      const origin = link && graph.getNodeById(link.origin_id);
      if (!origin?.outputs?.[link.origin_slot]) continue;
      const [ax, ay] = origin.getOutputPos(link.origin_slot);
      const [bx, by] = node.getInputPos(i);
      fn(ax, ay, bx, by, link);
    }
  }
}

/** The overview of `nodes` and of the links crossing `area` ([x, y, w, h], graph units). */
function drawOverview(ctx, canvas, nodes, area) {
  const pixel = 1 / canvas.ds.scale; // one screen pixel, in graph units
  ctx.globalAlpha = canvas.editor_alpha;
  drawLinks(ctx, canvas, area, Math.max(canvas.connections_width, pixel));
  drawNodes(ctx, nodes, pixel);
  ctx.globalAlpha = 1;
}

/** Add `values` to the batch of `color`. */
function push(batches, color, a, b, c, d) {
  let batch = batches.get(color);
  if (!batch) batches.set(color, (batch = []));
  batch.push(a, b, c, d);
}

/** Links as LiteGraph's splines, one stroke per colour. */
function drawLinks(ctx, canvas, [x, y, w, h], width) {
  const batches = new Map();
  forEachLink(canvas.graph, (ax, ay, bx, by, link) => {
    if (Math.max(ax, bx) < x || Math.min(ax, bx) > x + w) return;
    if (Math.max(ay, by) < y || Math.min(ay, by) > y + h) return;
    const color = canvas.highlighted_links[link.id]
      ? "#FFF"
      : link.color || LGraphCanvas.link_type_colors[link.type] || canvas.default_link_color;
    push(batches, color, ax, ay, bx, by);
  });
  ctx.lineWidth = width;
  for (const [color, ends] of batches) {
    ctx.strokeStyle = color;
    ctx.beginPath();
    for (let i = 0; i < ends.length; i += 4) {
      const ax = ends[i], ay = ends[i + 1], bx = ends[i + 2], by = ends[i + 3];
      const bend = Math.hypot(bx - ax, by - ay) * 0.25; // LiteGraph's spline offset
      ctx.moveTo(ax, ay);
      ctx.bezierCurveTo(ax + bend, ay, bx - bend, by, bx, by);
    }
    ctx.stroke();
  }
}

/** Nodes as title bar and body, then their outlines, progress bars and previews. */
function drawNodes(ctx, nodes, pixel) {
  const title = LiteGraph.NODE_TITLE_HEIGHT;
  const fills = new Map();
  const outlines = [];
  const extras = [];
  for (const node of nodes) {
    const [x, y] = node.pos;
    const [w, h] = node.renderingSize;
    push(fills, node.constructor.title_color || node.renderingColor, x, y - title, w, title);
    if (!node.collapsed) push(fills, node.renderingBgColor, x, y, w, h);
    for (const key in node.strokeStyles) {
      const style = node.strokeStyles[key].call(node);
      if (style) outlines.push(node, style);
    }
    if (node.progress || node.wbPreview) extras.push(node);
  }
  for (const [color, rects] of fills) {
    ctx.fillStyle = color;
    ctx.beginPath();
    for (let i = 0; i < rects.length; i += 4) ctx.rect(rects[i], rects[i + 1], rects[i + 2], rects[i + 3]);
    ctx.fill();
  }
  for (let i = 0; i < outlines.length; i += 2) {
    const node = outlines[i], style = outlines[i + 1];
    const [x, y] = node.pos;
    const [w, h] = node.renderingSize;
    const padding = Math.max(style.padding ?? 6, 2 * pixel);
    ctx.lineWidth = Math.max(style.lineWidth ?? 1, 2 * pixel);
    ctx.strokeStyle = style.color ?? LiteGraph.NODE_BOX_OUTLINE_COLOR;
    ctx.strokeRect(x - padding, y - title - padding, w + 2 * padding, (node.collapsed ? 0 : h) + title + 2 * padding);
  }
  for (const node of extras) {
    ctx.save();
    ctx.translate(node.pos[0], node.pos[1]);
    node.drawProgressBar(ctx);
    const preview = node.wbPreview;
    if (preview && !node.collapsed) {
      node.arrange(); // places the preview under the node's other widgets
      preview.draw(ctx, node, node.size[0], preview.y, LiteGraph.NODE_WIDGET_HEIGHT, true);
    }
    ctx.restore();
  }
}
