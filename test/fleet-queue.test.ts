// The fleet's durable queue, its event debouncer and its configuration keys, without a broker.
import { expect } from 'chai';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../device/config/config-error.ts';
import { loadConfig } from '../device/config/load-config.ts';
import { kioskIdOrHostName } from '../device/config/mqtt-parsers.ts';
import { DurableQueue } from '../device/fleet/durable-queue.ts';
import { EventDebouncer } from '../device/fleet/event-debouncer.ts';

describe('fleet: durable queue', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'vegkiosk-queue-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps unacknowledged messages, in order, across a reopen, and continues every seq counter', () => {
    const q = DurableQueue.open(dir);
    for (let i = 0; i < 5; i++) q.enqueue('results', 't/results', false, (seq) => JSON.stringify({ seq }));
    q.enqueue('events', 't/events', false, (seq) => JSON.stringify({ seq }));
    const sent = q.take(2);
    q.ack(sent[0]!.id);
    q.ack(sent[1]!.id);
    expect(q.nextSeq('availability')).to.equal(1);
    // No close(): as after a kill -9, only what write() handed to the kernel is there.
    const again = DurableQueue.open(dir);
    const left = again.take(10);
    expect(left.map((m) => [m.kind, m.seq])).to.deep.equal([['results', 3], ['results', 4], ['results', 5], ['events', 1]]);
    expect(again.enqueue('results', 't/results', false, (seq) => JSON.stringify({ seq })).seq).to.equal(6);
    expect(again.nextSeq('availability')).to.equal(2);
    again.close();
    q.close();
  });

  it('cuts off a torn last line and keeps the records before it', () => {
    const q = DurableQueue.open(dir);
    q.enqueue('events', 't/events', false, (seq) => JSON.stringify({ seq }));
    q.close();
    appendFileSync(join(dir, 'queue.log'), '{"i":99,"k":"events","t":"t/ev');
    const again = DurableQueue.open(dir);
    expect(again.take(10).map((m) => m.seq)).to.deep.equal([1]);
    again.enqueue('events', 't/events', false, (seq) => JSON.stringify({ seq }));
    again.close();
    const lines = readFileSync(join(dir, 'queue.log'), 'utf8').trim().split('\n');
    expect(lines.every((l) => JSON.parse(l))).to.equal(true);
  });

  it('when full, drops the oldest results first, then status, and events last, and counts each', () => {
    const q = DurableQueue.open(dir, { maxMessages: 4, maxBytes: 1 << 20 });
    const add = (kind: 'results' | 'status' | 'events') => q.enqueue(kind, `t/${kind}`, kind === 'status', (seq) => JSON.stringify({ seq }));
    add('events');
    add('results');
    add('status');
    add('results');
    add('events'); // drops results 1
    add('events'); // drops results 2
    expect(q.take(10).map((m) => `${m.kind}${m.seq}`)).to.deep.equal(['events1', 'status1', 'events2', 'events3']);
    q.requeueInFlight();
    add('events'); // no results left: drops status 1
    expect(q.stats().dropped).to.deep.equal({ results: 2, status: 1, events: 0 });
    add('events'); // only events left: the oldest event goes
    expect(q.stats().dropped.events).to.equal(1);
    expect(q.depth).to.equal(4);
    q.close();
  });

  it('bounds the bytes held as well as the count', () => {
    const q = DurableQueue.open(dir, { maxMessages: 1000, maxBytes: 2000 });
    for (let i = 0; i < 50; i++) q.enqueue('results', 't/results', false, () => 'x'.repeat(100));
    expect(q.stats().bytes).to.be.at.most(2000);
    expect(q.stats().dropped.results).to.be.greaterThan(30);
    q.close();
  });
});

describe('fleet: item events', () => {
  const frame = (label: string | null, score = 0.9) => ({ label, score, capturedAt: 0 });

  it('makes one recognised and one cleared per item passing, ignoring flicker of a frame or two', () => {
    const d = new EventDebouncer(3);
    const labels = [null, 'leek', null, 'leek', 'leek', 'leek', 'leek', null, 'leek', null, null, null, null, 'leek', null];
    const events = labels.flatMap((l) => d.observe(frame(l)));
    expect(events.map((e) => `${e.type} ${e.label}`)).to.deep.equal(['recognised leek', 'cleared leek']);
  });

  it('a new item replacing the old one gives cleared then recognised', () => {
    const d = new EventDebouncer(2);
    const events = ['leek', 'leek', 'onion', 'onion'].flatMap((l) => d.observe(frame(l)));
    expect(events.map((e) => `${e.type} ${e.label}`)).to.deep.equal(['recognised leek', 'cleared leek', 'recognised onion']);
  });
});

describe('fleet: configuration keys', () => {
  const load = (env: Record<string, string>) => loadConfig({ env, needsModel: false });
  function problems(env: Record<string, string>): string[] {
    try {
      load(env);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  }

  it('is off by default and takes the SPEC defaults', () => {
    const c = load({});
    expect(c).to.include({ mqttUrl: '', mqttTopicPrefix: 'vegkiosk', mqttResults: 'changes', kioskId: '' });
    expect(kioskIdOrHostName('', 'kiosk-7.shop.example')).to.equal('kiosk-7');
  });

  it('refuses bad values naming the key, and never echoes the password', () => {
    expect(problems({ VEGKIOSK_MQTT_URL: 'http://broker:1883' })[0]).to.match(/^VEGKIOSK_MQTT_URL: scheme must be mqtt:\/\/ or mqtts:\/\//);
    const withCredentials = problems({ VEGKIOSK_MQTT_URL: 'mqtt://u:hunter2-secret@broker:1883' });
    expect(withCredentials[0]).to.match(/^VEGKIOSK_MQTT_URL: must not carry a user name or password/);
    expect(withCredentials.join('\n')).to.not.include('hunter2-secret');
    expect(problems({ VEGKIOSK_KIOSK_ID: 'shop 1/till' })[0]).to.match(/^VEGKIOSK_KIOSK_ID: may contain only letters, digits, _ and -/);
    expect(problems({ VEGKIOSK_MQTT_TOPIC_PREFIX: 'chain/#' })[0]).to.match(/^VEGKIOSK_MQTT_TOPIC_PREFIX: must not contain MQTT wildcards/);
    expect(problems({ VEGKIOSK_MQTT_RESULTS: 'some' })[0]).to.match(/^VEGKIOSK_MQTT_RESULTS: must be one of changes, all, off/);
    expect(problems({ VEGKIOSK_MQTT_URL: 'mqtt://127.0.0.1:1883', VEGKIOSK_MQTT_CA: '/nonexistent/ca.pem' }).join('\n'))
      .to.include('VEGKIOSK_MQTT_CA: file not found').and.include('VEGKIOSK_MQTT_CA: a CA is used only with an mqtts://');
  });
});
