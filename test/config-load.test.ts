import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../device/config/config-error.ts';
import { PACKAGE_ROOT, describeConfig, loadConfig } from '../device/config/load-config.ts';
import { renderEnvExample } from '../scripts/write-config-files.ts';
import { runCli } from './support/cli.ts';


describe('configuration', () => {
  let dir: string;
  let model: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-config-'));
    model = join(dir, 'm.onnx');
    writeFileSync(model, 'placeholder: check-config only checks that the model file exists');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const problemsOf = (env: Record<string, string>) => {
    try {
      loadConfig({ env: { VEGKIOSK_MODEL: model, ...env }, cwd: dir });
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    return [];
  };

  it('layers defaults, the VEGKIOSK_CONFIG file and the environment, environment winning', () => {
    const file = join(dir, 'extra.json');
    writeFileSync(file, JSON.stringify({ VEGKIOSK_PORT: 9000, VEGKIOSK_LOG_LEVEL: 'debug' }));
    const config = loadConfig({ env: { VEGKIOSK_CONFIG: file, VEGKIOSK_PORT: '9443', VEGKIOSK_MODEL: model }, cwd: dir });
    expect(config.port).to.equal(9443);
    expect(config.logLevel).to.equal('debug');
    expect(config.host).to.equal('127.0.0.1');
    expect(config.executionProviders).to.deep.equal(['auto']);
    expect(config.model).to.equal(model);
  });

  it('anchors default paths at the package and operator paths at the working directory', () => {
    const config = loadConfig({ env: { VEGKIOSK_MODEL: 'm.onnx' }, cwd: dir });
    expect(config.model).to.equal(model);
    expect(config.dataDir).to.equal(resolve(PACKAGE_ROOT, 'data'));
  });

  it('names the key for wrong types, ranges, enums and unknown keys', () => {
    expect(problemsOf({ VEGKIOSK_PORT: 'eighty' })).to.deep.equal(['VEGKIOSK_PORT: must be an integer (got "eighty") (from the environment)']);
    expect(problemsOf({ VEGKIOSK_PORT: '70000' })[0]).to.match(/^VEGKIOSK_PORT: must be between 1 and 65535/);
    expect(problemsOf({ VEGKIOSK_TLS: 'maybe' })[0]).to.match(/^VEGKIOSK_TLS: must be one of on, off/);
    expect(problemsOf({ VEGKIOSK_CAMERA: 'floppy:/dev/fd0' })[0]).to.match(/^VEGKIOSK_CAMERA: not a valid value/);
    expect(problemsOf({ VEGKIOSK_EXECUTION_PROVIDERS: 'cpu,npu' })[0]).to.match(/^VEGKIOSK_EXECUTION_PROVIDERS:/);
    expect(problemsOf({ VEGKIOSK_PROT: '1' })).to.deep.equal(['VEGKIOSK_PROT: unknown configuration key (from the environment)']);
  });

  it('refuses a weak JWT secret without echoing it, and plain HTTP off loopback', () => {
    const weak = problemsOf({ VEGKIOSK_JWT_SECRET: 'hunter2' });
    expect(weak).to.have.length(1);
    expect(weak[0]).to.match(/^VEGKIOSK_JWT_SECRET: too weak/);
    expect(weak[0]).not.to.include('hunter2');
    expect(problemsOf({ VEGKIOSK_TLS: 'off', VEGKIOSK_HOST: '0.0.0.0' })[0]).to.match(/^VEGKIOSK_TLS: plain HTTP/);
    expect(problemsOf({ VEGKIOSK_TLS: 'off', VEGKIOSK_HOST: '127.0.0.2' })).to.deep.equal([]);
  });

  it('checks the camera value as the camera will, so check-config and serve refuse it with exit 78', () => {
    // both pass the schema's pattern; before, check-config said ok and serve failed with exit 1
    expect(problemsOf({ VEGKIOSK_CAMERA: 'v4l2:foo' })).to.have.length(1);
    expect(problemsOf({ VEGKIOSK_CAMERA: 'v4l2:foo' })[0]).to.match(/^VEGKIOSK_CAMERA: "v4l2:foo" is not valid: v4l2: needs a device node/);
    const r = runCli(['check-config'], { VEGKIOSK_CAMERA: 'webcam:video0', VEGKIOSK_MODEL: model });
    expect(r.status).to.equal(78);
    expect(r.stderr).to.match(/^vegkiosk: config: VEGKIOSK_CAMERA: "webcam:video0" is not valid/);
    expect(problemsOf({ VEGKIOSK_CAMERA: 'v4l2:/dev/video0' })).to.deep.equal([]);
  });

  it('never repeats a camera password in a problem or in the configuration it logs', () => {
    for (const value of ['rtsp://admin:hunter2@', 'http://admin:hunter2@cam/live']) {
      const problems = problemsOf({ VEGKIOSK_CAMERA: value });
      expect(problems, value).to.have.length(1);
      expect(problems[0]).to.match(/^VEGKIOSK_CAMERA: .*admin:\*\*\*@/);
      expect(problems[0]).not.to.include('hunter2');
    }
    const config = loadConfig({ env: { VEGKIOSK_MODEL: model, VEGKIOSK_CAMERA: 'rtsp://admin:hunter2@127.0.0.1:554/live' }, cwd: dir });
    expect(config.camera).to.equal('rtsp://admin:hunter2@127.0.0.1:554/live'); // the camera itself still gets it
    const described = describeConfig(config);
    expect(described.camera).to.equal('rtsp://admin:***@127.0.0.1:554/live');
    expect(JSON.stringify(described)).not.to.include('hunter2');
  });

  it('check-config exits 78 with one line per problem naming each key', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ VEGKIOSK_PORTT: 1, VEGKIOSK_CAMERA_FPS: 0 }));
    const r = runCli(['check-config'], { VEGKIOSK_CONFIG: file, VEGKIOSK_MODEL: model });
    expect(r.status).to.equal(78);
    const lines = r.stderr.trim().split('\n');
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/VEGKIOSK_PORTT: unknown configuration key/);
    expect(lines[1]).to.match(/VEGKIOSK_CAMERA_FPS: must be between 1 and 120/);
    expect(r.stderr).not.to.match(/\bat \S+ \(/); // no stack trace
  });

  it('check-config exits 78 for a config file that is not JSON and 0 for a good one', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"VEGKIOSK_PORT": ');
    const bad = runCli(['check-config'], { VEGKIOSK_CONFIG: file, VEGKIOSK_MODEL: model });
    expect(bad.status).to.equal(78);
    expect(bad.stderr).to.match(/VEGKIOSK_CONFIG: .*broken\.json is not valid JSON/);
    const good = runCli(['check-config'], { VEGKIOSK_MODEL: model });
    expect(good.stderr).to.equal('');
    expect(good.status).to.equal(0);
  });

  it('usage errors exit 2 with one line on stderr', () => {
    const r = runCli(['no-such-command'], {});
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/^vegkiosk: unknown command "no-such-command" \(vegkiosk --help lists the commands and flags\)\n$/);
    // names of Object's own members are not commands or options either
    expect(runCli(['constructor'], {})).to.include({ status: 2, stderr: 'vegkiosk: unknown command "constructor" (vegkiosk --help lists the commands and flags)\n' });
    expect(runCli(['check-config', '--constructor'], {}).stderr).to.match(/^vegkiosk: unknown option --constructor /);
    const help = runCli(['--help'], {});
    expect(help.status).to.equal(0);
    expect(help.stdout).to.match(/check-config/);
  });

  it('.env.example lists every variable with its default', () => {
    expect(readFileSync(resolve(PACKAGE_ROOT, '.env.example'), 'utf8')).to.equal(renderEnvExample());
  });
});
