import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import { PACKAGE_ROOT } from '../config/load-config.ts';
import { kioskIdOrHostName } from '../config/mqtt-parsers.ts';
import { startFleetPublisher, type FleetPublisher, type FleetSettings } from '../fleet/fleet-publisher.ts';
import type { Logger } from '../logger.ts';
import { errorMessage } from '../supervision/error-message.ts';

/** The publisher's settings from the configuration keys. */
export function fleetSettings(config: Config): FleetSettings {
  const { version } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return {
    url: config.mqttUrl,
    username: config.mqttUsername,
    password: config.mqttPassword,
    ca: config.mqttCa,
    kioskId: kioskIdOrHostName(config.kioskId),
    topicPrefix: config.mqttTopicPrefix,
    results: config.mqttResults,
    dataDir: config.dataDir,
    softwareVersion: version,
  };
}

/**
 * The fleet publisher when VEGKIOSK_MQTT_URL is set, else null. It never stops the kiosk: a publisher
 * that cannot even start (its queue directory unwritable) is logged and the kiosk serves without it.
 */
export function startFleet(config: Config, logger: Logger, statusJson: () => Record<string, unknown>): FleetPublisher | null {
  if (!config.mqttUrl) return null;
  try {
    return startFleetPublisher(fleetSettings(config), { statusJson, logger });
  } catch (err) {
    logger.error({ err: errorMessage(err) }, `fleet publisher could not start; the kiosk serves without it: ${errorMessage(err)}`);
    return null;
  }
}
