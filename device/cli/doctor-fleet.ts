import type { Config } from '../config/config.ts';
import { redactedBroker } from '../fleet/broker-connection.ts';
import { probeBroker, queuedForBroker } from '../fleet/broker-probe.ts';
import { fleetSettings } from './serve-fleet.ts';

/** doctor's fleet lines: the broker, whether it can be reached and logged in to now, and the queue. */
export async function fleetSection(config: Config): Promise<string[]> {
  const lines = [''];
  if (!config.mqttUrl) {
    lines.push('fleet (MQTT): off (set VEGKIOSK_MQTT_URL to publish to a broker)');
    return lines;
  }
  const settings = fleetSettings(config);
  lines.push(`fleet (MQTT): broker ${redactedBroker(settings.url)}, kiosk ${settings.kioskId}, topics ${settings.topicPrefix}/${settings.kioskId}/…, results ${settings.results}`);
  const url = new URL(settings.url);
  lines.push(`  transport: ${url.protocol === 'mqtts:' ? `TLS${settings.ca ? ` with CA ${settings.ca}` : ' with the system CAs'}` : 'plain MQTT (unencrypted)'}; login: ${settings.username ? `as ${settings.username}${settings.password ? ' with a password' : ''}` : 'anonymous'}`);
  const probe = await probeBroker(settings);
  lines.push(`  state: ${probe.connected ? `connected (in ${probe.ms} ms)` : 'cannot connect'}`);
  lines.push(`  last error: ${probe.error ?? 'none'}`);
  try {
    const queue = queuedForBroker(settings);
    lines.push(`  queue: ${queue.depth} message(s), ${queue.bytes} bytes waiting in ${settings.dataDir}/fleet-queue`);
  } catch (err) {
    lines.push(`  queue: cannot be read: ${(err as Error).message}`);
  }
  return lines;
}
