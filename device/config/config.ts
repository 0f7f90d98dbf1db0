/** The validated, typed configuration every part of the service receives. */
export interface Config {
  host: string;
  port: number;
  /** Absolute path. */
  dataDir: string;
  tls: boolean;
  tlsCert: string;
  tlsKey: string;
  camera: string;
  cameraWidth: number;
  cameraHeight: number;
  cameraFps: number;
  cameraStallMs: number;
  /** Absolute path of the .onnx file. */
  model: string;
  /** Ordered provider names, or ['auto']. */
  executionProviders: string[];
  /** 0 = auto. */
  inferenceThreads: number;
  jwtSecret: string;
  allowedOrigins: string[];
  logLevel: string;
}

/** Which config key fills which Config field (key names are also the environment variable names). */
export const CONFIG_FIELDS = {
  VEGKIOSK_HOST: 'host',
  VEGKIOSK_PORT: 'port',
  VEGKIOSK_DATA_DIR: 'dataDir',
  VEGKIOSK_TLS: 'tls',
  VEGKIOSK_TLS_CERT: 'tlsCert',
  VEGKIOSK_TLS_KEY: 'tlsKey',
  VEGKIOSK_CAMERA: 'camera',
  VEGKIOSK_CAMERA_WIDTH: 'cameraWidth',
  VEGKIOSK_CAMERA_HEIGHT: 'cameraHeight',
  VEGKIOSK_CAMERA_FPS: 'cameraFps',
  VEGKIOSK_CAMERA_STALL_MS: 'cameraStallMs',
  VEGKIOSK_MODEL: 'model',
  VEGKIOSK_EXECUTION_PROVIDERS: 'executionProviders',
  VEGKIOSK_INFERENCE_THREADS: 'inferenceThreads',
  VEGKIOSK_JWT_SECRET: 'jwtSecret',
  VEGKIOSK_ALLOWED_ORIGINS: 'allowedOrigins',
  VEGKIOSK_LOG_LEVEL: 'logLevel',
} as const satisfies Record<string, keyof Config>;
