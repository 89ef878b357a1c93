// HTTP client of the console: every call carries the signed-in user's bearer token; errors are
// RFC 7807 problem documents, kept whole so that the page can show what the API said.
import { session, refreshOrReauthenticate } from './auth';

/** An RFC 7807 problem document as the API sends it. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  errors?: Record<string, string[]>;
  [extension: string]: unknown;
}

/** A failed API call: its status and problem document (one is made up when the answer had none). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly method: string,
    readonly path: string,
  ) {
    super(problem.title ?? `HTTP ${status}`);
  }
}

export async function problemOf(response: Response): Promise<Problem> {
  const text = await response.text().catch(() => '');
  const type = response.headers.get('content-type') ?? '';
  if (text && (type.includes('json'))) {
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed === 'object') return parsed as Problem;
    } catch {
      /* fall through: not JSON after all */
    }
  }
  return { status: response.status, title: response.statusText || `HTTP ${response.status}`, detail: text.slice(0, 500) || undefined };
}

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** Send this body as is (a file) instead of JSON. */
  raw?: BodyInit;
  contentType?: string;
}

/** Sends an authenticated request; a 401 refreshes the token (or asks the user to sign in again) and retries once. */
export async function send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    const current = session.value;
    if (current) headers.authorization = `Bearer ${current.accessToken}`;
    let body: BodyInit | undefined;
    if (options.raw !== undefined) {
      body = options.raw;
      headers['content-type'] = options.contentType || 'application/octet-stream';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    let response: Response;
    try {
      response = await fetch(path, { method, headers, body, signal: options.signal });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new ApiError(0, { title: 'The server cannot be reached.', detail: String((e as Error).message ?? e) }, method, path);
    }
    if (response.status === 401 && attempt === 0 && current) {
      await refreshOrReauthenticate(current.accessToken);
      continue;
    }
    if (!response.ok) throw new ApiError(response.status, await problemOf(response), method, path);
    return response;
  }
}

export async function api<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(method, path, options);
  if (response.status === 204 || response.headers.get('content-length') === '0') return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => api<T>('GET', path, { signal });

/** A query string from the defined values (arrays repeat the name). */
export function query(params: Record<string, string | number | boolean | undefined | null | (string | undefined)[]>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => v !== undefined && search.append(name, v));
    else search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Uploads a file with progress (fetch cannot report upload progress; XMLHttpRequest can). */
export function upload(path: string, file: Blob, contentType: string, onProgress: (sent: number, total: number) => void): Promise<unknown> {
  const attempt = () =>
    new Promise<{ status: number; text: string; type: string }>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', path);
      const current = session.value;
      if (current) xhr.setRequestHeader('authorization', `Bearer ${current.accessToken}`);
      xhr.setRequestHeader('content-type', contentType || 'application/octet-stream');
      xhr.setRequestHeader('accept', 'application/json, application/problem+json');
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText, type: xhr.getResponseHeader('content-type') ?? '' });
      xhr.onerror = () => reject(new ApiError(0, { title: 'The upload failed: the server cannot be reached.' }, 'PUT', path));
      xhr.send(file);
    });
  return (async () => {
    let result = await attempt();
    if (result.status === 401 && session.value) {
      await refreshOrReauthenticate(session.value.accessToken);
      result = await attempt();
    }
    if (result.status < 200 || result.status >= 300) {
      const response = new Response(result.text, { status: result.status, headers: { 'content-type': result.type } });
      throw new ApiError(result.status, await problemOf(response), 'PUT', path);
    }
    return result.text ? JSON.parse(result.text) : undefined;
  })();
}

/** Downloads an authenticated resource and hands it to the browser as a file. */
export async function download(path: string, fileName: string): Promise<void> {
  const response = await send('GET', path);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ---- shapes of the API's answers ----

export interface Me { userId: string; name: string; role: string; domainId: string }
export interface Page<T> { items: T[]; next: string | null }
export interface LatestPoint { time: string; data: unknown }
export interface Location { time: string; lat: number; lon: number; spd?: number | null; alt?: number | null }
export interface FleetDevice {
  id: string; ident: string; displayName: string | null; domain: string; connected: boolean;
  lastSeen: string | null; position: Location | null; values: Record<string, LatestPoint>;
}
export interface FleetPage extends Page<FleetDevice> { total: number }
export interface FleetMarker { id: string; ident: string; displayName: string | null; connected: boolean; time: string; lat: number; lon: number }
export interface DeviceView { id: string; ident: string; displayName: string | null; domain: string; connected: boolean; lastSeen: string | null }
export interface SettingView { value: string; pending: boolean; ackedAt: string | null }
export interface CommandView {
  id: string; text: string; state: 'pending' | 'sent' | 'acknowledged' | 'expired'; createdAt: string;
  expiresAt: string | null; sentAt: string | null; ackedAt: string | null; response: string | null;
}
export interface DataPoint { type: string; time: string; data: unknown }
export interface ListedSensor { name: string; firstSeen: string; lastSeen: string }
export interface FirmwareInfo { id: string; name: string; contentType: string; size: number; createdAt: string }
export interface FileEntry { path: string; name: string; isFolder: boolean; contentType: string | null; size: number | null; eTag: string | null }
export interface Folder { folder: string; items: FileEntry[] }
export interface DomainView { id: string; name: string; createdAt: string }
export interface UserView { id: string; name: string; displayName: string | null; domain: string; role: string; createdAt: string }
export interface ConsoleConfig { tiles: { url: string; attribution: string; maxZoom: number } | null }
