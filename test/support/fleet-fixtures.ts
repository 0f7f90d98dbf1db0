// Helpers for the fleet tests: recorded-style results, and a subscriber that keeps what it got.
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { PipelineResult } from '../../device/results/pipeline-result.ts';

export function fakeResult(seq: number, label: string | null, score = 0.9): PipelineResult {
  return {
    kind: 'classifier', label, score, top: label ? [{ label, score }] : [], detections: [],
    seq, capturedAt: Date.now(), latencyMs: { preprocess: 1, inference: 2, total: 3 },
  };
}

export interface Received {
  topic: string;
  text: string;
  retain: boolean;
  /** The MQTT 5 user property `seq`, when the message carried one. */
  seq: number | null;
  json: Record<string, unknown> | null;
}

/** A subscriber that records every message; `clean: false` with a session expiry makes it persistent. */
export class Subscriber {
  readonly messages: Received[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const text = payload.toString();
      let json: Record<string, unknown> | null = null;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = null;
      }
      const seq = packet.properties?.userProperties?.seq;
      this.messages.push({ topic, text, retain: packet.retain, seq: seq === undefined ? null : Number(seq), json });
    });
  }

  static async connect(url: string, topics: string[], options: IClientOptions = {}): Promise<Subscriber> {
    const client = connect(url, { protocolVersion: 5, reconnectPeriod: 300, connectTimeout: 5_000, ...options });
    client.on('error', () => {}); // reconnects on its own; tests assert on what arrives
    const sub = new Subscriber(client);
    await new Promise<void>((resolve, reject) => {
      const fail = setTimeout(() => reject(new Error('subscriber could not connect')), 10_000);
      client.once('connect', () => {
        clearTimeout(fail);
        resolve();
      });
    });
    await client.subscribeAsync(topics, { qos: 1 });
    return sub;
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  async waitFor(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Seqs (from the payload) of the messages on `topic`, first arrival of each, in arrival order. */
export function firstArrivals(messages: Received[]): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const m of messages) {
    const seq = Number(m.json?.seq);
    if (!seen.has(seq)) {
      seen.add(seq);
      out.push(seq);
    }
  }
  return out;
}
