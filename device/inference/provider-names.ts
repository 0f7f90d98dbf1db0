// Execution provider names and the parser for an ordered list of them. Kept apart from
// execution-providers.ts (which loads onnxruntime's native binding) so that reading the
// configuration does not load onnxruntime.

/** What `auto` tries, best first. */
export const AUTO_ORDER = ['tensorrt', 'cuda', 'webgpu', 'cpu'] as const;
export const KNOWN_PROVIDERS: readonly string[] = AUTO_ORDER;

/** The list cannot be used; the message says why, without the setting's name. */
export class ProviderListError extends Error {
  override readonly name = 'ProviderListError';
}

/**
 * Reads an ordered provider list as written in VEGKIOSK_EXECUTION_PROVIDERS or `--ep`: `auto` alone,
 * or known provider names separated by commas, tried in that order.
 */
export function parseProviderList(text: string): string[] {
  const names = text.split(',').map((name) => name.trim());
  if (names.some((name) => name === '')) throw new ProviderListError('the list has an empty entry');
  if (names.includes('auto')) {
    if (names.length > 1) throw new ProviderListError('"auto" cannot be combined with other providers');
    return ['auto'];
  }
  const unknown = names.filter((name) => !KNOWN_PROVIDERS.includes(name));
  if (unknown.length) {
    throw new ProviderListError(`unknown execution provider ${unknown.map((n) => `"${n}"`).join(', ')} (known: ${KNOWN_PROVIDERS.join(', ')}, or auto alone)`);
  }
  return names;
}
