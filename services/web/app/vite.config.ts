// Three pages, three bundles: the volunteer app at `/`, the coordinator console at
// `/console/` and the emergency dashboard at `/dashboard/`. Each has its own size budget
// (scripts/budgets.mjs), so a volunteer's phone never downloads the console or the map.
import { resolve } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    // dist/.vite/manifest.json: scripts/budgets.mjs reads what each page loads from it.
    manifest: true,
    assetsDir: "assets",
    target: "es2022",
    // The CSP forbids inline scripts and styles: never inline assets into the HTML.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        volunteer: resolve(import.meta.dirname, "index.html"),
        console: resolve(import.meta.dirname, "console/index.html"),
        dashboard: resolve(import.meta.dirname, "dashboard/index.html"),
      },
    },
  },
});
