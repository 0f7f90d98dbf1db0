import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import WebSocket from 'ws';
import { startKiosk, type Kiosk } from './support/browser.ts';
import { runCli, startCli } from './support/cli.ts';
import { bearer, newSession, request, tempDir, type LoggedIn } from './support/https-fixtures.ts';
import { BLUE, productPhoto, PURPLE, writeProductPhotos } from './support/learning-fixtures.ts';
import { Teardown } from './support/teardown.ts';
import { writeCosineClassifier } from '../scripts/onnx/make-cosine-classifier.ts';

type Session = Awaited<ReturnType<typeof newSession>>;

interface ResultMessage {
  type: 'result';
  label: string | null;
  source?: string;
  top: { label: string; score: number; source?: string }[];
  [key: string]: unknown;
}

/** A bearer-token WebSocket client that keeps the result messages it receives. */
async function resultsClient(url: string, session: LoggedIn) {
  const ws = new WebSocket(`${url.replace(/^https/, 'wss')}/ws`, { headers: bearer(session), rejectUnauthorized: false });
  const results: ResultMessage[] = [];
  ws.on('message', (data, binary) => {
    if (binary) return;
    const m = JSON.parse(data.toString());
    if (m.type === 'result') results.push(m);
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return {
    results,
    /** The first result received from now on that passes `test`. */
    async next(test: (r: ResultMessage) => boolean, ms = 10_000): Promise<ResultMessage> {
      const from = results.length;
      for (const end = Date.now() + ms; Date.now() < end;) {
        const found = results.slice(from).find(test);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no such result within ${ms} ms; last: ${JSON.stringify(results.at(-1))}`);
    },
    close: () => ws.terminate(),
  };
}

describe('learning while `vegkiosk serve` runs (HTTPS API, WebSocket, CLI, restart)', function () {
  this.timeout(120_000);
  const dir = tempDir('vegkiosk-learn-serve-');
  const dataDir = join(dir.path, 'data');
  const teardown = new Teardown();
  let modelPath: string;
  let kiosk: Kiosk;
  let tech: Session;
  let viewer: Session;
  let admin: Session;

  const start = () => teardown.track(startKiosk(async () => {
    await writeProductPhotos(join(dir.path, 'camera'), BLUE, 3, 100);
    return `replay:${join(dir.path, 'camera')}`;
  }, {
    VEGKIOSK_MODEL: modelPath, VEGKIOSK_DATA_DIR: dataDir,
    VEGKIOSK_CAMERA_FPS: '4', VEGKIOSK_CAMERA_WIDTH: '320', VEGKIOSK_CAMERA_HEIGHT: '240',
  }), (k) => k.stop());
  const cliEnv = () => ({ VEGKIOSK_MODEL: modelPath, VEGKIOSK_DATA_DIR: dataDir, VEGKIOSK_EXECUTION_PROVIDERS: 'cpu' });

  before(async () => {
    modelPath = (await writeCosineClassifier(join(dir.path, 'model'))).onnxPath;
    kiosk = await start();
    tech = await newSession(kiosk.url, dataDir, 'technician');
    viewer = await newSession(kiosk.url, dataDir, 'viewer');
    admin = await newSession(kiosk.url, dataDir, 'admin');
  });
  after(async () => {
    await teardown.run();
    dir.remove();
  });

  it('teaches a product from the live camera (five presses): the next WebSocket results and /api/classify carry it, marked learned', async () => {
    const ws = await resultsClient(kiosk.url, viewer);
    try {
      const before = await ws.next(() => true);
      expect(before.label).not.to.equal('Blueberry');
      for (let i = 1; i <= 5; i++) {
        const started = performance.now();
        const res = await request(kiosk.url, '/api/classes/Blueberry/examples', { method: 'POST', headers: bearer(tech), body: { fromCamera: true } });
        expect(res.status, res.body.toString()).to.equal(201);
        expect(res.json()).to.deep.equal({ label: 'Blueberry', examples: i });
        expect(performance.now() - started, 'learn request time').to.be.below(1000);
      }
      const learned = await ws.next((r) => r.label === 'Blueberry');
      expect(learned.source).to.equal('learned');
      expect(learned.top[0]).to.include({ label: 'Blueberry', source: 'learned' });
      expect(learned).not.to.have.property('embedding');
    } finally {
      ws.close();
    }
    const classified = await request(kiosk.url, '/api/classify', { method: 'POST', headers: { ...bearer(tech), 'content-type': 'image/jpeg' }, body: await productPhoto(BLUE, 7) });
    expect(classified.status).to.equal(200);
    expect(classified.json()).to.include({ label: 'Blueberry', source: 'learned' });
    expect(classified.json()).not.to.have.property('embedding');

    const classes = await request(kiosk.url, '/api/classes', { headers: bearer(viewer) });
    expect(classes.status).to.equal(200);
    expect(classes.json().classes).to.deep.include({ label: 'Blueberry', source: 'learned', examples: 5 });
    expect(classes.json().classes).to.deep.include({ label: 'Carrots', source: 'model', examples: 0 });

    const examples = (await request(kiosk.url, '/api/classes/Blueberry/examples', { headers: bearer(viewer) })).json();
    expect(examples.examples).to.have.length(5);
    expect(examples.examples[0].recognised).to.include({ label: 'Blueberry', learned: true });
    const crop = await request(kiosk.url, `/api/classes/Blueberry/examples/${examples.examples[0].id}.jpg`, { headers: bearer(viewer) });
    expect(crop.status).to.equal(200);
    expect((await sharp(crop.body).metadata()).format).to.equal('jpeg');

    const audit = (await request(kiosk.url, '/api/audit?limit=50', { headers: bearer(admin) })).json().entries;
    expect(audit.filter((e: { event: string }) => e.event === 'class_learned')).to.have.length(5);
    expect(audit.find((e: { event: string }) => e.event === 'class_learned')).to.include({ actor: tech.username, label: 'Blueberry', count: 1 });

    // Stored results never carry the embedding.
    const recent = (await request(kiosk.url, '/api/results?limit=5', { headers: bearer(viewer) })).json().results;
    expect(recent.length).to.be.greaterThan(0);
    for (const r of recent) expect(r).not.to.have.property('embedding');
  });

  it('teaches from an uploaded photo (raw and multipart) with the checks of /api/classify, and refuses what it cannot use', async () => {
    const photo = await productPhoto(PURPLE, 3);
    const raw = await request(kiosk.url, '/api/classes/Plum%20Purple/examples', { method: 'POST', headers: { ...bearer(tech), 'content-type': 'image/jpeg' }, body: photo });
    expect(raw.status, raw.body.toString()).to.equal(201);
    expect(raw.json()).to.deep.equal({ label: 'Plum Purple', examples: 1 });
    const boundary = 'vegkioskBoundary';
    const multipart = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
      await productPhoto(PURPLE, 4), Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const form = await request(kiosk.url, '/api/classes/plum%20purple/examples', { method: 'POST', headers: { ...bearer(tech), 'content-type': `multipart/form-data; boundary=${boundary}` }, body: multipart });
    expect(form.status, form.body.toString()).to.equal(201);
    expect(form.json()).to.deep.equal({ label: 'Plum Purple', examples: 2 });

    const post = (label: string, headers: Record<string, string>, body: Buffer | object) =>
      request(kiosk.url, `/api/classes/${encodeURIComponent(label)}/examples`, { method: 'POST', headers, body });
    const jpeg = { ...bearer(tech), 'content-type': 'image/jpeg' };
    const flat = await sharp({ create: { width: 200, height: 150, channels: 3, background: { r: 10, g: 10, b: 10 } } }).jpeg().toBuffer();
    const refusals: [string, Awaited<ReturnType<typeof post>>, number, string][] = [
      ['viewer', await post('Kale', { ...bearer(viewer), 'content-type': 'image/jpeg' }, photo), 403, 'forbidden'],
      ['no session', await post('Kale', { 'content-type': 'image/jpeg' }, photo), 401, 'unauthenticated'],
      ['bad label', await post('Kale/Green', jpeg, photo), 400, 'bad_label'],
      ['long label', await post('x'.repeat(41), jpeg, photo), 400, 'bad_label'],
      ['not an image', await post('Kale', jpeg, Buffer.from('GIF89a not really')), 415, 'unsupported_image'],
      ['flat frame', await post('Kale', jpeg, flat), 422, 'no_usable_crop'],
      ['bad json', await post('Kale', bearer(tech), { fromCamera: 'yes' }), 400, 'invalid_request'],
    ];
    for (const [what, res, status, code] of refusals) {
      expect(res.status, `${what}: ${res.body}`).to.equal(status);
      expect(res.json().error.code, what).to.equal(code);
    }
    expect(refusals[5]![1].json().error.message).to.match(/flat colour/);
    const model = await request(kiosk.url, '/api/classes/Carrots', { method: 'DELETE', headers: bearer(tech) });
    expect(model.status).to.equal(409);
    expect(model.json().error.code).to.equal('model_class');
    expect((await request(kiosk.url, '/api/classes/Kale', { method: 'DELETE', headers: bearer(tech) })).status).to.equal(404);
    expect((await request(kiosk.url, '/api/classes/Plum%20Purple', { method: 'DELETE', headers: bearer(viewer) })).status).to.equal(403);
  });

  it('sees a class taught with `vegkiosk learn` on the console at once, and `learn --list` lists what the API taught', async () => {
    const photos = await writeProductPhotos(join(dir.path, 'green-apple'), [120, 240, 20], 5, 300);
    const taught = runCli(['learn', 'Green Apple', join(dir.path, 'green-apple')], cliEnv());
    expect(taught.status, taught.stderr).to.equal(0);
    expect(taught.stdout).to.match(/learned Green Apple: 5 photo\(s\) added, 5 example\(s\) in all/);
    let label: string | null = null;
    for (const end = Date.now() + 5_000; Date.now() < end && label !== 'Green Apple';) {
      const res = await request(kiosk.url, '/api/classify', { method: 'POST', headers: { ...bearer(tech), 'content-type': 'image/jpeg' }, body: readFileSync(photos[0]!) });
      label = res.json().label;
    }
    expect(label).to.equal('Green Apple');
    // classify --json on the console says the label was taught here, as the WebSocket results do
    const classified = runCli(['classify', '--json', photos[0]!], cliEnv());
    expect(classified.status, classified.stderr).to.equal(0);
    const line = JSON.parse(classified.stdout.trim().split('\n')[0]!);
    expect(line.label).to.equal('Green Apple');
    expect(line.source).to.equal('learned');
    const list = runCli(['learn', '--list', '--json'], cliEnv());
    expect(list.status, list.stderr).to.equal(0);
    expect(JSON.parse(list.stdout).classes).to.deep.include.members([
      { label: 'Blueberry', source: 'learned', examples: 5 }, { label: 'Green Apple', source: 'learned', examples: 5 },
    ]);
    const bad = runCli(['learn', 'Bad/Label', photos[0]!], cliEnv());
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/label "Bad\/Label" is not allowed/);
    const forgot = runCli(['learn', '--forget', 'green apple'], cliEnv());
    expect(forgot.status, forgot.stderr).to.equal(0);
    expect(forgot.stdout).to.match(/forgot Green Apple \(5 examples\)/);
  });

  it('forgets through the API (204, audited), and a restart keeps what is learned', async () => {
    const forget = await request(kiosk.url, '/api/classes/Plum%20Purple', { method: 'DELETE', headers: bearer(tech) });
    expect(forget.status).to.equal(204);
    const audit = (await request(kiosk.url, '/api/audit?limit=50', { headers: bearer(admin) })).json().entries;
    expect(audit.find((e: { event: string }) => e.event === 'class_forgotten')).to.include({ actor: tech.username, label: 'Plum Purple', count: 2 });
    const classes = (await request(kiosk.url, '/api/classes', { headers: bearer(viewer) })).json().classes;
    expect(classes.map((c: { label: string }) => c.label)).not.to.include('Plum Purple');

    await kiosk.stop();
    kiosk = await start();
    const ws = await resultsClient(kiosk.url, viewer);
    try {
      expect((await ws.next(() => true)).label).to.equal('Blueberry');
    } finally {
      ws.close();
    }
    // Forgetting while serving: the next results no longer name it.
    expect((await request(kiosk.url, '/api/classes/Blueberry', { method: 'DELETE', headers: bearer(tech) })).status).to.equal(204);
    const after = await resultsClient(kiosk.url, viewer);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = await after.next(() => true);
      expect(r.top.map((t) => t.label)).not.to.include('Blueberry');
    } finally {
      after.close();
    }
  });
});

describe('`vegkiosk learn` killed with SIGKILL mid-learn leaves the old or the new state', function () {
  this.timeout(180_000);
  const dir = tempDir('vegkiosk-learn-kill-');
  after(() => dir.remove());

  it('after each kill the store opens, and each class has all of a learn or none of it', async () => {
    const model = (await writeCosineClassifier(join(dir.path, 'model'))).onnxPath;
    const dataDir = join(dir.path, 'data');
    const env = { VEGKIOSK_MODEL: model, VEGKIOSK_DATA_DIR: dataDir, VEGKIOSK_EXECUTION_PROVIDERS: 'cpu' };
    await writeProductPhotos(join(dir.path, 'batch'), BLUE, 8, 500);
    const first = runCli(['learn', 'Blueberry', join(dir.path, 'batch')], env);
    expect(first.status, first.stderr).to.equal(0);
    for (const delayMs of [400, 700, 900, 1100, 1300, 1600, 2000]) {
      const child = startCli(['learn', 'Blueberry', join(dir.path, 'batch')], env);
      const exited = new Promise((r) => child.once('exit', r));
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      await exited;
      const list = runCli(['learn', '--list', '--json'], env);
      expect(list.status, list.stderr).to.equal(0);
      const blueberry = JSON.parse(list.stdout).classes.find((c: { label: string }) => c.label === 'Blueberry');
      expect(blueberry.examples % 8, `examples after a kill at ${delayMs} ms`).to.equal(0);
      // Every example the index names has its crop and embedding on disk.
      const index = JSON.parse(readFileSync(join(dataDir, 'learned-classes.json'), 'utf8')).data;
      for (const e of index.classes[0].examples) {
        expect(existsSync(join(dataDir, 'learned', `${e.id}.jpg`))).to.equal(true);
        expect(existsSync(join(dataDir, 'learned', `${e.id}.${index.model}.f32`))).to.equal(true);
      }
      if (blueberry.examples >= 48) break;
    }
    // Files of a learn killed before it committed are not referenced; the service removes them later (collectOrphans).
    const referenced = JSON.parse(readFileSync(join(dataDir, 'learned-classes.json'), 'utf8')).data.classes[0].examples.length * 2;
    expect(readdirSync(join(dataDir, 'learned')).length).to.be.at.least(referenced);
  });
});
