// Home Assistant MQTT discovery: retained configs under homeassistant/ that make each kiosk a device
// with its sensors. They read the kiosk's own topics, so nothing is published twice for Home Assistant.
import { HA_PREFIX, type FleetTopics } from './fleet-topics.ts';

export interface DiscoveryMessage {
  topic: string;
  payload: string;
}

export function discoveryMessages(kioskId: string, topics: FleetTopics, softwareVersion: string): DiscoveryMessage[] {
  const node = `vegkiosk_${kioskId}`;
  const device = { identifiers: [node], name: `vegkiosk ${kioskId}`, manufacturer: 'vegkiosk', model: 'produce kiosk', sw_version: softwareVersion };
  const availability = { availability_topic: topics.availability, payload_available: 'online', payload_not_available: 'offline' };
  const entity = (component: string, object: string, config: Record<string, unknown>): DiscoveryMessage => ({
    topic: `${HA_PREFIX}/${component}/${node}/${object}/config`,
    payload: JSON.stringify({ unique_id: `${node}_${object}`, object_id: `${node}_${object}`, device, ...config }),
  });
  return [
    entity('sensor', 'recognised', {
      name: 'Recognised item', icon: 'mdi:food-apple', state_topic: topics.events, ...availability,
      value_template: "{{ value_json.label if value_json.type == 'recognised' else 'none' }}",
    }),
    entity('sensor', 'confidence', {
      name: 'Confidence', icon: 'mdi:percent', unit_of_measurement: '%', state_class: 'measurement', state_topic: topics.events, ...availability,
      value_template: "{{ (value_json.score * 100) | round(1) if value_json.type == 'recognised' else 0 }}",
    }),
    entity('sensor', 'fps', {
      name: 'Frames per second', icon: 'mdi:speedometer', unit_of_measurement: 'fps', state_class: 'measurement', state_topic: topics.status, ...availability,
      value_template: '{{ value_json.fps | round(1) }}',
    }),
    entity('sensor', 'camera', {
      name: 'Camera', icon: 'mdi:camera', state_topic: topics.status, ...availability,
      value_template: '{{ value_json.camera.state }}',
    }),
    // No availability of its own: it is the availability, and must show offline when the kiosk is.
    entity('binary_sensor', 'online', {
      name: 'Online', device_class: 'connectivity', state_topic: topics.availability, payload_on: 'online', payload_off: 'offline',
    }),
  ];
}
