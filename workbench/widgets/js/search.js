// The node search box: opens on a double-click on empty canvas, and when a link is dropped on
// empty canvas (then only node types with a socket that fits the link's type are listed).
// Fuzzy over type names, display names and categories.
import { LiteGraph } from "@comfyorg/litegraph";
import { socketType } from "./nodes.js";

/** Score of `query` against `text`: a subsequence match, closer and earlier is better; -1: none. */
export function fuzzyScore(query, text) {
  const q = query.toLowerCase();
  const t = text.toLowerCase();
  if (!q) return 0;
  const at = t.indexOf(q);
  if (at >= 0) return 1000 - at * 2 - (t.length - q.length) * 0.1; // a substring wins
  let score = 0, last = -1;
  for (const ch of q) {
    const i = t.indexOf(ch, last + 1);
    if (i < 0) return -1;
    score += i === last + 1 ? 10 : 1;
    last = i;
  }
  return score - t.length * 0.05;
}

/** The defs matching `query`, best first; `fits(def)` filters by the dragged link's type. */
export function searchDefs(defs, query, fits = () => true, limit = 50) {
  const scored = [];
  for (const def of Object.values(defs)) {
    if (!fits(def)) continue;
    const score = Math.max(
      fuzzyScore(query, def.display_name || ""),
      fuzzyScore(query, def.name),
      fuzzyScore(query, def.category || "") - 50,
    );
    if (score >= 0) scored.push([score, def]);
  }
  scored.sort((a, b) => b[0] - a[0] || a[1].name.localeCompare(b[1].name));
  return scored.slice(0, limit).map(([, def]) => def);
}

export class SearchBox {
  /** `pick(def, link)` makes the node; `link`: the dropped link ({node, slot, fromOutput, type}). */
  constructor(container, defs, pick) {
    this.defs = defs;
    this.pick = pick;
    this.el = document.createElement("div");
    this.el.className = "wb-search";
    this.el.setAttribute("data-lm-suppress-shortcuts", "true");
    this.el.style.display = "none";
    this.input = document.createElement("input");
    this.input.placeholder = "Search nodes…";
    this.input.setAttribute("data-lm-suppress-shortcuts", "true");
    this.list = document.createElement("div");
    this.list.className = "wb-search-list";
    this.el.append(this.input, this.list);
    container.append(this.el);
    this.input.addEventListener("input", () => this.update());
    this.input.addEventListener("keydown", (e) => this.key(e));
    this.input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  open(x, y, link = null) {
    this.link = link;
    this.el.style.left = `${x}px`;
    this.el.style.top = `${y}px`;
    this.el.style.display = "block";
    this.input.value = "";
    this.update();
    this.input.focus();
  }

  close() {
    this.el.style.display = "none";
  }

  fits(def) {
    const link = this.link;
    if (!link) return true;
    if (link.fromOutput) return def.inputs.some((i) => LiteGraph.isValidConnection(link.type, socketType(i.type)));
    return def.outputs.some((o) => LiteGraph.isValidConnection(o.type, link.type));
  }

  update() {
    this.results = searchDefs(this.defs(), this.input.value, (d) => this.fits(d));
    this.selected = 0;
    this.list.replaceChildren(
      ...this.results.map((def, i) => {
        const row = document.createElement("div");
        row.className = "wb-search-item";
        row.dataset.type = def.name;
        row.innerHTML = "";
        const name = document.createElement("span");
        name.textContent = def.display_name || def.name;
        const category = document.createElement("span");
        category.className = "wb-search-category";
        category.textContent = def.category || "";
        row.append(name, category);
        row.title = def.description || "";
        row.addEventListener("mousedown", (e) => {
          e.preventDefault();
          this.choose(i);
        });
        return row;
      }),
    );
    this.highlight();
  }

  highlight() {
    [...this.list.children].forEach((row, i) => row.classList.toggle("wb-selected", i === this.selected));
  }

  key(e) {
    e.stopPropagation();
    if (e.key === "ArrowDown") this.selected = Math.min(this.selected + 1, this.results.length - 1);
    else if (e.key === "ArrowUp") this.selected = Math.max(this.selected - 1, 0);
    else if (e.key === "Enter") this.choose(this.selected);
    else if (e.key === "Escape") this.close();
    else return;
    e.preventDefault();
    this.highlight();
  }

  choose(i) {
    const def = this.results?.[i];
    this.close();
    if (def) this.pick(def, this.link);
  }
}
