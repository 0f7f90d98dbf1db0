// Every configuration key, declared once. Each declaration is the one source of the key's
// environment name, type, default, description, secrecy and parser: the `Config` type below is
// inferred from it, the loader validates with it, logs hide its secrets by it, and
// config/default.json, config/schema.json and .env.example are generated from it.
//
// Adding a key is one declaration here, then regenerating the files:
//
//   mqttTopicPrefix: text({
//     env: 'VEGKIOSK_MQTT_TOPIC_PREFIX', default: 'vegkiosk', nonEmpty: true,
//     description: 'Topics are published under <prefix>/<kiosk id>/.',
//   }),
//
//   npx tsx scripts/write-config-files.ts
//
// `config.mqttTopicPrefix` is then a typed string everywhere, the key is accepted from files and the
// environment, and a wrong value stops the service with exit 78 naming the key. Pick the kind by the
// value: integer({ min, max }), oneOf({ values }), onOff, path (relative paths resolved), or text,
// with `parse` for a value that has its own grammar (reuse the parser of the part that reads it; see
// key-parsers.ts) and `secret: true` for anything that must never be shown or logged. Rules that
// involve several keys or the file system stay in load-config.ts (checkCrossField).
import { CAMERA_SPEC_FORMS } from '../camera/camera-spec.ts';
import { AUTO_ORDER } from '../inference/provider-names.ts';
import { integer, oneOf, onOff, path, text, type KeyDeclaration, type ValueOf } from './config-key.ts';
import { cameraValue, originList, providerList, signingKey } from './key-parsers.ts';
import { kioskId, mqttUrl, topicPrefix } from './mqtt-parsers.ts';

