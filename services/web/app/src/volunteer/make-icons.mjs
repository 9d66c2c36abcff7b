// Writes the volunteer app's icons (public/icons/icon-192.png, icon-512.png) without any
// image library or network: a white heart on the brand blue, drawn from the implicit heart
// curve (x² + y² − 1)³ − x²y³ ≤ 0 with 4×4 supersampling, encoded as PNG with node:zlib.
// The heart stays inside the central 60 %, so the same files serve as maskable icons.
// Run: node src/volunteer/make-icons.mjs (the PNGs are committed).
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { deflateSync } from "node:zlib";

const BLUE = [0x0a, 0x4d, 0x8c];
const WHITE = [0xff, 0xff, 0xff];

const CRC = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

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
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows), { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const dir = resolve(import.meta.dirname, "../../public/icons");
for (const size of [192, 512]) writeFileSync(resolve(dir, `icon-${size}.png`), icon(size));
