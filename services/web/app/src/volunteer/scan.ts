// Reading the check-in QR code from a photo, loaded with import() when the volunteer picks
// one (offers.tsx, "Scan the code"). The browser's own BarcodeDetector where it has one
// (Android's Chrome, Safari on recent iPhones), else jsQR, itself loaded only then: a pure
// JavaScript decoder of ~40 KB (gzip) that no one downloads before scanning.
//
// A photo is taken through `<input type="file" accept="image/*" capture="environment">`,
// which opens the back camera on phones and a file picker elsewhere: nothing to permit, and
// it works in every browser, installed or not.

/** What the coordinator's screen puts into the QR code (MatchingService.GetCheckInCode's qr_text). */
const CHECK_IN = /^spontan-checkin:([0-9a-fA-F-]{36}):(\d{4,10})$/;

export type Scanned =
  /** No QR code found in the photo. */
  | { kind: "none" }
  /** A QR code, but not a Spontan check-in code. */
  | { kind: "foreign" }
  /** A check-in code: the task it is for, its digits, and the whole text (CheckIn takes it as it is). */
  | { kind: "checkIn"; taskId: string; code: string; text: string };

export function parseCheckIn(text: string | null): Scanned {
  if (text === null) return { kind: "none" };
  const value = text.trim();
  const match = CHECK_IN.exec(value);
  return match ? { kind: "checkIn", taskId: match[1].toLowerCase(), code: match[2], text: value } : { kind: "foreign" };
}

interface DetectedBarcode {
  rawValue: string;
}
interface BarcodeDetectorLike {
  detect(image: ImageBitmapSource): Promise<DetectedBarcode[]>;
}
interface BarcodeDetectorClass {
  new (options: { formats: string[] }): BarcodeDetectorLike;
  getSupportedFormats(): Promise<string[]>;
}

async function withDetector(image: ImageBitmap): Promise<string | null> {
  const Detector = (window as unknown as { BarcodeDetector?: BarcodeDetectorClass }).BarcodeDetector;
  if (!Detector) return null;
  try {
    if (!(await Detector.getSupportedFormats()).includes("qr_code")) return null;
    const found = await new Detector({ formats: ["qr_code"] }).detect(image);
    return found[0]?.rawValue ?? null;
  } catch {
    return null;
  }
}

/** The photo's pixels, scaled so that its longer side is at most `side` (a phone photo is 12 MP). */
function pixels(image: ImageBitmap, side: number): ImageData {
  const scale = Math.min(1, side / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true })!;
  context.drawImage(image, 0, 0, width, height);
  return context.getImageData(0, 0, width, height);
}

async function withJsQr(image: ImageBitmap): Promise<string | null> {
  const { default: jsQR } = await import("jsqr");
  // Small first (fast, and enough when the code fills the picture), then finer.
  for (const side of [1024, 2048]) {
    const data = pixels(image, side);
    const found = jsQR(data.data, data.width, data.height, { inversionAttempts: "attemptBoth" });
    if (found?.data) return found.data;
    if (Math.max(image.width, image.height) <= side) break;
  }
  return null;
}

/** The text of the QR code in a photo, or null when none is found. */
export async function readQr(photo: Blob): Promise<string | null> {
  const image = await createImageBitmap(photo);
  try {
    return (await withDetector(image)) ?? (await withJsQr(image));
  } finally {
    image.close();
  }
}

/** The check-in code in a photo, if there is one. */
export async function scanCheckIn(photo: Blob): Promise<Scanned> {
  return parseCheckIn(await readQr(photo));
}
