// The fleet publisher against a real Mosquitto on loopback (password file, persistence): what
// arrives, an outage of 15 s, and a full queue. The publisher runs in this process, fed results.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFleetPublisher, type FleetPublisher, type FleetSettings, type FleetTuning } from '../device/fleet/fleet-publisher.ts';
import { createLogger } from '../device/logger.ts';
import { fakeResult, firstArrivals, Subscriber } from './support/fleet-fixtures.ts';
import { capturingLogger } from './support/log-capture.ts';
import { Mosquitto } from './support/mosquitto.ts';
import { requirePrograms } from './support/requires.ts';
import { Teardown } from './support/teardown.ts';

const USER = 'kiosk';
const PASSWORD = 'fleet-test-password';
const FAST: Partial<FleetTuning> = { statusIntervalMs: 1_000, backoff: { initialMs: 200, maxMs: 1_000 }, connectTimeoutMs: 3_000, keepaliveS: 5 };

function settings(broker: Mosquitto, dataDir: string, overrides: Partial<FleetSettings> = {}): FleetSettings {
  return {
    url: broker.url, username: USER, password: PASSWORD, ca: '', kioskId: 'k1', topicPrefix: 'vegkiosk',
    results: 'all', dataDir, softwareVersion: '0.0.0-test', ...overrides,
  };
}

