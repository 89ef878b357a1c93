// Shared pieces: routing, links, problem documents, loading state, formatting.
import { Component, type ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Problem } from './api';
import { Store } from './store';

// ---- routing (history API; the server answers every client route with index.html) ----

export const route = new Store<string>(location.pathname + location.search);
window.addEventListener('popstate', () => (route.value = location.pathname + location.search));

export function navigate(to: string, replace = false) {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  route.value = to;
}

export function Link(props: { href: string; children: ComponentChildren; class?: string; title?: string; 'data-testid'?: string }) {
  return (
    <a
      href={props.href}
      class={props.class}
      title={props.title}
      data-testid={props['data-testid']}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

// ---- errors ----

/** Turns anything thrown into a problem document to show. */
export function toProblem(error: unknown): Problem {
  if (error instanceof ApiError) return { ...error.problem, status: error.problem.status ?? error.status };
  if (error instanceof Error) return { title: 'Something went wrong in the console.', detail: error.message };
  return { title: 'Something went wrong.', detail: String(error) };
}

/** A problem document as the API sent it: title, status, detail and each invalid field. */
export function ProblemBox(props: { error: unknown; onClose?: () => void }) {
  if (!props.error) return null;
  const p = toProblem(props.error);
  const errors = p.errors && typeof p.errors === 'object' ? Object.entries(p.errors) : [];
  const extra = Object.entries(p).filter(([k]) => !['type', 'title', 'status', 'detail', 'instance', 'errors', 'traceId'].includes(k));
  return (
    <div class="problem" role="alert" data-testid="problem">
      <div class="problem-head">
        <strong data-testid="problem-title">{p.title ?? 'Error'}</strong>
        {p.status ? <span class="badge bad" data-testid="problem-status">{p.status}</span> : null}
        {props.onClose && (
          <button class="link" onClick={props.onClose} aria-label="Dismiss">
            ✕
          </button>
        )}
      </div>
      {p.detail && <p data-testid="problem-detail">{p.detail}</p>}
      {errors.length > 0 && (
        <ul class="problem-errors" data-testid="problem-errors">
          {errors.map(([field, messages]) => (
            <li key={field}>
              <code>{field}</code>: {Array.isArray(messages) ? messages.join(' ') : String(messages)}
            </li>
          ))}
        </ul>
      )}
      {extra.length > 0 && (
        <dl class="problem-extra">
          {extra.map(([k, v]) => (
            <>
              <dt>{k}</dt>
              <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
            </>
          ))}
        </dl>
      )}
      {p.type && p.type !== 'about:blank' && <p class="muted small">{p.type}</p>}
    </div>
  );
}

/** Keeps a rendering error inside its section: the rest of the page stays usable. */
export class Boundary extends Component<{ children: ComponentChildren }, { error: unknown }> {
  state = { error: null as unknown };
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  render() {
    if (this.state.error) {
      return (
        <div class="card">
          <ProblemBox error={this.state.error} />
          <button onClick={() => this.setState({ error: null })}>Try again</button>
        </div>
      );
    }
    return this.props.children;
  }
}

/**
 * Loads data for a component; reload() reads again; stale answers are dropped. update() applies a live
 * change to the newest data, also when several changes arrive before the next render (each sees the one
 * before it); an answer to a read that was in flight meanwhile may predate that change, so it is read
 * again (at most 3 times in a row, so that a stream of changes cannot keep the page from ever loading).
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const generation = useRef(0);
  const changes = useRef(0);
  const controller = useRef<AbortController | null>(null);
  // The newest data, ahead of the state while a render is pending.
  const current = useRef<T | undefined>(undefined);
  const reload = useCallback(() => {
    const run = (retries: number) => {
      const mine = ++generation.current;
      const seen = changes.current;
      controller.current?.abort();
      const c = new AbortController();
      controller.current = c;
      setState((s) => ({ ...s, loading: true }));
      load(c.signal).then(
        (data) => {
          if (mine !== generation.current) return;
          if (changes.current !== seen && retries > 0) run(retries - 1);
          else {
            current.current = data;
            setState({ data, loading: false });
          }
        },
        (error) => mine === generation.current && (error as Error)?.name !== 'AbortError' && setState((s) => ({ data: s.data, error, loading: false })),
      );
    };
    run(3);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    reload();
    return () => controller.current?.abort();
  }, [reload]);
  return {
    ...state,
    reload,
    update: (change: (data: T | undefined) => T | undefined) => {
      const next = change(current.current);
      if (next === undefined || next === current.current) return;
      current.current = next;
      changes.current++;
      setState({ data: next, loading: false });
    },
  };
}

/** Runs an action, keeping its error to show and its busy state. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = useCallback(async (action: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, setError, run };
}

// ---- formatting ----

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** A record's data in one short line. */
export function formatValue(data: unknown): string {
  if (data === null || data === undefined) return '—';
  if (typeof data === 'string') return data;
  if (typeof data === 'number' || typeof data === 'boolean') return String(data);
  if (typeof data === 'object' && 'lat' in (data as object) && 'lon' in (data as object)) {
    const l = data as { lat: number; lon: number; spd?: number };
    return `${l.lat.toFixed(5)}, ${l.lon.toFixed(5)}${l.spd !== undefined ? ` · ${l.spd} km/h` : ''}`;
  }
  return JSON.stringify(data);
}

/** A number in a record's data, when it holds one (a number, or text of a number). */
export function numberOf(data: unknown): number | null {
  if (typeof data === 'number') return data;
  if (typeof data === 'string' && data.trim() !== '' && !Number.isNaN(Number(data))) return Number(data);
  return null;
}

/** ISO time → value of a datetime-local input (local time, minutes). */
export function toLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function fromLocalInput(text: string): string | undefined {
  if (!text) return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function Spinner() {
  return <span class="spinner" aria-label="Loading" />;
}
