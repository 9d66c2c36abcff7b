// Writes a brotli (.br, quality 11) and a gzip (.gz, level 9) copy beside every text file of
// the build that is worth it, once at build time. The web service sends them to browsers
// that accept them (tower-http ServeDir precompressed): the best ratio without spending
// CPU per request.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const DIST = join(import.meta.dirname, "..", "dist");
const TEXT = /\.(js|mjs|css|html|json|svg|webmanifest|txt|map)$/;
const MIN_BYTES = 1024;

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else yield path;
  }
}

let count = 0;
for (const path of files(DIST)) {
  if (!TEXT.test(path) || statSync(path).size < MIN_BYTES) continue;
  const data = readFileSync(path);
  writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }));
  writeFileSync(
    `${path}.br`,
    brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    }),
  );
  count++;
}
console.log(`compressed ${count} files (.br and .gz beside each)`);
