import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { DASHBOARD_ROOT } from '../device/server/routes-static.ts';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const all = files(DASHBOARD_ROOT);
const text = (ext: string[]) => all.filter((f) => ext.includes(extname(f))).map((f) => ({ f: relative(DASHBOARD_ROOT, f), src: readFileSync(f, 'utf8') }));

describe('dashboard files (static checks)', () => {
  it('are only types the server serves (plus type declarations for the tests)', () => {
    const served = new Set(['.html', '.js', '.css', '.svg', '.png', '.ico', '.json', '.webmanifest', '.woff2']);
    for (const f of all) expect(served.has(extname(f)) || f.endsWith('.d.ts'), f).to.equal(true);
  });

  it('carry no inline script, inline style or event-handler attributes (the CSP would block them)', () => {
    for (const { f, src } of text(['.html'])) {
      expect(src, f).not.to.match(/<script(?![^>]*\bsrc=)[^>]*>/i);
      expect(src, f).not.to.match(/<style\b/i);
      expect(src, f).not.to.match(/\sstyle\s*=/i);
      expect(src, f).not.to.match(/\son[a-z]+\s*=/i);
    }
    for (const { f, src } of text(['.js'])) {
      const code = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      // Styling goes through classes only, and markup never comes from strings.
      expect(code, f).not.to.match(/\.style\.|setAttribute\(\s*['"]style|innerHTML|outerHTML|insertAdjacentHTML|eval\(|new Function/);
    }
  });

  it('load nothing from elsewhere (works offline: no CDN, no web fonts) and keep no tokens in web storage', () => {
    for (const { f, src } of text(['.html', '.js', '.css'])) {
      expect(src, f).not.to.match(/https?:\/\/|@import|url\(\s*['"]?(?!data:)[a-z]+:/i);
      expect(src, f).not.to.match(/localStorage|sessionStorage|indexedDB|document\.cookie/);
    }
  });

  it('stay small modules (under 300 lines each)', () => {
    for (const { f, src } of text(['.js', '.css', '.html'])) expect(src.split('\n').length, f).to.be.below(300);
  });
});
