// Timing marks for bench/editor.py (User Timing: `performance.getEntriesByType("mark")`,
// also shown in the browser's profiler). Imported first by index.js, so that its mark is
// the moment the bundle starts being evaluated (LiteGraph's evaluation comes after it).
export function mark(name, detail) {
  performance.mark(`wb:${name}`, { detail });
}

mark("module-start");
