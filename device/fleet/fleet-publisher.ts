// The fleet publisher: the kiosk's availability, status, item events and (optionally) every result
// on the fleet broker, QoS 1, through the durable queue. Results are handed over synchronously and
// cheaply (a debounce step and one append to the log); sending happens when the broker can take it,
// so a broker that is away, slow or refusing never holds up the pipeline.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { isLoopbackHost } from '../config/loopback.ts';
import type { Logger } from '../logger.ts';
import { resultMessage } from '../results/result-message.ts';
import type { PipelineResult } from '../results/pipeline-result.ts';
import type { BackoffPolicy } from '../supervision/backoff.ts';
import { errorMessage } from '../supervision/error-message.ts';
import { BrokerConnection, redactedBroker } from './broker-connection.ts';
import { DEFAULT_QUEUE_LIMITS, DurableQueue, type QueueLimits } from './durable-queue.ts';
import { DEFAULT_SETTLE_FRAMES, EventDebouncer } from './event-debouncer.ts';
import type { FleetHealth } from './fleet-health.ts';
import { fleetTopics, HA_STATUS_TOPIC, type FleetTopics } from './fleet-topics.ts';
import { discoveryMessages } from './home-assistant.ts';

/** What the publisher is configured with (from the VEGKIOSK_MQTT_* keys). */
export interface FleetSettings {
  url: string;
  username: string;
  password: string;
  /** CA file for mqtts://, or empty. */
  ca: string;
  kioskId: string;
  topicPrefix: string;
  results: 'changes' | 'all' | 'off';
  /** The queue lives in `<dataDir>/fleet-queue/`. */
  dataDir: string;
  softwareVersion: string;
}

/** Pace and bounds; the defaults are the service's, tests and the simulator shorten them. */
export interface FleetTuning {
  statusIntervalMs: number;
  backoff: BackoffPolicy;
  connectTimeoutMs: number;
  keepaliveS: number;
  queueLimits: QueueLimits;
  settleFrames: number;
  /** Most QoS 1 messages in flight (also capped by the broker's Receive Maximum). */
  window: number;
  homeAssistant: boolean;
}

export const DEFAULT_FLEET_TUNING: FleetTuning = {
  statusIntervalMs: 30_000,
  backoff: { initialMs: 1_000, maxMs: 60_000 },
  connectTimeoutMs: 10_000,
  keepaliveS: 30,
  queueLimits: DEFAULT_QUEUE_LIMITS,
  settleFrames: DEFAULT_SETTLE_FRAMES,
  window: 32,
  homeAssistant: true,
};

export interface FleetInputs {
  /** The /api/status JSON, published (with seq) as the retained status. */
  statusJson(): Record<string, unknown>;
  logger: Logger;
}

/** The seam the service (and the simulator) use. */
export interface FleetPublisher {
  /** Hand over one pipeline result; never throws, never waits. */
  onResult(result: PipelineResult): void;
  health(): FleetHealth;
  /** Publishes `offline` (retained) when connected, closes cleanly and syncs the queue. */
  stop(): Promise<void>;
}

export function startFleetPublisher(settings: FleetSettings, inputs: FleetInputs, tuning: Partial<FleetTuning> = {}): FleetPublisher {
  const publisher = new MqttFleetPublisher(settings, inputs, { ...DEFAULT_FLEET_TUNING, ...tuning });
  publisher.start();
  return publisher;
}

class MqttFleetPublisher implements FleetPublisher {
  private readonly topics: FleetTopics;
  private readonly queue: DurableQueue;
  private readonly connection: BrokerConnection;
  private readonly debouncer: EventDebouncer;
  private readonly logger: Logger;
  private statusTimer: NodeJS.Timeout | null = null;
  private window = 1;
  private delivered = 0;
  private stopping = false;
  private lastInternalError: string | null = null;

  constructor(private readonly settings: FleetSettings, private readonly inputs: FleetInputs, private readonly tuning: FleetTuning) {
    this.logger = inputs.logger.child({ stage: 'fleet' });
    this.topics = fleetTopics(settings.topicPrefix, settings.kioskId);
    this.debouncer = new EventDebouncer(tuning.settleFrames);
    this.queue = DurableQueue.open(join(settings.dataDir, 'fleet-queue'), tuning.queueLimits, this.logger);
    this.connection = new BrokerConnection({
      url: settings.url,
      username: settings.username,
      password: settings.password,
      ca: settings.ca ? readFileSync(settings.ca) : undefined,
      clientId: `vegkiosk-${settings.kioskId}`,
      will: () => ({ topic: this.topics.availability, payload: Buffer.from('offline'), qos: 1, retain: true, properties: { userProperties: { seq: String(this.queue.nextSeq('availability')) } } }),
      backoff: tuning.backoff,
      connectTimeoutMs: tuning.connectTimeoutMs,
      keepaliveS: tuning.keepaliveS,
      logger: this.logger,
    });
    this.connection.on('connected', (client, receiveMaximum) => this.onConnected(client, receiveMaximum));
    this.connection.on('disconnected', () => this.queue.requeueInFlight());
  }

