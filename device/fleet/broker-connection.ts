// One MQTT connection to the fleet broker, kept up for as long as the kiosk runs: MQTT.js speaks the
// protocol; reconnecting is ours (MQTT.js's own is off), so each attempt is a fresh client with no
// stale in-flight store, the pace is the shared back-off, and every failure is worded once per change.
import { EventEmitter } from 'node:events';
import { connect, type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import type { Logger } from '../logger.ts';
import { backoffDelay, backoffWait, type BackoffPolicy, type BackoffWait } from '../supervision/backoff.ts';
import { describeBrokerError, type BrokerProblem } from './broker-errors.ts';

export type BrokerState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

export interface BrokerConnectionOptions {
  url: string;
  username: string;
  password: string;
  /** PEM CA the broker's certificate must chain to (mqtts), or undefined for the system CAs. */
  ca: Buffer | undefined;
  clientId: string;
  /** The last will for this attempt (asked anew per attempt: it carries a seq). */
  will(): NonNullable<IClientOptions['will']>;
  backoff: BackoffPolicy;
  /** An attempt with no CONNACK by then is abandoned (a broker that accepts TCP and hangs). */
  connectTimeoutMs: number;
  keepaliveS: number;
  logger: Logger;
}

interface BrokerConnectionEvents {
  /** A new session is up; `receiveMaximum` is how many QoS 1 messages the broker takes in flight. */
  connected: [client: MqttClient, receiveMaximum: number];
  /** The session ended (what was in flight must be sent again on the next). */
  disconnected: [];
}

/** MQTT's default when the broker names no Receive Maximum. */
const DEFAULT_RECEIVE_MAXIMUM = 65_535;

export class BrokerConnection extends EventEmitter<BrokerConnectionEvents> {
  private client: MqttClient | null = null;
  private wait: BackoffWait | null = null;
  private failures = 0;
  private stopped = false;
  private loggedProblem: string | null = null;
  state: BrokerState = 'disconnected';
  since = Date.now();
  lastError: BrokerProblem | null = null;
  connects = 0;

  constructor(private readonly options: BrokerConnectionOptions) {
    super();
  }

  start(): void {
    this.attempt();
  }

  /** The connected client, or null. */
  get current(): MqttClient | null {
    return this.state === 'connected' ? this.client : null;
  }

  /** Ends the session for `reason` (logged once) and reconnects after the back-off. */
  fail(reason: unknown): void {
    const client = this.client;
    if (!client) return;
    this.onProblem(reason);
    this.drop(client);
  }

  /** Closes cleanly (DISCONNECT: the broker does not publish the will), waiting at most `limitMs`. */
  async stop(limitMs = 2_000): Promise<void> {
    this.stopped = true;
    this.wait?.cut();
    const client = this.client;
    this.client = null;
    this.setState('stopped');
    if (!client) return;
    await new Promise<void>((resolve) => {
      const cut = setTimeout(() => {
        client.end(true);
        resolve();
      }, limitMs);
      client.end(false, {}, () => {
        clearTimeout(cut);
        resolve();
      });
    });
  }

  private attempt(): void {
    if (this.stopped) return;
    this.setState('connecting');
    const { options } = this;
    const client = connect(options.url, {
      protocolVersion: 5,
      clientId: options.clientId,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: options.connectTimeoutMs,
      keepalive: options.keepaliveS,
      ...(options.username ? { username: options.username } : {}),
      ...(options.password ? { password: options.password } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      rejectUnauthorized: true,
      will: options.will(),
      // Nothing is queued inside MQTT.js: publishing happens only while connected, from our queue.
      queueQoSZero: false,
      resubscribe: false,
    });
    this.client = client;
    const timeout = setTimeout(() => {
      if (this.client === client && this.state === 'connecting') this.fail(new Error(`no answer from the broker within ${options.connectTimeoutMs / 1000} s`));
    }, options.connectTimeoutMs);
    timeout.unref();
    client.on('connect', (connack: IConnackPacket) => {
      clearTimeout(timeout);
      if (this.client !== client) return;
      this.failures = 0;
      this.connects += 1;
      if (this.loggedProblem !== null || this.connects === 1) options.logger.info({ broker: redactedBroker(options.url) }, 'fleet broker connected');
      this.loggedProblem = null;
      this.setState('connected');
      this.emit('connected', client, connack.properties?.receiveMaximum ?? DEFAULT_RECEIVE_MAXIMUM);
    });
    client.on('error', (err) => {
      if (this.client === client) this.onProblem(err);
    });
    client.on('close', () => {
      clearTimeout(timeout);
      if (this.client !== client) return;
      if (this.state === 'connected') this.onProblem(new Error('the broker closed the connection'));
      this.drop(client);
    });
  }

  /** Forgets `client`, and reconnects after the back-off unless stopping. */
  private drop(client: MqttClient): void {
    if (this.client !== client) return;
    this.client = null;
    client.removeAllListeners('close');
    client.on('error', () => {}); // a late socket error of an abandoned client must not go unhandled
    client.end(true);
    const wasConnected = this.state === 'connected';
    this.setState('disconnected');
    if (wasConnected) this.emit('disconnected');
    if (this.stopped) return;
    const delay = backoffDelay(this.options.backoff, this.failures, this.lastError?.permanent ?? false);
    this.failures += 1;
    this.wait = backoffWait(delay);
    void this.wait.done.then(() => {
      this.wait = null;
      this.attempt();
    });
  }

  private onProblem(err: unknown): void {
    const problem = describeBrokerError(err, this.options.url);
    // The password never reaches this text: MQTT.js errors carry codes and hosts, not credentials.
    this.lastError = problem;
    // Once per change: a broker that stays away for a day does not write a line per retry.
    if (problem.message === this.loggedProblem) return;
    this.loggedProblem = problem.message;
    this.options.logger.warn({ broker: redactedBroker(this.options.url), err: problem.message }, `fleet broker: ${problem.message}; retrying with back-off`);
  }

  private setState(state: BrokerState): void {
    if (state === this.state) return;
    this.state = state;
    this.since = Date.now();
  }
}

/** The broker URL as shown in logs and status: scheme, host and port only. */
export function redactedBroker(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid URL)';
  }
}
