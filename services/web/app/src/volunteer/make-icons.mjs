// Writes the volunteer app's icons (public/icons/icon-192.png, icon-512.png) without any
// image library or network: a white heart on the brand blue, drawn from the implicit heart
// curve (x² + y² − 1)³ − x²y³ ≤ 0 with 4×4 supersampling, encoded by scripts/png.mjs.
// The heart stays inside the central 60 %, so the same files serve as maskable icons.
// Run: node src/volunteer/make-icons.mjs (the PNGs are committed).
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { RGBA, encodePng } from "../../scripts/png.mjs";

const BLUE = [0x0a, 0x4d, 0x8c];
const WHITE = [0xff, 0xff, 0xff];

function inHeart(x, y) {
  const a = x * x + y * y - 1;
  return a * a * a - x * x * y * y * y <= 0;
}

function icon(size) {
  const rows = [];
  const S = 4;
  for (let py = 0; py < size; py++) {
    const row = Buffer.alloc(1 + size * 4); // filter type 0, then RGBA
    for (let px = 0; px < size; px++) {
      let hits = 0;
      for (let sy = 0; sy < S; sy++)
        for (let sx = 0; sx < S; sx++) {
          // Centre the heart (x in ±1.14, y from −1 to 1.24) in 60 % of the square.
          const u = ((px + (sx + 0.5) / S) / size - 0.5) / 0.3;
          const v = ((py + (sy + 0.5) / S) / size - 0.5) / 0.3;
          if (inHeart(u * 1.14, -(v * 1.12) + 0.12)) hits++;
        }
      const f = hits / (S * S);
      for (let c = 0; c < 3; c++) row[1 + px * 4 + c] = Math.round(BLUE[c] * (1 - f) + WHITE[c] * f);
      row[1 + px * 4 + 3] = 255;
    }
    rows.push(row);
  }
  return encodePng(size, size, RGBA, rows, { level: 9 });
}

const dir = resolve(import.meta.dirname, "../../public/icons");
for (const size of [192, 512]) writeFileSync(resolve(dir, `icon-${size}.png`), icon(size));
