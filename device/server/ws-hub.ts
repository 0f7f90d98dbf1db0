import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Session, Sessions } from '../auth/sessions.ts';
import type { PipelineResult } from '../results/pipeline-result.ts';
import { resultMessage } from '../results/result-message.ts';
import { credentialsOf, hasCredentialInQuery } from './http-auth.ts';
import type { Metrics } from './metrics.ts';
import { isAllowedOrigin } from './origin.ts';
import { publicCameraHealth } from './redact.ts';
import type { LiveSessions } from './server-context.ts';
import type { ServerDeps } from './server-deps.ts';

export const WS_PROTOCOL = 1;
/** Close code for an expired, revoked or removed session (mirrors HTTP 401). */
export const CLOSE_SESSION_ENDED = 4401;

export interface WsOptions {
  /** Ping interval; a client that has not answered the previous ping by the next one is dropped. */
  heartbeatMs: number;
  /** `status` message interval; sessions are re-checked on the same tick. */
  statusIntervalMs: number;
  /** Per-client send buffer: above it, messages to that client are skipped. */
  maxBufferedBytes: number;
  /** A client whose buffer stays over the limit this long is dropped. */
  dropAfterMs: number;
}

export const DEFAULT_WS_OPTIONS: WsOptions = {
  heartbeatMs: 20_000,
  statusIntervalMs: 1_000,
  maxBufferedBytes: 1024 * 1024,
  dropAfterMs: 5_000,
};

interface Client {
  ws: WebSocket;
  session: Session;
  frames: boolean;
  alive: boolean;
  /** When the send buffer first went over the limit, or null while the client keeps up. */
  slowSince: number | null;
  expiry: NodeJS.Timeout;
}

/**
 * `/ws`: authenticated at the upgrade, then fan-out of results, status and (for subscribers) JPEG
 * frames. Every send checks the client's own buffer, so one client that stops reading only loses
 * its own messages (and then its connection), never delays the others.
 */
export class WsHub implements LiveSessions {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false });
  private readonly clients = new Set<Client>();
  private readonly timers: NodeJS.Timeout[];
  private readonly onResult = (r: PipelineResult) => this.broadcastResult(r);

  constructor(
    private readonly deps: ServerDeps,
    private readonly sessions: Sessions,
    private readonly metrics: Metrics,
    private readonly secure: boolean,
    private readonly options: WsOptions = DEFAULT_WS_OPTIONS,
  ) {
    deps.bus.on('result', this.onResult);
    this.timers = [
      setInterval(() => this.tickStatus(), options.statusIntervalMs),
      setInterval(() => this.tickHeartbeat(), options.heartbeatMs),
    ];
  }

  /** For the HTTP server's 'upgrade' event. Refusals get a plain HTTP status and no WebSocket. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'https://kiosk.invalid');
    if (url.pathname !== '/ws') return refuse(socket, 404, 'not_found', 'no such route');
    if (hasCredentialInQuery(url.search)) return refuse(socket, 400, 'token_in_query', 'credentials are not accepted in the URL');
    const origin = req.headers.origin;
    if (origin !== undefined && !isAllowedOrigin(origin, req, this.secure, this.deps.config.allowedOrigins)) {
      return refuse(socket, 403, 'origin_forbidden', 'origin not allowed');
    }
    const creds = credentialsOf(req);
    if (!creds) return refuse(socket, 401, 'unauthenticated', 'sign in first (session cookie or bearer token)');
    // A cookie is a browser's credential, and browsers always send Origin: without one, refuse.
    if (creds.via === 'cookie' && origin === undefined) return refuse(socket, 403, 'origin_forbidden', 'origin required');
    const session = this.sessions.verify(creds.token);
    if (!session) return refuse(socket, 401, 'unauthenticated', 'session invalid or expired');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, session));
  }

  closeSession(jti: string): void {
    for (const c of this.clients) if (c.session.jti === jti) c.ws.close(CLOSE_SESSION_ENDED, 'session revoked');
  }

  closeUser(username: string): void {
    for (const c of this.clients) if (c.session.username === username) c.ws.close(CLOSE_SESSION_ENDED, 'user removed');
  }

  count(): number {
    return this.clients.size;
  }

  /** Closes every client with 1001 (going away), waiting briefly for the close handshakes. */
  async close(): Promise<void> {
    this.timers.forEach(clearInterval);
    this.deps.bus.off('result', this.onResult);
    const closed = [...this.clients].map((c) => new Promise<void>((resolve) => {
      if (c.ws.readyState === WebSocket.CLOSED) return resolve();
      c.ws.once('close', () => resolve());
      c.ws.close(1001, 'server shutting down');
      setTimeout(() => { c.ws.terminate(); resolve(); }, 1_000).unref();
    }));
    await Promise.all(closed);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private accept(ws: WebSocket, session: Session): void {
    const untilExpiry = Math.min(2 ** 31 - 1, Math.max(0, session.exp * 1000 - Date.now()));
    const client: Client = {
      ws, session, frames: false, alive: true, slowSince: null,
      expiry: setTimeout(() => ws.close(CLOSE_SESSION_ENDED, 'session expired'), untilExpiry),
    };
    this.clients.add(client);
    ws.on('pong', () => { client.alive = true; });
    ws.on('message', (data, isBinary) => this.onMessage(client, data, isBinary));
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      clearTimeout(client.expiry);
      this.clients.delete(client);
    });
    const s = this.deps.status();
    this.send(client, JSON.stringify({ type: 'hello', protocol: WS_PROTOCOL, model: s.model, ep: s.ep }));
  }

  private onMessage(client: Client, data: RawData, isBinary: boolean): void {
    if (isBinary) return;
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return;
    }
    const m = msg as { type?: unknown; frames?: unknown };
    if (m && m.type === 'subscribe' && typeof m.frames === 'boolean') client.frames = m.frames;
  }

  private broadcastResult(r: PipelineResult): void {
    if (this.clients.size === 0) return;
    // The same message the fleet publishes: named fields only, so the embedding never leaves.
    const text = JSON.stringify(resultMessage(r));
    for (const c of this.clients) {
      this.send(c, text);
      if (r.jpeg && c.frames) this.send(c, r.jpeg);
    }
  }

  private tickStatus(): void {
    if (this.clients.size === 0) return;
    const s = this.deps.status();
    const text = JSON.stringify({
      type: 'status', status: s.status, pipeline: s.pipeline, camera: publicCameraHealth(s.camera),
      model: s.model, ep: s.ep, uptimeS: Math.round(s.uptimeS), wsClients: this.clients.size,
    });
    for (const c of this.clients) {
      // Backstop for revocations made elsewhere (CLI removal, another server process, clock).
      if (!this.sessions.isLive(c.session)) {
        c.ws.close(CLOSE_SESSION_ENDED, 'session ended');
        continue;
      }
      this.send(c, text);
    }
  }

  private tickHeartbeat(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        this.drop(c);
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  private send(c: Client, data: string | Buffer): void {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (c.ws.bufferedAmount > this.options.maxBufferedBytes) {
      c.slowSince ??= now;
      if (now - c.slowSince > this.options.dropAfterMs) this.drop(c);
      return;
    }
    c.slowSince = null;
    c.ws.send(data);
  }

  private drop(c: Client): void {
    this.metrics.wsClientDropped();
    this.clients.delete(c);
    clearTimeout(c.expiry);
    c.ws.terminate();
  }
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' }[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
    `Cache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
