import type { AuthStores } from '../auth/auth-stores.ts';
import type { LoginService } from '../auth/login.ts';
import type { AuthPolicy } from '../auth/policy.ts';
import type { Sessions } from '../auth/sessions.ts';
import type { UserAdmin } from '../auth/user-admin.ts';
import type { ResultsStore } from '../store/results-store.ts';
import type { Metrics } from './metrics.ts';
import type { ServerDeps } from './server-deps.ts';

/** What the WebSocket hub offers the HTTP routes: closing live sockets when sessions end. */
export interface LiveSessions {
  closeSession(jti: string): void;
  closeUser(username: string): void;
  count(): number;
}

/** Everything routes need, built once by startServer. */
export interface ServerContext {
  deps: ServerDeps;
  policy: AuthPolicy;
  stores: AuthStores;
  sessions: Sessions;
  login: LoginService;
  admin: UserAdmin;
  results: ResultsStore;
  metrics: Metrics;
  live: LiveSessions;
}
