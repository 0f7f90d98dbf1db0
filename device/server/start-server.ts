import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { ServerConfigError } from './errors.ts';
import { isLoopback } from './net.ts';
import type { RunningServer, ServerDeps } from './server-deps.ts';
import { createBaseApp } from './app.ts';
import { healthRoutes } from './routes-health.ts';
import { loadTlsMaterial } from './tls.ts';

/** Limits against slow or idle clients (slowloris and the like); generous for a 10 MB upload on a LAN. */
export const SERVER_TIMEOUTS = {
  headersTimeout: 10_000,
  requestTimeout: 60_000,
  keepAliveTimeout: 5_000,
  /** Idle socket timeout; WebSocket upgrades clear it (ws sets its own heartbeat). */
  socketTimeout: 120_000,
};

/**
 * Starts the HTTPS (or, on loopback only, HTTP) server. Resolves once it listens; `url` and `port`
 * report the bound address (port 0 in tests picks an ephemeral one).
 */
export async function startServer(deps: ServerDeps): Promise<RunningServer> {
  const { config, logger } = deps;
  if (!config.tls && !isLoopback(config.host)) {
    throw new ServerConfigError('VEGKIOSK_TLS',
      `off is allowed only when VEGKIOSK_HOST is a loopback address (got ${config.host}); keep TLS on to serve the LAN`);
  }
  const tls = config.tls ? await loadTlsMaterial(config, logger) : null;

  const app = createBaseApp(logger);
  const health = healthRoutes(deps);
  app.use(health.routes());

  const handler = app.callback();
  const server = tls
    ? https.createServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handler)
    : http.createServer(handler);
  server.headersTimeout = SERVER_TIMEOUTS.headersTimeout;
  server.requestTimeout = SERVER_TIMEOUTS.requestTimeout;
  server.keepAliveTimeout = SERVER_TIMEOUTS.keepAliveTimeout;
  server.setTimeout(SERVER_TIMEOUTS.socketTimeout, (socket: Socket) => socket.destroy());
  server.maxHeadersCount = 64;
  // TLS handshakes that never finish would otherwise hold a socket until the idle timeout.
  if (server instanceof https.Server) server.on('tlsClientError', () => { /* socket already destroyed */ });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${tls ? 'https' : 'http'}://${hostForUrl}:${port}`;
  logger.info({ url, tls: tls ? tls.origin : 'off' }, 'server listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Requests still running after a grace period are cut so shutdown never hangs.
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      return closing;
    },
  };
}
