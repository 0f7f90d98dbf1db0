import { mkdirSync } from 'node:fs';
import { csiBoard, detectBoard } from '../board/detect-board.ts';
import { createFrameSource } from '../camera/select-source.ts';
import { describeConfig, loadConfig } from '../config/load-config.ts';
import { createLogger } from '../logger.ts';
import { Pipeline } from '../pipeline/pipeline.ts';
import { ResultBus } from '../pipeline/result-bus.ts';
import { serviceStatus } from '../pipeline/service-health.ts';
import { startServer } from '../server/start-server.ts';
import { extendStartWhile, notifyReady, notifyStopping, Watchdog, watchdogIntervalMs } from '../systemd/notify.ts';
import { DEFAULT_BUILD_TIMEOUT_MS } from '../inference/tensorrt-engine-cache.ts';
import { openModel } from './load-model.ts';
import { parseArgs } from './usage.ts';

/** Longest start-up systemd is asked to wait for: the engine build's own limit plus time to load it. */
const MODEL_OPEN_LIMIT_MS = DEFAULT_BUILD_TIMEOUT_MS + 10 * 60_000;
/** Results older than this mean the pipeline is not doing its job (health degraded, watchdog silent). */
const RESULT_STALE_MS = 10_000;
/** systemd's default stop timeout is 90 s; we promise 5. */
const SHUTDOWN_LIMIT_MS = 5_000;

export async function serveCommand(argv: string[]): Promise<number> {
  parseArgs(argv, {});
  const startedAt = Date.now();
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  logger.info({ config: describeConfig(config) }, 'vegkiosk starting');
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  const board = detectBoard();
  logger.info({ board: board.model, kind: board.kind }, 'board detected');

  // Opening the model can build a TensorRT engine first (minutes on a Jetson, once per model).
  const model = await extendStartWhile(openModel(config, logger), { maxMs: MODEL_OPEN_LIMIT_MS, logger });
  logger.info(
    { model: model.manifest.name, version: model.manifest.version, ep: model.executionProvider, attempts: model.providerAttempts },
    `execution provider: ${model.executionProvider}`,
  );

  const { source, reason } = await createFrameSource(config.camera, {
    width: config.cameraWidth,
    height: config.cameraHeight,
    fps: config.cameraFps,
    stallMs: config.cameraStallMs,
    logger: logger.child({ stage: 'camera' }),
    board: csiBoard(board),
  });
  logger.info({ camera: source.source, reason }, `camera: ${source.source}`);
  await source.start();

  const bus = new ResultBus();
  const pipeline = new Pipeline({ source, model, bus, logger: logger.child({ stage: 'pipeline' }), stallAfterMs: RESULT_STALE_MS });
  pipeline.start();
  const status = () => serviceStatus({ source, sourceReason: reason, model, pipeline, startedAt, resultStaleMs: RESULT_STALE_MS, dataDir: config.dataDir });

  const server = await startServer({
    config,
    logger,
    bus,
    status,
    async classify(image) {
      const input = await model.prepare(image);
      return model.run(input).finally(() => input.release());
    },
    latestFrameJpeg: () => bus.latest()?.jpeg ?? source.latest()?.jpeg ?? null,
  });

  // systemd: READY once the first frame has really been inferred; watchdog pings only while results flow.
  bus.once('result', () => {
    logger.info({ ep: model.executionProvider, camera: source.source }, 'first frame inferred; ready');
    notifyReady(`serving ${server.url} on ${model.executionProvider}`).catch((err) => logger.warn({ err: (err as Error).message }, 'sd_notify READY failed'));
  });
  const interval = watchdogIntervalMs();
  const watchdog = interval
    ? new Watchdog({ intervalMs: interval, isHealthy: () => status().pipeline.state === 'running', logger }).start()
    : null;

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 5 s; exiting anyway');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS);
    force.unref();
    notifyStopping().catch((err) => logger.warn({ err: (err as Error).message }, 'sd_notify STOPPING failed'));
    watchdog?.stop();
    // Order matters: no new frames, finish the inference in flight, then close sockets and flush.
    await source.stop();
    await pipeline.stop();
    await server.close();
    await model.close();
    logger.info('stopped');
    clearTimeout(force);
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  await new Promise(() => {});
  return 0;
}
