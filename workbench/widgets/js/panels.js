// The panels under the canvas: the queue (a virtualised list fed by deltas), the last runs,
// the gallery of output previews, and the errors.

const ROW = 22; // px per queue row

/** Running and pending jobs: kept as an ordered array, drawn only where the panel scrolls. */
export class QueuePanel {
  constructor(parent, cancel) {
    this.cancel = cancel;
    this.jobs = []; // [{id, number, status}] in run order
    this.el = document.createElement("div");
    this.el.className = "wb-queue";
    this.title = document.createElement("div");
    this.title.className = "wb-panel-title";
    this.scroller = document.createElement("div");
    this.scroller.className = "wb-queue-scroll";
    this.spacer = document.createElement("div");
    this.rows = document.createElement("div");
    this.rows.className = "wb-queue-rows";
    this.scroller.append(this.spacer, this.rows);
    this.el.append(this.title, this.scroller);
    parent.append(this.el);
    // Where the list is scrolled to and how tall it is, kept from events: draw() never reads
    // the layout, so a delta costs no forced layout of the notebook (it would, right after
    // the other panels' writes).
    this.top = 0;
    this.height = 150;
    this.scroller.addEventListener("scroll", () => {
      this.top = this.scroller.scrollTop;
      this.draw();
    });
    this.resizer = new ResizeObserver(([entry]) => {
      this.height = entry.contentRect.height || 150;
      this.draw();
    });
    this.resizer.observe(this.scroller);
    this.draw();
  }

  dispose() {
    this.resizer.disconnect();
  }

  /** Apply one `queue` message: {added (each after a job id or first), changed, removed}. */
  apply(delta) {
    const started = performance.now();
    if (delta.removed?.length) {
      const gone = new Set(delta.removed);
      this.jobs = this.jobs.filter((j) => !gone.has(j.id));
    }
    let index = new Map(this.jobs.map((j, i) => [j.id, i]));
    const inserts = [];
    for (const entry of delta.added || []) {
      if (index.has(entry.id)) continue;
      inserts.push(entry);
    }
    if (inserts.length) {
      // Consecutive entries usually follow one another: insert runs at once.
      for (const entry of inserts) {
        const at = entry.after == null ? 0 : (index.get(entry.after) ?? this.jobs.length - 1) + 1;
        this.jobs.splice(at, 0, { id: entry.id, number: entry.number, status: entry.status });
        if (at === this.jobs.length - 1) index.set(entry.id, at);
        else index = new Map(this.jobs.map((j, i) => [j.id, i]));
      }
    }
    for (const entry of delta.changed || []) {
      const i = index.get(entry.id);
      if (i != null) this.jobs[i].status = entry.status;
    }
    this.draw();
    this.lastUpdateMs = performance.now() - started;
  }

  draw() {
    const running = this.jobs.filter((j) => j.status === "running").length;
    this.title.textContent = `Queue: ${running} running, ${this.jobs.length - running} pending`;
    this.spacer.style.height = `${this.jobs.length * ROW}px`;
    const first = Math.max(0, Math.floor(this.top / ROW) - 2);
    const count = Math.ceil(this.height / ROW) + 4;
    this.rows.style.top = `${first * ROW}px`;
    this.rows.replaceChildren(
      ...this.jobs.slice(first, first + count).map((job) => {
        const row = document.createElement("div");
        row.className = `wb-queue-row wb-${job.status}`;
        row.dataset.job = job.id;
        const label = document.createElement("span");
        label.textContent = `#${job.number} ${job.status}`;
        const cancel = document.createElement("button");
        cancel.className = "wb-cancel";
        cancel.textContent = "✕";
        cancel.title = job.status === "running" ? "Interrupt this job" : "Remove this job";
        cancel.addEventListener("click", () => this.cancel(job.id));
        row.append(label, cancel);
        return row;
      }),
    );
  }
}

/** The last runs: status, run time, seeds used. */
export class HistoryPanel {
  constructor(parent) {
    this.entries = [];
    this.el = document.createElement("div");
    this.el.className = "wb-history";
    parent.append(this.el);
  }

  apply(msg) {
    if (msg.full) this.entries = [];
    this.entries.push(...msg.added);
    this.entries = this.entries.slice(-20);
    const title = document.createElement("div");
    title.className = "wb-panel-title";
    title.textContent = "History";
    this.el.replaceChildren(
      title,
      ...[...this.entries].reverse().map((e) => {
        const row = document.createElement("div");
        row.className = `wb-history-row wb-${e.status}`;
        const seeds = Object.entries(e.seeds || {})
          .map(([node, values]) => `${node}: ${Object.values(values).join(",")}`)
          .join("; ");
        const ms = e.ms != null ? `${(e.ms / 1000).toFixed(2)} s` : "";
        row.textContent = `#${e.number} ${e.status} ${ms} ran ${e.executed}, cached ${e.cached}${seeds ? ` · seed ${seeds}` : ""}`;
        return row;
      }),
    );
  }
}

/** Output previews of the runs, newest first (at most 24 kept). */
export class Gallery {
  constructor(parent) {
    this.el = document.createElement("div");
    this.el.className = "wb-gallery";
    parent.append(this.el);
    this.urls = [];
  }

  add(msg, buffers) {
    for (const buffer of buffers) {
      const url = URL.createObjectURL(new Blob([buffer], { type: msg.mime }));
      this.urls.unshift(url);
      const img = document.createElement("img");
      img.src = url;
      img.title = `node ${msg.node}`;
      img.dataset.node = msg.node;
      this.el.prepend(img);
    }
    while (this.urls.length > 24) {
      URL.revokeObjectURL(this.urls.pop());
      this.el.lastChild?.remove();
    }
  }

  dispose() {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
  }
}

export class ErrorPanel {
  constructor(parent) {
    this.el = document.createElement("div");
    this.el.className = "wb-errors";
    parent.append(this.el);
    this.show(null);
  }

  show(msg) {
    if (!msg) {
      this.el.style.display = "none";
      this.el.replaceChildren();
      return;
    }
    this.el.style.display = "block";
    const head = document.createElement("div");
    head.textContent = msg.message;
    this.el.replaceChildren(
      head,
      ...Object.entries(msg.nodes || {}).map(([id, error]) => {
        const row = document.createElement("div");
        row.dataset.node = id;
        const inputs = error.inputs?.length ? ` (${error.inputs.join(", ")})` : "";
        row.textContent = `#${id}${inputs}: ${error.message}`;
        return row;
      }),
    );
  }
}
