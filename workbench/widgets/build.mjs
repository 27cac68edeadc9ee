// Bundles js/index.js (and LiteGraph) into static/editor.js + static/editor.css: `npm run build`.
// The bundle's first line records a SHA-256 of its sources and the lockfile, which
// tests/workbench/test_editor_bundle.py recomputes (so a stale bundle fails CI without npm).
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, "static");

export function sourceHash() {
  const files = [
    ...readdirSync(join(here, "js")).sort().map((f) => join("js", f)),
    "package-lock.json",
    "build.mjs",
  ];
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(file.replaceAll("\\", "/") + "\n");
    hash.update(readFileSync(join(here, file)));
  }
  return hash.digest("hex");
}

const banner = `/* workbench editor bundle; sources sha256=${sourceHash()} */`;
await esbuild.build({
  entryPoints: { editor: join(here, "js", "index.js") },
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2022",
  legalComments: "eof",
  outdir: out,
  banner: { js: banner, css: banner },
  logLevel: "warning",
});
