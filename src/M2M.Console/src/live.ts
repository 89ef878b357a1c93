// One Server-Sent Events stream from the API, read with fetch (EventSource cannot send the bearer
// token), reconnected with back-off when it ends; the page re-reads what it shows after a reconnect
// because events may have been missed meanwhile.
import { send } from './api';

export type LiveState = 'connecting' | 'live' | 'retrying';

export interface LiveEvent {
  name: string;
  data: Record<string, unknown>;
}

export interface LiveOptions {
  onEvent: (event: LiveEvent) => void;
  onState?: (state: LiveState) => void;
  /** Called when the stream is (re)established: re-read what might have changed meanwhile. */
  onReady?: (reconnected: boolean) => void;
}

/** Opens the stream at <paramref name="path"/>; returns the function that closes it. */
export function openLive(path: string, options: LiveOptions): () => void {
  const controller = new AbortController();
  let attempt = 0;
  let everReady = false;

  const run = async () => {
    while (!controller.signal.aborted) {
      options.onState?.(attempt === 0 ? 'connecting' : 'retrying');
      try {
        const response = await send('GET', path, { signal: controller.signal });
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        let name = 'message';
        let data: string[] = [];
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let newline: number;
          while ((newline = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, newline).replace(/\r$/, '');
            buffer = buffer.slice(newline + 1);
            if (line === '') {
              if (data.length > 0) {
                dispatch(name, data.join('\n'));
              }
              name = 'message';
              data = [];
            } else if (line.startsWith('event:')) {
              name = line.slice(6).trim();
            } else if (line.startsWith('data:')) {
              data.push(line.slice(5).replace(/^ /, ''));
            }
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
        console.warn('live stream failed', e);
      }
      if (controller.signal.aborted) return;
      attempt++;
      options.onState?.('retrying');
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      await new Promise((r) => setTimeout(r, delay));
    }
  };

  const dispatch = (name: string, text: string) => {
    if (name === 'ping') return;
    if (name === 'ready') {
      attempt = 0;
      options.onState?.('live');
      options.onReady?.(everReady);
      everReady = true;
      return;
    }
    let data: Record<string, unknown> = {};
    try {
      data = JSON.parse(text);
    } catch {
      return;
    }
    options.onEvent({ name, data });
  };

  void run();
  return () => controller.abort();
}