const statusJson = () => ({ status: 'ok', fps: 12.5, camera: { state: 'running' } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fleet: MQTT publisher against a real broker', function () {
  this.timeout(90_000);
  const teardown = new Teardown();
  let broker: Mosquitto;
  let dataDir: string;

  before(async function () {
    requirePrograms(this, 'mosquitto');
    broker = await teardown.track(Mosquitto.create({ users: { [USER]: PASSWORD, watcher: 'watcher-password' } }), (b) => b.destroy());
    await broker.start();
  });
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'vegkiosk-fleet-'));
    teardown.add(() => rmSync(dataDir, { recursive: true, force: true }));
  });
  after(() => teardown.run());

  async function watcher(clientId: string, topics = ['vegkiosk/k1/#', 'homeassistant/#'], persistent = false): Promise<Subscriber> {
    const sub = await teardown.track(Subscriber.connect(broker.url, topics, {
      username: 'watcher', password: 'watcher-password', clientId,
      ...(persistent ? { clean: false, properties: { sessionExpiryInterval: 600 } } : {}),
    }), (s) => s.close());
    return sub;
  }

  function publisher(s: FleetSettings, tuning: Partial<FleetTuning> = {}, logger = createLogger('silent')): FleetPublisher {
    const p = startFleetPublisher(s, { statusJson, logger }, { ...FAST, ...tuning });
    teardown.add(() => p.stop());
    return p;
  }

  it('publishes availability, status, one recognised and one cleared per item, every result, and Home Assistant discovery', async () => {
    const sub = await watcher('watch-basic');
    const p = publisher(settings(broker, dataDir));
    // An apple passes: a flicker frame in the middle makes no extra event.
    const labels = [null, null, 'apple', 'apple', 'apple', 'apple', null, 'apple', 'apple', null, null, null, null];
    labels.forEach((label, i) => p.onResult(fakeResult(i + 1, label)));
    const t = 'vegkiosk/k1/';
    await sub.waitFor('13 results and two events', () => sub.on(`${t}results`).length >= 13 && sub.on(`${t}events`).length >= 2);
    await sub.waitFor('online and a status', () => sub.on(`${t}availability`).some((m) => m.text === 'online') && sub.on(`${t}status`).length > 0);

    const events = sub.on(`${t}events`).map((m) => m.json!);
    expect(events.map((e) => [e.type, e.label])).to.deep.equal([['recognised', 'apple'], ['cleared', 'apple']]);
    expect(events.map((e) => e.seq)).to.deep.equal([1, 2]);
    expect(events[0]).to.include.keys('score', 'at');
    const results = sub.on(`${t}results`);
    expect(firstArrivals(results)).to.deep.equal(labels.map((_, i) => i + 1));
    expect(results[0]!.json).to.include({ type: 'result', kind: 'classifier', frameSeq: 1 });
    expect(results.every((m) => m.seq === Number(m.json!.seq)), 'seq as MQTT 5 user property too').to.equal(true);
    const status = sub.on(`${t}status`)[0]!;
    expect(status.json).to.include({ status: 'ok', kioskId: 'k1' });
    expect(status.json!.seq).to.be.a('number');

    // Discovery: retained configs under homeassistant/, republished when Home Assistant comes online.
    await sub.waitFor('five discovery configs', () => sub.messages.filter((m) => m.topic.startsWith('homeassistant/')).length >= 5);
    const configs = sub.messages.filter((m) => m.topic.startsWith('homeassistant/'));
    expect(configs.map((m) => m.topic)).to.include('homeassistant/sensor/vegkiosk_k1/recognised/config');
    expect(configs.map((m) => m.json!.state_topic)).to.include.members([`${t}events`, `${t}status`, `${t}availability`]);
    const before = configs.length;
    await sub.client.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await sub.waitFor('discovery republished', () => sub.messages.filter((m) => m.topic.startsWith('homeassistant/')).length >= before + 5);

    // Retained: a late subscriber sees online and the last status at once.
    const late = await watcher('watch-late', [`${t}availability`, `${t}status`]);
    await late.waitFor('retained availability and status', () => late.messages.length >= 2);
    expect(late.on(`${t}availability`)[0]).to.include({ text: 'online', retain: true });
    expect(p.health()).to.include({ state: 'connected', broker: broker.url, kioskId: 'k1' });

    await p.stop();
    await sub.waitFor('offline on a clean stop', () => sub.on(`${t}availability`).at(-1)?.text === 'offline');
  });

  it('keeps every result while the broker is down for 15 s and delivers them all, in order, to a persistent subscriber', async () => {
    const sub = await watcher('watch-outage', ['vegkiosk/k2/results'], true);
    const p = publisher(settings(broker, dataDir, { kioskId: 'k2' }));
    let seq = 0;
    let slowest = 0;
    const feed = setInterval(() => {
      const started = performance.now();
      p.onResult(fakeResult(++seq, 'carrot'));
      slowest = Math.max(slowest, performance.now() - started);
    }, 50);
    teardown.add(() => clearInterval(feed));
    await sub.waitFor('results flowing', () => sub.messages.length >= 10);

    await broker.stop();
    const producedBefore = seq;
    await sleep(15_000);
    expect(p.health().state).to.not.equal('connected');
    expect(p.health().queue.depth).to.be.greaterThan(100);
    await broker.start();
    await sleep(2_000);
    clearInterval(feed);
    const last = seq;
    await sub.waitFor(`every result up to ${last}`, () => new Set(sub.messages.map((m) => Number(m.json!.seq))).size >= last, 30_000);

    const order = firstArrivals(sub.messages);
    expect(order, 'every seq, each first seen in order').to.deep.equal(Array.from({ length: last }, (_, i) => i + 1));
    expect(last - producedBefore).to.be.greaterThan(250);
    expect(slowest, 'onResult never waits on the broker (ms)').to.be.lessThan(50);
    expect(p.health().queue.dropped).to.deep.equal({ results: 0, status: 0, events: 0 });
    await p.stop();
  });

  it('drops the oldest results first when the queue is full, counts and logs it, and keeps every event', async () => {
    const sub = await watcher('watch-full', ['vegkiosk/k3/events', 'vegkiosk/k3/results'], true);
    await broker.stop();
    const { logger, lines } = capturingLogger('info');
    const p = publisher(settings(broker, dataDir, { kioskId: 'k3' }), { queueLimits: { maxMessages: 40, maxBytes: 1024 * 1024 } }, logger);
    // 60 frames: an item every 10 frames, so 12 events (6 items passing) among 60 results.
    for (let i = 1; i <= 60; i++) p.onResult(fakeResult(i, Math.floor((i - 1) / 5) % 2 === 0 ? `item${Math.floor((i - 1) / 10)}` : null));
    const health = p.health();
    expect(health.queue.depth).to.be.at.most(40);
    expect(health.queue.dropped.events).to.equal(0);
    expect(health.queue.dropped.results).to.be.greaterThan(20);
    expect(lines.some((l) => l.includes('fleet queue full'))).to.equal(true);

    await broker.start();
    await sub.waitFor('the queue delivered', () => p.health().queue.depth === 0, 20_000);
    await sub.waitFor('all events', () => sub.on('vegkiosk/k3/events').length >= 12);
    const results = firstArrivals(sub.on('vegkiosk/k3/results'));
    expect(results.at(-1)).to.equal(60);
    expect(results[0]).to.be.greaterThan(1); // the oldest went
    expect(results).to.deep.equal([...results].sort((a, b) => a - b));
  });
});