export const CONFIG_KEYS = {
  host: text({
    env: 'VEGKIOSK_HOST', default: '127.0.0.1', nonEmpty: true,
    description: 'Address the HTTPS server listens on. Use 0.0.0.0 to serve the LAN.',
  }),
  port: integer({ env: 'VEGKIOSK_PORT', default: 8443, min: 1, max: 65535, description: 'TCP port of the HTTPS server.' }),
  dataDir: path({
    env: 'VEGKIOSK_DATA_DIR', default: 'data', nonEmpty: true,
    description: 'Directory for users, audit log, results, generated secrets and the certificate. The default is data/ in the package; a relative path you give is from the working directory.',
  }),
  tls: onOff({ env: 'VEGKIOSK_TLS', default: 'on', description: 'off serves plain HTTP, allowed only when VEGKIOSK_HOST is a loopback address.' }),
  tlsCert: path({
    env: 'VEGKIOSK_TLS_CERT', default: '',
    description: 'PEM certificate file; empty: a self-signed one is created in the data directory on first start.',
  }),
  tlsKey: path({ env: 'VEGKIOSK_TLS_KEY', default: '', secret: true, description: 'PEM private key for VEGKIOSK_TLS_CERT.' }),
  camera: text({ env: 'VEGKIOSK_CAMERA', default: 'auto', parse: cameraValue, description: CAMERA_SPEC_FORMS }),
  cameraWidth: integer({ env: 'VEGKIOSK_CAMERA_WIDTH', default: 1280, min: 160, max: 3840, description: 'Capture width asked of the camera.' }),
  cameraHeight: integer({ env: 'VEGKIOSK_CAMERA_HEIGHT', default: 720, min: 120, max: 2160, description: 'Capture height asked of the camera.' }),
  cameraFps: integer({
    env: 'VEGKIOSK_CAMERA_FPS', default: 15, min: 1, max: 120,
    description: 'Frame rate asked of the camera (and of synthetic/replay sources).',
  }),
  cameraStallMs: integer({
    env: 'VEGKIOSK_CAMERA_STALL_MS', default: 2000, min: 500, max: 600_000,
    description: 'A source that delivers no frame for this long is restarted (with backoff).',
  }),
  model: path({
    env: 'VEGKIOSK_MODEL', default: 'models/vegetables-v2.onnx', nonEmpty: true,
    description: 'Path of the .onnx model; its .json manifest must sit beside it. With detection on, the classifier that names each detected item (a detector here runs alone).',
  }),
  detection: onOff({
    env: 'VEGKIOSK_DETECTION', default: 'on',
    description: 'on: detect the items with VEGKIOSK_DETECTOR, then classify each with VEGKIOSK_MODEL; off: VEGKIOSK_MODEL alone on the whole frame.',
  }),
  detector: path({
    env: 'VEGKIOSK_DETECTOR', default: 'models/produce-detector-v1.onnx', nonEmpty: true,
    description: 'Path of the detector (.onnx with its .json manifest) used with VEGKIOSK_DETECTION=on. While the default file is not installed, the classifier runs alone (logged).',
  }),
  rest: onOff({
    env: 'VEGKIOSK_REST', default: 'on',
    description: 'on: while the scene does not change, frames are not inferred and the last result is published again, marked "reused"; off: every frame is inferred.',
  }),
  restChange: integer({
    env: 'VEGKIOSK_REST_CHANGE', default: 1, min: 1, max: 100,
    description: 'Percent of a 64x36 grey thumbnail of the frame that must differ by more than 24 grey levels from the last inferred frame for the scene to count as changed.',
  }),
  restRefreshMs: integer({
    env: 'VEGKIOSK_REST_REFRESH_MS', default: 3000, min: 200, max: 600_000,
    description: 'While resting, a frame is inferred anyway after this long, so a slow change (daylight) never stalls recognition.',
  }),
  executionProviders: text({
    env: 'VEGKIOSK_EXECUTION_PROVIDERS', default: 'auto', parse: providerList,
    description: `auto (${AUTO_ORDER.join(' > ')}, as installed) or an ordered comma list; each is tried in turn.`,
  }),
  inferenceThreads: integer({
    env: 'VEGKIOSK_INFERENCE_THREADS', default: 0, min: 0, max: 64,
    description: 'onnxruntime intra-op threads; 0 picks one less than the CPU count (at least 1) so preprocessing keeps a core.',
  }),
  jwtSecret: text({
    env: 'VEGKIOSK_JWT_SECRET', default: '', secret: true, parse: signingKey,
    description: 'Session signing key, at least 32 bytes; empty: generated once into the data directory (mode 0600).',
  }),
  allowedOrigins: text({
    env: 'VEGKIOSK_ALLOWED_ORIGINS', default: '', parse: originList,
    description: 'Comma-separated browser origins allowed for CORS and the WebSocket, besides the service\'s own.',
  }),
  logLevel: oneOf({
    env: 'VEGKIOSK_LOG_LEVEL', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    description: 'pino log level.',
  }),
  mqttUrl: text({
    env: 'VEGKIOSK_MQTT_URL', default: '', parse: mqttUrl,
    description: 'Fleet broker, mqtt://host:1883 or mqtts://host:8883; empty: the fleet publisher is off.',
  }),
  mqttUsername: text({ env: 'VEGKIOSK_MQTT_USERNAME', default: '', description: 'User name at the broker; empty: none.' }),
  mqttPassword: text({ env: 'VEGKIOSK_MQTT_PASSWORD', default: '', secret: true, description: 'Password at the broker; empty: none.' }),
  mqttCa: path({
    env: 'VEGKIOSK_MQTT_CA', default: '',
    description: 'PEM CA file the mqtts:// broker certificate must chain to; empty: the system CAs.',
  }),
  kioskId: text({
    env: 'VEGKIOSK_KIOSK_ID', default: '', parse: kioskId,
    description: 'This kiosk\'s name in the fleet\'s topics ([A-Za-z0-9_-]+); empty: the host name.',
  }),
  mqttTopicPrefix: text({
    env: 'VEGKIOSK_MQTT_TOPIC_PREFIX', default: 'vegkiosk', nonEmpty: true, parse: topicPrefix,
    description: 'Topics are published under <prefix>/<kiosk id>/.',
  }),
  mqttResults: oneOf({
    env: 'VEGKIOSK_MQTT_RESULTS', default: 'changes', values: ['changes', 'all', 'off'],
    description: 'changes: events when the recognised item changes; all: also every result; off: availability and status only.',
  }),
} satisfies Record<string, KeyDeclaration<unknown>>;

/** The validated, typed configuration every part of the service receives: one field per declaration. */
export type Config = { -readonly [F in keyof typeof CONFIG_KEYS]: ValueOf<(typeof CONFIG_KEYS)[F]> };

/** Which config key fills which Config field (key names are also the environment variable names). */
export const CONFIG_FIELDS = Object.fromEntries(
  Object.entries(CONFIG_KEYS).map(([field, key]) => [key.env, field as keyof Config]),
) as Readonly<Record<string, keyof Config>>;
