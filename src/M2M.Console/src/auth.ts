// The signed-in session: tokens in sessionStorage (so a reload keeps the session, closing the tab
// ends it), refreshed before expiry when the server gives refresh tokens, and re-authenticated over
// the current page (a dialog that keeps the page's state) when it cannot be refreshed.
import { ApiError, problemOf, type Me } from './api';
import { Store } from './store';

export interface Session {
  accessToken: string;
  /** Unix ms when the access token expires. */
  expiresAt: number;
  refreshToken?: string;
  refreshExpiresAt?: number;
  user: Me;
}

interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  refresh_expires_in?: number;
}

const storageKey = 'm2m.console.session';

function load(): Session | null {
  try {
    const text = sessionStorage.getItem(storageKey);
    return text ? (JSON.parse(text) as Session) : null;
  } catch {
    return null;
  }
}

export const session = new Store<Session | null>(load());

/** Set while the page waits for the user to sign in again (the dialog resolves it). */
export const reauthentication = new Store<{ user: string; reason: string } | null>(null);

let waiting: { resolve: () => void; promise: Promise<void> } | null = null;
let refreshing: Promise<boolean> | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

function save(next: Session | null) {
  if (next) sessionStorage.setItem(storageKey, JSON.stringify(next));
  else sessionStorage.removeItem(storageKey);
  session.value = next;
  schedule();
}

/** Refreshes shortly before the access token expires, when there is a refresh token. */
function schedule() {
  clearTimeout(timer);
  const current = session.value;
  if (!current?.refreshToken) return;
  const lifetime = current.expiresAt - Date.now();
  const delay = Math.max(1_000, Math.min(lifetime - 60_000, lifetime * 0.8));
  timer = setTimeout(() => void refresh(), delay);
}

async function postJson(path: string, body: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, application/problem+json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, { title: 'The server cannot be reached.', detail: String((e as Error).message ?? e) }, 'POST', path);
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response), 'POST', path);
  return response;
}

async function toSession(tokens: TokenResponse): Promise<Session> {
  const response = await fetch('/api/auth/me', { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
  if (!response.ok) throw new ApiError(response.status, await problemOf(response), 'GET', '/api/auth/me');
  const user = (await response.json()) as Me;
  const now = Date.now();
  return {
    accessToken: tokens.access_token,
    expiresAt: now + tokens.expires_in * 1000,
    refreshToken: tokens.refresh_token,
    refreshExpiresAt: tokens.refresh_token && tokens.refresh_expires_in ? now + tokens.refresh_expires_in * 1000 : undefined,
    user,
  };
}

/** Signs in with a user name and password (the only time the password is sent). */
export async function signIn(user: string, password: string): Promise<Session> {
  const tokens = (await (await postJson('/api/auth/token', { user, password })).json()) as TokenResponse;
  const next = await toSession(tokens);
  const previous = session.value;
  save(next);
  if (waiting) {
    const w = waiting;
    waiting = null;
    reauthentication.value = null;
    // Another user over this page would see the previous user's data: start afresh.
    if (previous && previous.user.userId !== next.user.userId) location.reload();
    w.resolve();
  }
  return next;
}

/** Exchanges the refresh token for new tokens (rotation: the old refresh token stops working). */
export function refresh(): Promise<boolean> {
  if (refreshing) return refreshing;
  const current = session.value;
  if (!current?.refreshToken) return Promise.resolve(false);
  refreshing = (async () => {
    try {
      const tokens = (await (await postJson('/api/auth/refresh', { refresh_token: current.refreshToken })).json()) as TokenResponse;
      const next = await toSession(tokens);
      // Kept only if nobody signed out or in meanwhile.
      if (session.value?.accessToken === current.accessToken) save(next);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/**
 * After a 401 with <paramref name="failedToken"/>: a newer token may already be there; else refresh;
 * else ask the user to sign in again over the page and wait for it.
 */
export async function refreshOrReauthenticate(failedToken: string): Promise<void> {
  const current = session.value;
  if (current && current.accessToken !== failedToken) return;
  if (current?.refreshToken && (await refresh())) return;
  if (!waiting) {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    waiting = { resolve, promise };
    reauthentication.value = { user: current?.user.name ?? '', reason: 'Your session has expired. Sign in again to continue where you were.' };
  }
  return waiting.promise;
}

/** Signs out: revokes the refresh token when there is one, forgets the session. */
export async function signOut(): Promise<void> {
  const current = session.value;
  save(null);
  if (current?.refreshToken) {
    try {
      await postJson('/api/auth/logout', { refresh_token: current.refreshToken }, current.accessToken);
    } catch {
      /* the session is forgotten here either way */
    }
  }
}

/** At start: a stored session whose access token expired is refreshed, or forgotten. */
export async function resume(): Promise<void> {
  const current = session.value;
  if (!current) return;
  if (current.expiresAt - Date.now() > 5_000) {
    schedule();
    return;
  }
  if (current.refreshToken && (current.refreshExpiresAt ?? Infinity) > Date.now() && (await refresh())) return;
  save(null);
}
