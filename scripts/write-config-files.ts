// Regenerates .env.example from config/schema.json and config/default.json, so the list of variables,
// their defaults and their meaning can never drift from what the loader accepts.
// Run: npx tsx scripts/write-env-example.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PACKAGE_ROOT, readSchema } from '../device/config/load-config.ts';

export function renderEnvExample(): string {
  const defaults = JSON.parse(readFileSync(resolve(PACKAGE_ROOT, 'config/default.json'), 'utf8')) as Record<string, unknown>;
  const lines = [
    '# vegkiosk configuration. Every variable overrides config/default.json and the VEGKIOSK_CONFIG file.',
    '# Values shown are the defaults. Unknown VEGKIOSK_* variables, wrong types and out-of-range values',
    '# stop the service with exit 78 and a message naming the key. Under systemd this file is /etc/vegkiosk/env.',
    '',
    '# Extra JSON config file (same keys as below), read after config/default.json.',
    '# VEGKIOSK_CONFIG=',
    '',
  ];
  for (const [key, prop] of Object.entries(readSchema().properties)) {
    lines.push(`# ${prop.description ?? ''}`.trimEnd());
    lines.push(`${key}=${String(defaults[key] ?? '')}`);
    lines.push('');
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(resolve(PACKAGE_ROOT, '.env.example'), renderEnvExample());
}
