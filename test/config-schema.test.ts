import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { CONFIG_FIELDS } from '../device/config/config.ts';

const schema = JSON.parse(readFileSync(new URL('../config/schema.json', import.meta.url), 'utf8'));
const defaults = JSON.parse(readFileSync(new URL('../config/default.json', import.meta.url), 'utf8'));

describe('config files', () => {
  it('default.json gives a value for every schema key and nothing else', () => {
    expect(Object.keys(defaults).sort()).to.deep.equal(Object.keys(schema.properties).sort());
  });
  it('every schema key maps to a Config field', () => {
    expect(Object.keys(CONFIG_FIELDS).sort()).to.deep.equal(Object.keys(schema.properties).sort());
  });
});
