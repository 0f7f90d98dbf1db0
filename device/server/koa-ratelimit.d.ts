// koa-ratelimit ships no types; only the memory driver is used here.
declare module 'koa-ratelimit' {
  interface RateLimitOptions {
    driver: 'memory';
    db: Map<unknown, unknown>;
    duration: number;
    max: number;
    id?: (ctx: import('koa').Context) => string | false;
    errorMessage?: string;
    disableHeader?: boolean;
    headers?: { remaining?: string; reset?: string; total?: string };
    whitelist?: (ctx: import('koa').Context) => boolean | Promise<boolean>;
    onLimited?: (ctx: import('koa').Context) => void;
    throw?: boolean;
  }
  export default function ratelimit(options: RateLimitOptions): import('koa').Middleware;
}