  start(): void {
    const url = new URL(this.settings.url);
    if (url.protocol === 'mqtt:' && !isLoopbackHost(url.hostname)) {
      this.logger.warn({ broker: redactedBroker(this.settings.url) },
        'fleet: VEGKIOSK_MQTT_URL is plain mqtt:// to a host off this machine: the broker password and every message cross the network unencrypted; use mqtts://');
    }
    this.logger.info({ broker: redactedBroker(this.settings.url), kioskId: this.settings.kioskId, topics: `${this.settings.topicPrefix}/${this.settings.kioskId}/#`, results: this.settings.results }, 'fleet publisher starting');
    this.enqueueStatus();
    this.statusTimer = setInterval(() => this.enqueueStatus(), this.tuning.statusIntervalMs);
    this.statusTimer.unref();
    this.connection.start();
  }

  onResult(result: PipelineResult): void {
    if (this.stopping) return;
    try {
      if (this.settings.results !== 'off') {
        for (const event of this.debouncer.observe(result)) {
          this.queue.enqueue('events', this.topics.events, false, (seq) => JSON.stringify({
            type: event.type, label: event.label, score: event.score, seq, at: new Date(event.at).toISOString(),
          }));
        }
      }
      if (this.settings.results === 'all') {
        // The WebSocket's message with the fleet's seq (gap-free per kiosk, across restarts); the
        // pipeline's own number, which restarts with the process, stays as frameSeq.
        this.queue.enqueue('results', this.topics.results, false, (seq) => JSON.stringify({ ...resultMessage(result), seq, frameSeq: result.seq }));
      }
      this.pump();
    } catch (err) {
      this.internalError(err);
    }
  }

  health(): FleetHealth {
    const problem = this.connection.lastError;
    return {
      broker: redactedBroker(this.settings.url),
      kioskId: this.settings.kioskId,
      topicPrefix: this.settings.topicPrefix,
      results: this.settings.results,
      state: this.connection.state,
      since: new Date(this.connection.since).toISOString(),
      queue: this.queue.stats(),
      delivered: this.delivered,
      connects: this.connection.connects,
      lastError: this.lastInternalError ?? problem?.message ?? null,
      lastErrorAt: problem ? new Date(problem.at).toISOString() : null,
    };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    const client = this.connection.current;
    if (client) {
      // A clean stop says so itself; the will is only for a kiosk that died.
      await new Promise<void>((resolve) => {
        const cut = setTimeout(resolve, 1_500);
        client.publish(this.topics.availability, 'offline', this.publishOptions(true, this.queue.nextSeq('availability')), () => {
          clearTimeout(cut);
          resolve();
        });
      });
    }
    await this.connection.stop();
    this.queue.close();
    this.logger.info({ depth: this.queue.depth }, 'fleet publisher stopped');
  }

  private onConnected(client: MqttClient, receiveMaximum: number): void {
    this.window = Math.max(1, Math.min(this.tuning.window, receiveMaximum));
    this.queue.requeueInFlight();
    client.publish(this.topics.availability, 'online', this.publishOptions(true, this.queue.nextSeq('availability')));
    if (this.tuning.homeAssistant) {
      this.publishDiscovery(client);
      client.subscribe(HA_STATUS_TOPIC, { qos: 1 });
      client.on('message', (topic, payload) => {
        if (topic === HA_STATUS_TOPIC && payload.toString() === 'online') this.publishDiscovery(client);
      });
    }
    this.enqueueStatus();
    this.pump();
  }

  /** Retained, straight to the broker: they describe the kiosk, they are not part of its stream. */
  private publishDiscovery(client: MqttClient): void {
    for (const m of discoveryMessages(this.settings.kioskId, this.topics, this.settings.softwareVersion)) {
      client.publish(m.topic, m.payload, { qos: 1, retain: true });
    }
  }

  private enqueueStatus(): void {
    if (this.stopping) return;
    try {
      const status = this.inputs.statusJson();
      this.queue.enqueue('status', this.topics.status, true, (seq) => JSON.stringify({ ...status, kioskId: this.settings.kioskId, seq, at: new Date().toISOString() }));
      this.pump();
    } catch (err) {
      this.internalError(err);
    }
  }

  /** Sends queued messages, oldest first, while the broker has room in its window. */
  private pump(): void {
    const client = this.connection.current;
    if (!client || this.stopping) return;
    const free = this.window - this.queue.stats().inFlight;
    for (const m of this.queue.take(free)) {
      client.publish(m.topic, m.payload, this.publishOptions(m.retain, m.seq), (err) => {
        if (this.connection.current !== client) return; // that session is gone; the message is sent again on the next
        if (err) {
          // A PUBACK with an error reason (an ACL refusing the topic): retrying on this session would
          // fail the same way, so reconnect after the back-off and send it again then, in order.
          this.connection.fail(err);
          return;
        }
        this.queue.ack(m.id);
        this.delivered += 1;
        this.pump();
      });
    }
  }

  private publishOptions(retain: boolean, seq: number) {
    return { qos: 1 as const, retain, properties: { userProperties: { seq: String(seq) } } };
  }

  private internalError(err: unknown): void {
    const message = `fleet publisher: ${errorMessage(err)}`;
    if (message !== this.lastInternalError) this.logger.error({ err: errorMessage(err) }, message);
    this.lastInternalError = message;
  }
}
