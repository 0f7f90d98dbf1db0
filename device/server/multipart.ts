import { HttpError } from './errors.ts';

const MAX_PARTS = 16;
const MAX_PART_HEADER = 4096;

/**
 * Minimal multipart/form-data reader for one file field. The body is already size-bounded by the
 * caller; this bounds the part count and header size, and never writes to disk.
 */
export function multipartField(body: Buffer, contentType: string, field: string): Buffer | null {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw bad('multipart body without a boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw bad('multipart body without parts');
  for (let parts = 0; parts < MAX_PARTS; parts++) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') return null; // closing delimiter
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw bad('malformed multipart delimiter');
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0 || headerEnd - pos > MAX_PART_HEADER) throw bad('malformed multipart part headers');
    const headers = body.subarray(pos, headerEnd).toString('utf8');
    const dataStart = headerEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), dataStart);
    if (next < 0) throw bad('multipart part without a closing delimiter');
    const name = /content-disposition:[^\r\n]*;\s*name="([^"]*)"/i.exec(headers)?.[1];
    if (name === field) return body.subarray(dataStart, next);
    pos = next + 2;
  }
  throw bad('too many multipart parts');
}

function bad(message: string): HttpError {
  return new HttpError(400, 'invalid_multipart', message);
}
