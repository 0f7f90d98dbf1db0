// One connection attempt, for `vegkiosk doctor`: can this kiosk reach and log in to its broker now?
// It uses its own client id, so a running service's session is not taken over.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { describeBrokerError } from './broker-errors.ts';
import type { FleetSettings } from './fleet-publisher.ts';
import { peekQueue } from './queue-log.ts';

export interface ProbeOutcome {
  connected: boolean;
  /** Why not, worded as the service logs it. */
  error: string | null;
  ms: number;
}

export function probeBroker(settings: FleetSettings, timeoutMs = 5_000): Promise<ProbeOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let ca: Buffer | undefined;
    try {
      ca = settings.ca ? readFileSync(settings.ca) : undefined;
    } catch (err) {
      resolve({ connected: false, error: describeBrokerError(err, settings.url).message, ms: 0 });
      return;
    }
    const client = connect(settings.url, {
      protocolVersion: 5, clientId: `vegkiosk-${settings.kioskId}-doctor`, clean: true, reconnectPeriod: 0, connectTimeout: timeoutMs,
      ...(settings.username ? { username: settings.username } : {}), ...(settings.password ? { password: settings.password } : {}),
      ...(ca ? { ca } : {}), rejectUnauthorized: true,
    });
    let done = false;
    const finish = (outcome: Omit<ProbeOutcome, 'ms'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.removeAllListeners();
      client.on('error', () => {});
      client.end(true);
      resolve({ ...outcome, ms: Math.round(performance.now() - started) });
    };
    const timer = setTimeout(() => finish({ connected: false, error: `no answer from the broker within ${timeoutMs / 1000} s` }), timeoutMs);
    client.on('connect', () => finish({ connected: true, error: null }));
    client.on('error', (err) => finish({ connected: false, error: describeBrokerError(err, settings.url).message }));
    client.on('close', () => finish({ connected: false, error: 'the broker closed the connection' }));
  });
}

/** The queue the service keeps for `settings`, read without touching it. */
export function queuedForBroker(settings: FleetSettings): { depth: number; bytes: number } {
  return peekQueue(join(settings.dataDir, 'fleet-queue'));
}
