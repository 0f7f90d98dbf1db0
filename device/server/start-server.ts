import { mkdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { openAuthStores } from '../auth/auth-stores.ts';
import { resolveJwtSecret } from '../auth/key-files.ts';
import { LoginService } from '../auth/login.ts';
import { DEFAULT_AUTH_POLICY, type AuthPolicy } from '../auth/policy.ts';
import { Sessions } from '../auth/sessions.ts';
import { UserAdmin } from '../auth/user-admin.ts';
import type { PipelineResult } from '../results/pipeline-result.ts';
import { ResultsStore } from '../store/results-store.ts';
import { createBaseApp } from './app.ts';
import { ServerConfigError } from '../config/config-error.ts';
import { authenticate, originPolicy, refuseQueryTokens } from './http-auth.ts';
import { Metrics } from './metrics.ts';
import { isLoopbackHost } from '../config/loopback.ts';
import { apiStatusBody } from './api-status.ts';
import { apiRoutes } from './routes-api.ts';
import { authRoutes } from './routes-auth.ts';
import { classRoutes } from './routes-classes.ts';
import { healthRoutes } from './routes-health.ts';
import { staticRoutes } from './routes-static.ts';
import { userRoutes } from './routes-users.ts';
import type { ServerContext } from './server-context.ts';
import type { RunningServer, ServerDeps } from './server-deps.ts';
import { loadTlsMaterial, TLS_PROFILE } from './tls.ts';
import { DEFAULT_WS_OPTIONS, WsHub, type WsOptions } from './ws-hub.ts';

/** Limits against slow or idle clients (slowloris and the like); generous for a 10 MB upload on a LAN. */
export const SERVER_TIMEOUTS = {
  headersTimeout: 10_000,
  requestTimeout: 60_000,
  keepAliveTimeout: 5_000,
  /** Idle socket timeout; WebSocket upgrades clear it (the hub runs its own heartbeat). */
  socketTimeout: 120_000,
};

/** Tunables that are not configuration keys; tests shorten them. */
export interface StartOptions {
  policy?: Partial<AuthPolicy>;
  ws?: Partial<WsOptions>;
  timeouts?: Partial<typeof SERVER_TIMEOUTS>;
  /** Directory of the dashboard's browser files (default: the package's dashboard/). */
  staticRoot?: string;
}

/**
 * Starts the HTTPS (or, on loopback only, HTTP) server with the API and /ws. Resolves once it
 * listens; `url` and `port` report the bound address (port 0 picks an ephemeral one). Throws
 * ServerConfigError (exit 78) for unusable settings and StoreDamagedError when a data file and its
 * backup are both unreadable.
 */
export async function startServer(deps: ServerDeps, options: StartOptions = {}): Promise<RunningServer> {
  const { config, logger } = deps;
  if (!config.tls && !isLoopbackHost(config.host)) {
    throw new ServerConfigError('VEGKIOSK_TLS',
      `off is allowed only when VEGKIOSK_HOST is a loopback address (got ${config.host}); keep TLS on to serve the LAN`);
  }
  // Created private before anything (keys, certificate, users) is written into it.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const jwtSecret = resolveJwtSecret(config);
  const tls = config.tls ? await loadTlsMaterial(config, logger) : null;
  const policy: AuthPolicy = { ...DEFAULT_AUTH_POLICY, ...options.policy };
  const timeouts = { ...SERVER_TIMEOUTS, ...options.timeouts };

  const stores = openAuthStores(config.dataDir, logger);
  const results = new ResultsStore(config.dataDir, logger);
  const metrics = new Metrics(deps.bus);
  const sessions = new Sessions(jwtSecret, stores, policy.sessionTtlS);
  const hub = new WsHub(deps, sessions, metrics, tls !== null, { ...DEFAULT_WS_OPTIONS, ...options.ws });
  const sc: ServerContext = {
    deps, policy, stores, sessions, results, metrics, live: hub,
    login: new LoginService(stores, sessions, policy, logger, () => metrics.loginFailed()),
    admin: new UserAdmin(stores.users, stores.audit, stores.totpKey),
  };
  const onResult = (r: PipelineResult) => results.add(r);
  deps.bus.on('result', onResult);
  results.startFlushing();
  if (stores.users.data.users.length === 0) {
    logger.warn('no users enrolled yet; create the first admin on the device with: vegkiosk enroll <name> --role admin');
  }

  const app = createBaseApp(logger);
  app.use(refuseQueryTokens());
  app.use(originPolicy(tls !== null, config.allowedOrigins));
  app.use(authenticate(sessions));
  for (const router of [healthRoutes(deps), authRoutes(sc), apiRoutes(sc), classRoutes(sc), userRoutes(sc), staticRoutes(options.staticRoot)]) {
    app.use(router.routes());
  }

  const handler = app.callback();
  // Node checks headers/request timeouts on this interval (default 30 s, which would let a slow
  // client hold a socket well past headersTimeout).
  const connectionsCheckingInterval = Math.min(1_000, Math.ceil(timeouts.headersTimeout / 2));
  const server = tls
    ? https.createServer({ cert: tls.cert, key: tls.key, ...TLS_PROFILE, connectionsCheckingInterval }, handler)
    : http.createServer({ connectionsCheckingInterval }, handler);
  server.headersTimeout = timeouts.headersTimeout;
  server.requestTimeout = timeouts.requestTimeout;
  server.keepAliveTimeout = timeouts.keepAliveTimeout;
  server.setTimeout(timeouts.socketTimeout, (socket: Socket) => socket.destroy());
  server.maxHeadersCount = 64;
  server.on('upgrade', (req, socket, head) => hub.handleUpgrade(req, socket, head));
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return void socket.destroy();
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout'
      : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  // Timers and listeners the server holds besides its socket and the WebSocket hub; left running after
  // a failed listen, they would keep the process alive.
  const release = () => {
    deps.bus.off('result', onResult);
    metrics.close();
    results.close();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await hub.close();
    release();
    const why = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'another process already listens there' : (err as Error).message;
    throw new Error(`cannot listen on ${hostForUrl}:${config.port} (VEGKIOSK_HOST, VEGKIOSK_PORT): ${why}`);
  }
  const port = (server.address() as AddressInfo).port;
  const url = `${tls ? 'https' : 'http'}://${hostForUrl}:${port}`;
  logger.info({ url, tls: tls ? tls.origin : 'off' }, 'server listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    apiStatus: () => apiStatusBody(deps.status(), config.dataDir, hub.count()),
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Requests still running after a grace period are cut so shutdown never hangs.
        const cut = setTimeout(() => server.closeAllConnections(), 2_000);
        await hub.close();
        await stopped;
        clearTimeout(cut);
        release();
      })();
      return closing;
    },
  };
}
