// Regenerates config/default.json, config/schema.json and .env.example from the key declarations in
// device/config/config.ts, so the defaults, the schema editors validate against and the list of
// variables operators read can never drift from what the loader accepts. Tests compare each file
// with what this renders, so a hand edit fails `npm test`.
// Run: npx tsx scripts/write-config-files.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_KEYS } from '../device/config/config.ts';
import { PACKAGE_ROOT } from '../device/config/load-config.ts';

const GENERATED = 'Generated from the declarations in device/config/config.ts by scripts/write-config-files.ts; edit those, not this file.';

const declarations = () => Object.values(CONFIG_KEYS);

export function renderDefaults(): string {
  return `${JSON.stringify(Object.fromEntries(declarations().map((key) => [key.env, key.default])), null, 2)}\n`;
}

export function renderSchema(): string {
  const property = (key: (typeof CONFIG_KEYS)[keyof typeof CONFIG_KEYS]) => {
    const entries = { type: key.json, ...key.schema, description: key.description, ...(key.secret ? { secret: true } : {}) };
    const inline = (value: unknown) => (Array.isArray(value) ? `[${value.map((v) => JSON.stringify(v)).join(', ')}]` : JSON.stringify(value));
    return `{ ${Object.entries(entries).map(([name, value]) => `${JSON.stringify(name)}: ${inline(value)}`).join(', ')} }`;
  };
  const lines = declarations().map((key, i, all) => `    ${JSON.stringify(key.env)}: ${property(key)}${i < all.length - 1 ? ',' : ''}`);
  return [
    '{',
    '  "$schema": "https://json-schema.org/draft/2020-12/schema",',
    `  "$comment": ${JSON.stringify(GENERATED)},`,
    '  "title": "vegkiosk configuration",',
    '  "description": "Every key may be set in config/default.json, in the JSON file named by VEGKIOSK_CONFIG, or as an environment variable of the same name (environment wins). Unknown keys are refused.",',
    '  "type": "object",',
    '  "additionalProperties": false,',
    '  "properties": {',
    ...lines,
    '  }',
    '}',
    '',
  ].join('\n');
}

export function renderEnvExample(): string {
  const lines = [
    '# vegkiosk configuration. Every variable overrides config/default.json and the VEGKIOSK_CONFIG file.',
    '# Values shown are the defaults. Unknown VEGKIOSK_* variables, wrong types and out-of-range values',
    '# stop the service with exit 78 and a message naming the key. Under systemd this file is /etc/vegkiosk/env.',
    '',
    '# Extra JSON config file (same keys as below), read after config/default.json.',
    '# VEGKIOSK_CONFIG=',
    '',
  ];
  for (const key of declarations()) {
    lines.push(`# ${key.description}`.trimEnd());
    lines.push(`${key.env}=${String(key.default)}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Each generated file, by its path in the repository. */
export const CONFIG_FILES: Readonly<Record<string, () => string>> = {
  'config/default.json': renderDefaults,
  'config/schema.json': renderSchema,
  '.env.example': renderEnvExample,
};

/** The generated files under `root` that differ from what the declarations render (edited by hand, or not regenerated). */
export function driftedConfigFiles(root = PACKAGE_ROOT): string[] {
  return Object.entries(CONFIG_FILES)
    .filter(([file, render]) => {
      try {
        return readFileSync(resolve(root, file), 'utf8') !== render();
      } catch {
        return true;
      }
    })
    .map(([file]) => file);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [file, render] of Object.entries(CONFIG_FILES)) writeFileSync(resolve(PACKAGE_ROOT, file), render());
}
