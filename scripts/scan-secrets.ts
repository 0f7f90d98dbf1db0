// Secret scanning for CI: fails when a tracked file holds something that looks like a credential
// (private keys, otpauth URIs with their secret, JWTs, cloud keys, long literal secrets assigned to
// secret-named variables). Run: npx tsx scripts/scan-secrets.ts [repo-dir]
import { resolve } from 'node:path';
import { trackedTextFiles } from './tracked-files.ts';

export interface Finding {
  file: string;
  line: number;
  rule: string;
}

const RULES: { rule: string; pattern: RegExp }[] = [
  { rule: 'private key', pattern: /-----BEGIN (?:RSA |EC |OPENSSH |ENCRYPTED )?PRIVATE KEY-----/ },
  { rule: 'otpauth URI with a secret', pattern: /otpauth:\/\/totp\/[^\s"'`]*[?&]secret=[A-Z2-7]{16,}/i },
  { rule: 'JSON Web Token', pattern: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/ },
  { rule: 'AWS access key', pattern: /\bAKIA[0-9A-Z]{16}\b/ },
  { rule: 'GitHub token', pattern: /\bgh[pousr]_[A-Za-z0-9]{36,}\b/ },
  { rule: 'literal secret', pattern: /(?:secret|password|passwd|api[_-]?key|token)["']?\s*[:=]\s*["'][A-Za-z0-9+/=_-]{24,}["']/i },
];

/** Binary and generated files cannot hold a hand-written secret and would only slow the scan. */
const SKIP = /\.(onnx|png|jpe?g|webp|ico|woff2?|pt|npz)$|^package-lock\.json$/;

export function scanText(file: string, text: string): Finding[] {
  const findings: Finding[] = [];
  const lines = text.split('\n');
  lines.forEach((content, i) => {
    if (content.includes('secret-scan: allow')) return;
    for (const { rule, pattern } of RULES) if (pattern.test(content)) findings.push({ file, line: i + 1, rule });
  });
  return findings;
}

export function scanRepository(dir: string): Finding[] {
  const findings: Finding[] = [];
  for (const { file, text } of trackedTextFiles(dir, SKIP)) findings.push(...scanText(file, text));
  return findings;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = resolve(process.argv[2] ?? '.');
  const findings = scanRepository(dir);
  for (const f of findings) process.stderr.write(`secret scan: ${f.file}:${f.line}: ${f.rule}\n`);
  if (findings.length) {
    process.stderr.write(`secret scan: ${findings.length} finding(s); remove the secret (and rotate it), or mark a deliberate test literal with "secret-scan: allow"\n`);
    process.exit(1);
  }
  process.stdout.write('secret scan: no secrets found\n');
}
