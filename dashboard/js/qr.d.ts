// Types for qr.js, so the Node-side tests can import the browser encoder under `tsc --noEmit`.
export interface QrCode {
  version: number;
  size: number;
  level: 'L' | 'M';
  mask: number;
  /** modules[r * size + c] === 1 for a dark module. */
  modules: Uint8Array;
}
export const MAX_VERSION: number;
export function encodeQr(text: string, options?: { level?: 'L' | 'M'; version?: number; mask?: number }): QrCode;
export function drawQr(canvas: HTMLCanvasElement, qr: QrCode, scale?: number): void;
