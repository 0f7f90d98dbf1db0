// qrcode-terminal ships no types; only generate() with a callback is used (device/cli/enroll.ts).
declare module 'qrcode-terminal' {
  const qrcode: {
    generate(input: string, options: { small?: boolean }, callback: (qr: string) => void): void;
  };
  export default qrcode;
}
