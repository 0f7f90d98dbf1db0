/** The topics of one kiosk, under `<prefix>/<kiosk id>/` (SPEC.md, MQTT). */
export interface FleetTopics {
  availability: string;
  status: string;
  events: string;
  results: string;
}

export function fleetTopics(prefix: string, kioskId: string): FleetTopics {
  const base = `${prefix}/${kioskId}`;
  return { availability: `${base}/availability`, status: `${base}/status`, events: `${base}/events`, results: `${base}/results` };
}

/** Home Assistant's discovery prefix and the topic it announces itself on (its defaults). */
export const HA_PREFIX = 'homeassistant';
export const HA_STATUS_TOPIC = `${HA_PREFIX}/status`;
