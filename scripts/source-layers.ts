// The layer order of device/: imports run downwards only, so a part can be understood, tested and
// replaced with what lies below it, and no change to an upper part can break a lower one.
// lint-source.ts applies it to every file; a new directory under device/ must be placed here first.
import { posix } from 'node:path';

/**
 * Bottom to top. A file may import from its own directory and from any directory on a lower row;
 * directories on one row are independent of each other. `.` is device/ itself (logger.ts).
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['.'],
  ['supervision', 'board', 'systemd'],
  ['camera'],
  ['inference'],
  ['config', 'results'],
  ['store'],
  // Classes taught on the device: the learned-class store (over store/) and the imprinted head (over inference/).
  ['learning'],
  // The fleet publisher needs only what lies below (configuration, results, the data directory); the
  // pipeline's status and the server's /api/status JSON reach it as plain functions from serve.
  ['fleet', 'auth'],
  ['pipeline'],
  ['server'],
  ['cli'],
];

const LEVEL = new Map(LAYERS.flatMap((row, level) => row.map((dir) => [dir, level] as const)));

const ORDER = [...LAYERS].reverse().map((row) => row.join(', ')).join(' > ');

/** The directory under device/ that a repository path belongs to (`.` for device/*.ts), or null outside device/. */
export function layerOf(file: string): string | null {
  const parts = posix.normalize(file).split('/');
  if (parts[0] !== 'device') return null;
  return parts.length === 2 ? '.' : parts[1]!;
}

/** Relative module specifiers on one line: static imports and re-exports (`from '…'`), side-effect and dynamic imports. */
function specifiersIn(line: string): string[] {
  const found: string[] = [];
  for (const m of line.matchAll(/\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]|\bimport\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) found.push((m[1] ?? m[2])!);
  return found;
}

/** What is wrong with one line of `file` against the layer order, or null. */
export function layerProblem(file: string, line: string): string | null {
  const from = layerOf(file);
  const specifiers = from === null ? [] : specifiersIn(line);
  if (from === null || !specifiers.length) return null;
  const fromLevel = LEVEL.get(from);
  if (fromLevel === undefined) return `layers: device/${from}/ is not in the layer order (add it to LAYERS in scripts/source-layers.ts)`;
  for (const specifier of specifiers) {
    const to = layerOf(posix.join(posix.dirname(file), specifier));
    if (to === null || to === from) continue;
    const toLevel = LEVEL.get(to);
    if (toLevel === undefined) return `layers: device/${to}/ is not in the layer order (add it to LAYERS in scripts/source-layers.ts)`;
    if (toLevel >= fromLevel) {
      const where = toLevel === fromLevel ? 'beside it' : 'above it';
      return `layers: ${from} must not import ${to} (${where}); imports run downwards only: ${ORDER}`;
    }
  }
  return null;
}
