import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { CONFIG_FIELDS, CONFIG_KEYS } from '../device/config/config.ts';
import { text } from '../device/config/config-key.ts';
import { PACKAGE_ROOT, describeConfig, loadConfig, secretLogPaths } from '../device/config/load-config.ts';
import { createLogger } from '../device/logger.ts';
import { CONFIG_FILES, driftedConfigFiles } from '../scripts/write-config-files.ts';

const schema = JSON.parse(readFileSync(new URL('../config/schema.json', import.meta.url), 'utf8'));
const defaults = JSON.parse(readFileSync(new URL('../config/default.json', import.meta.url), 'utf8'));

describe('config files', () => {
  it('default.json gives a value for every schema key and nothing else', () => {
    expect(Object.keys(defaults).sort()).to.deep.equal(Object.keys(schema.properties).sort());
  });
  it('every schema key maps to a Config field', () => {
    expect(Object.keys(CONFIG_FIELDS).sort()).to.deep.equal(Object.keys(schema.properties).sort());
  });

  it('default.json, schema.json and .env.example are what the key declarations render (regenerate: npx tsx scripts/write-config-files.ts)', () => {
    expect(driftedConfigFiles()).to.deep.equal([]);
  });

  it('a hand edit of a generated file is caught as drift', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vegkiosk-config-files-'));
    try {
      mkdirSync(join(dir, 'config'));
      for (const [file, render] of Object.entries(CONFIG_FILES)) writeFileSync(join(dir, file), render());
      expect(driftedConfigFiles(dir)).to.deep.equal([]);
      writeFileSync(join(dir, 'config/default.json'), CONFIG_FILES['config/default.json']!().replace('"VEGKIOSK_PORT": 8443', '"VEGKIOSK_PORT": 9443'));
      writeFileSync(join(dir, '.env.example'), `${CONFIG_FILES['.env.example']!()}VEGKIOSK_EXTRA=1\n`);
      expect(driftedConfigFiles(dir)).to.deep.equal(['config/default.json', '.env.example']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('declares each key once, under a VEGKIOSK_ name, with a default its own parser accepts', () => {
    const names = Object.values(CONFIG_KEYS).map((key) => key.env);
    expect(new Set(names).size).to.equal(names.length);
    for (const key of Object.values(CONFIG_KEYS)) {
      expect(key.env).to.match(/^VEGKIOSK_[A-Z0-9_]+$/);
      expect(key.description, key.env).to.match(/\S/);
      expect(typeof key.default, key.env).to.equal(key.json === 'integer' ? 'number' : 'string');
      expect(() => key.parse(key.default, { baseDir: PACKAGE_ROOT }), key.env).not.to.throw();
    }
  });

  it('the schema no longer repeats the camera and provider grammars: their own parsers decide', () => {
    expect(schema.properties.VEGKIOSK_CAMERA).not.to.have.property('pattern');
    expect(schema.properties.VEGKIOSK_EXECUTION_PROVIDERS).not.to.have.property('pattern');
    const dir = mkdtempSync(join(tmpdir(), 'vegkiosk-config-'));
    try {
      const model = join(dir, 'm.onnx');
      writeFileSync(model, 'placeholder');
      const load = (env: Record<string, string>) => loadConfig({ env: { VEGKIOSK_MODEL: model, ...env }, cwd: dir });
      expect(load({ VEGKIOSK_EXECUTION_PROVIDERS: 'webgpu,cpu' }).executionProviders).to.deep.equal(['webgpu', 'cpu']);
      expect(load({ VEGKIOSK_CAMERA: 'v4l2:/dev/v4l/by-id/usb-cam' }).camera).to.equal('v4l2:/dev/v4l/by-id/usb-cam');
      const problem = (env: Record<string, string>) => {
        try {
          load(env);
        } catch (err) {
          return (err as Error).message;
        }
        return '';
      };
      expect(problem({ VEGKIOSK_EXECUTION_PROVIDERS: 'auto,cpu' })).to.equal('VEGKIOSK_EXECUTION_PROVIDERS: "auto" cannot be combined with other providers (got "auto,cpu") (from the environment)');
      expect(problem({ VEGKIOSK_EXECUTION_PROVIDERS: 'cpu,npu' })).to.match(/^VEGKIOSK_EXECUTION_PROVIDERS: unknown execution provider "npu" \(known: tensorrt, cuda, webgpu, cpu, or auto alone\)/);
      expect(problem({ VEGKIOSK_CAMERA: 'floppy:/dev/fd0' })).to.equal(
        'VEGKIOSK_CAMERA: not a valid value (got "floppy:/dev/fd0") (from the environment); expected auto | synthetic | demo | csi | replay:<file-or-dir> | webcam:/dev/videoN | v4l2:/dev/videoN | rtsp://host/path');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a key declared secret is never shown and is redacted from the service log by field and by name', () => {
    expect(secretLogPaths()).to.include.members(['jwtSecret', '*.jwtSecret', 'VEGKIOSK_JWT_SECRET', 'tlsKey']);
    // a future secret (the MQTT password) gets its redaction from its declaration alone
    const declared = { mqttPassword: text({ env: 'VEGKIOSK_MQTT_PASSWORD', default: '', secret: true, description: 'broker password' }) };
    expect(secretLogPaths(declared)).to.deep.equal(['mqttPassword', '*.mqttPassword', 'VEGKIOSK_MQTT_PASSWORD', '*.VEGKIOSK_MQTT_PASSWORD']);
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } });
    const logger = createLogger('info', sink, [...secretLogPaths(), ...secretLogPaths(declared)]);
    const config = loadConfig({ env: { VEGKIOSK_JWT_SECRET: 's'.repeat(40) }, needsModel: false });
    expect(describeConfig(config).jwtSecret).to.equal('[set]');
    logger.info({ config, env: { VEGKIOSK_JWT_SECRET: 's'.repeat(40), VEGKIOSK_MQTT_PASSWORD: 'hunter2' }, fleet: { mqttPassword: 'hunter2' } }, 'config');
    expect(lines).to.have.length(1);
    expect(lines[0]).not.to.include('s'.repeat(40));
    expect(lines[0]).not.to.include('hunter2');
  });
});
