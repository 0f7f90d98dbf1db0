import { mkdirSync } from 'node:fs';
import { csiBoard, detectBoard, type BoardInfo } from '../board/detect-board.ts';
import { createFrameSource } from '../camera/select-source.ts';
import type { FrameSource } from '../camera/frame-source.ts';
import type { Config } from '../config/config.ts';
import { describeConfig, loadConfig, secretLogPaths } from '../config/load-config.ts';
import { createLogger, type Logger } from '../logger.ts';
import { Pipeline } from '../pipeline/pipeline.ts';
import { ResultBus } from '../pipeline/result-bus.ts';
import { SceneRest } from '../pipeline/scene-rest.ts';
import { serviceStatus } from '../pipeline/service-health.ts';
import { startServer } from '../server/start-server.ts';
import { extendStartWhile, notifyReady, notifyStopping, Watchdog, watchdogIntervalMs } from '../systemd/notify.ts';
import { DEFAULT_BUILD_TIMEOUT_MS } from '../inference/tensorrt-engine-cache.ts';
import type { Model } from '../inference/model.ts';
import { CascadeModel } from '../inference/cascade-model.ts';
import { openRecognition } from './load-model.ts';
import type { LearnedClasses } from '../learning/learned-classes.ts';
import { parseArgs } from './usage.ts';
import { startFleet } from './serve-fleet.ts';
import type { FleetPublisher } from '../fleet/fleet-publisher.ts';

/** Longest start-up systemd is asked to wait for: the engine build's own limit plus time to load it. */
const MODEL_OPEN_LIMIT_MS = DEFAULT_BUILD_TIMEOUT_MS + 10 * 60_000;
/** Results older than this mean the pipeline is not doing its job (health degraded, watchdog silent). */
const RESULT_STALE_MS = 10_000;
/** systemd's default stop timeout is 90 s; we promise 5. */
const SHUTDOWN_LIMIT_MS = 5_000;

export async function serveCommand(argv: string[]): Promise<number> {
  parseArgs(argv, {});
  const startedAt = performance.now();
  const config = loadConfig();
  const logger = createLogger(config.logLevel, undefined, secretLogPaths());
  logger.info({ config: describeConfig(config) }, 'vegkiosk starting');
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  const board = detectBoard();
  logger.info({ board: board.model, kind: board.kind }, 'board detected');

  // Opening the model can build a TensorRT engine first (minutes on a Jetson, once per model).
  const { model, classifier, learned } = await extendStartWhile(openRecognition(config, logger, { persistLearned: true }), { maxMs: MODEL_OPEN_LIMIT_MS, logger });
  logger.info(
    { model: model.manifest.name, version: model.manifest.version, ep: model.executionProvider, attempts: classifier.providerAttempts,
      ...(model instanceof CascadeModel ? { detector: model.stages.detector.name, detectorVersion: model.stages.detector.version } : {}) },
    `execution provider: ${model.executionProvider}`,
  );

  // Anything that fails from here on (camera value, port in use, TLS material, a damaged store) must
  // undo what already runs: the inference worker thread and a camera process would otherwise keep the
  // process alive, serving nothing, until systemd's start timeout.
  let started: Started;
  try {
    started = await startStages(config, model, learned, board, logger, startedAt);
  } catch (err) {
    await model.close().catch((closeErr) => logger.warn({ err: (closeErr as Error).message }, 'closing the model after a failed start failed'));
    throw err;
  }
  const { source, pipeline, bus, server, status, fleet } = started;

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
    // The fleet says offline (retained) and syncs its queue while the server closes.
    await Promise.all([server.close(), fleet?.stop()]);
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

type Started = Awaited<ReturnType<typeof startStages>>;

/** Camera, pipeline and server, in that order; when one fails, stops those already started. */
async function startStages(config: Config, model: Model, learned: LearnedClasses, board: BoardInfo, logger: Logger, startedAt: number) {
  let source: FrameSource | undefined;
  let pipeline: Pipeline | undefined;
  try {
    const selected = await createFrameSource(config.camera, {
      width: config.cameraWidth,
      height: config.cameraHeight,
      fps: config.cameraFps,
      stallMs: config.cameraStallMs,
      logger: logger.child({ stage: 'camera' }),
      board: csiBoard(board),
    });
    const { reason } = selected;
    const frames = (source = selected.source);
    logger.info({ camera: frames.source, reason }, `camera: ${frames.source}`);
    await frames.start();

    const bus = new ResultBus();
    // Taught or forgotten classes change the answer for the same scene: never reuse a result from before.
    const rest = config.rest
      ? new SceneRest({ changePercent: config.restChange, refreshMs: config.restRefreshMs, generation: () => learned.generation })
      : undefined;
    const running = (pipeline = new Pipeline({ source: frames, model, bus, rest, logger: logger.child({ stage: 'pipeline' }), stallAfterMs: RESULT_STALE_MS }));
    running.start();
    let fleet: FleetPublisher | null = null;
    const status = () => {
      const s = serviceStatus({ source: frames, sourceReason: reason, model, pipeline: running, startedAt, resultStaleMs: RESULT_STALE_MS, dataDir: config.dataDir });
      return fleet ? { ...s, fleet: fleet.health() } : s;
    };

    const server = await startServer({
      config,
      logger,
      bus,
      status,
      async classify(image) {
        const input = await model.prepare(image);
        return model.run(input).finally(() => input.release());
      },
      latestFrameJpeg: () => bus.latest()?.jpeg ?? frames.latest()?.jpeg ?? null,
      learning: learned,
    });
    // Last: it publishes the status the server makes. It takes each result synchronously and cheaply
    // (a debounce step, one append to its queue); nothing here ever waits on the broker.
    const publisher = (fleet = startFleet(config, logger, () => server.apiStatus()));
    if (publisher) bus.on('result', (r) => publisher.onResult(r));
    return { source: frames, pipeline: running, bus, server, status, fleet: publisher };
  } catch (err) {
    // The shutdown's order: no new frames, then the inference in flight.
    for (const stage of [source, pipeline]) {
      await stage?.stop().catch((stopErr: Error) => logger.warn({ err: stopErr.message }, 'stopping after a failed start failed'));
    }
    throw err;
  }
}
