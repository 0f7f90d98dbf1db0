// Static analysis for CI, beyond what strict TypeScript checks: patterns that are security bugs in
// this service whatever the types say. Run: npx tsx scripts/lint-source.ts [repo-dir]
import { resolve } from 'node:path';
import { layerProblem } from './source-layers.ts';
import { trackedTextFiles } from './tracked-files.ts';

export interface LintFinding {
  file: string;
  line: number;
  rule: string;
}

interface Rule {
  rule: string;
  files: RegExp;
  pattern: RegExp;
}

const RULES: Rule[] = [
  { rule: 'eval or new Function runs strings as code', files: /^(device|dashboard)\/.*\.(ts|js|mjs)$/, pattern: /\beval\(|new Function\(/ },
  { rule: 'a shell interprets the command line (use spawn/execFile with an argument array)', files: /^device\/.*\.ts$/, pattern: /shell:\s*true|\bexecSync\(|\bexec\(\s*[`'"]/ },
  { rule: 'Math.random is not a secure random source', files: /^device\/(auth|store|server)\/.*\.ts$/, pattern: /Math\.random\(/ },
  { rule: 'jwt.verify without an explicit algorithms list', files: /^device\/.*\.ts$/, pattern: /jwt\.verify\((?![^)]*algorithms)[^)]*\)/ },
  { rule: 'console logging bypasses pino redaction (use the logger)', files: /^device\/(?!cli\/).*\.ts$/, pattern: /\bconsole\.(log|info|warn|error|debug)\(/ },
  { rule: 'innerHTML/outerHTML/document.write with data invites XSS (use textContent or DOM nodes)', files: /^dashboard\/.*\.(js|mjs)$/, pattern: /\.(innerHTML|outerHTML)\s*=|document\.write\(|insertAdjacentHTML\(/ },
  { rule: 'tokens must not be kept in web storage (the session lives in an httpOnly cookie)', files: /^dashboard\/.*\.(js|mjs)$/, pattern: /\b(localStorage|sessionStorage)\b/ },
];

export function lintText(file: string, text: string): LintFinding[] {
  const findings: LintFinding[] = [];
  const rules = RULES.filter((r) => r.files.test(file));
  const layered = /^device\/.*\.(ts|mjs)$/.test(file);
  if (!rules.length && !layered) return findings;
  text.split('\n').forEach((content, i) => {
    if (content.includes('lint-source: allow')) return;
    for (const r of rules) if (r.pattern.test(content)) findings.push({ file, line: i + 1, rule: r.rule });
    const layers = layered ? layerProblem(file, content) : null;
    if (layers) findings.push({ file, line: i + 1, rule: layers });
  });
  return findings;
}

export function lintRepository(dir: string): LintFinding[] {
  const findings: LintFinding[] = [];
  for (const { file, text } of trackedTextFiles(dir, /\.(onnx|png|jpe?g|webp|ico|woff2?)$/)) findings.push(...lintText(file, text));
  return findings;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const findings = lintRepository(resolve(process.argv[2] ?? '.'));
  for (const f of findings) process.stderr.write(`lint: ${f.file}:${f.line}: ${f.rule}\n`);
  if (findings.length) process.exit(1);
  process.stdout.write('lint: no findings\n');
}
