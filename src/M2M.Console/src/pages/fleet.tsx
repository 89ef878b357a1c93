// The fleet: every device the user may see, searched and sorted on the server one page at a time
// (fast at 100,000 devices), with presence and latest values kept live by one event stream.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, query, type FleetDevice, type FleetPage as Page, type LatestPoint } from '../api';
import { openLive, type LiveState } from '../live';
import { Link, ProblemBox, formatAgo, formatValue, navigate, useLoad, Spinner } from '../ui';

type Sort = 'ident' | 'name' | 'lastSeen' | 'online';
const pageSize = 100;

function readParams() {
  const p = new URLSearchParams(location.search);
  const sort = (['ident', 'name', 'lastSeen', 'online'].includes(p.get('sort') ?? '') ? p.get('sort') : 'ident') as Sort;
  return { q: p.get('q') ?? '', sort, order: (p.get('order') === 'desc' ? 'desc' : 'asc') as 'asc' | 'desc' };
}

export function FleetPage() {
  const initial = useMemo(readParams, []);
  const [q, setQ] = useState(initial.q);
  const [search, setSearch] = useState(initial.q);
  const [sort, setSort] = useState<Sort>(initial.sort);
  const [order, setOrder] = useState<'asc' | 'desc'>(initial.order);
  // Cursors of the pages before this one (to go back) and of this one.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const [live, setLive] = useState<LiveState>('connecting');
  const [, setTick] = useState(0);

  useEffect(() => {
    const t = setTimeout(() => setSearch(q.trim()), 250);
    return () => clearTimeout(t);
  }, [q]);
  useEffect(() => {
    setCursors([null]);
    navigate(`/fleet${query({ q: search, sort: sort === 'ident' ? undefined : sort, order: order === 'asc' ? undefined : order })}`, true);
  }, [search, sort, order]);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), 10_000);
    return () => clearInterval(t);
  }, []);

  const page = useLoad(
    (signal) => get<Page>(`/api/fleet${query({ q: search, sort, order, limit: pageSize, cursor: cursor ?? undefined })}`, signal),
    [search, sort, order, cursor],
  );
  const rows = page.data?.items;
  const ids = useMemo(() => (rows ?? []).map((d) => d.id).sort().join(','), [rows]);

  // Live: lifecycle events of every device (to notice new ones), records of the devices shown.
  const latest = useRef({ update: page.update, reload: page.reload, first: cursors.length === 1 });
  latest.current = { update: page.update, reload: page.reload, first: cursors.length === 1 };
  useEffect(() => {
    if (!page.data) return;
    let refreshTimer: ReturnType<typeof setTimeout> | undefined;
    const refreshSoon = () => {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => latest.current.reload(), 1000);
    };
    const update = (id: string, change: (d: FleetDevice) => FleetDevice) => {
      // Applied to the newest page, not the last rendered one: two events of one chunk both count.
      let found = false;
      latest.current.update((data) => {
        if (!data) return data;
        const items = data.items.map((d) => {
          if (d.id !== id) return d;
          found = true;
          return change(d);
        });
        return found ? { ...data, items } : data;
      });
      return found;
    };
    const close = openLive(`/api/events${query({ events: 'all', records: true, device: ids ? ids.split(',') : undefined })}`, {
      onState: setLive,
      // Subscribed first, read second: whatever was stored before the stream began is in the re-read.
      onReady: () => latest.current.reload(),
      onEvent: ({ name, data }) => {
        const id = String(data.device_id ?? '');
        const now = new Date().toISOString();
        if (name === 'record') {
          const type = String(data.type);
          const point: LatestPoint = { time: String(data.time), data: data.data };
          update(id, (d) => {
            const values = { ...d.values };
            if (!values[type] || values[type].time <= point.time) values[type] = point;
            let position = d.position;
            const loc = data.data as { lat?: number; lon?: number; spd?: number; alt?: number };
            if (type === 'sen:loc' && typeof loc?.lat === 'number' && typeof loc?.lon === 'number' && (!position || position.time <= point.time)) {
              position = { time: point.time, lat: loc.lat, lon: loc.lon, spd: loc.spd, alt: loc.alt };
            }
            return { ...d, values, position, lastSeen: d.connected ? now : d.lastSeen && d.lastSeen > point.time ? d.lastSeen : point.time };
          });
        } else if (name === 'device_identified' || name === 'device_connected') {
          const known = update(id, (d) => ({ ...d, connected: true, lastSeen: now }));
          // A device not on this page came online: the first page may now hold it.
          if (!known && name === 'device_identified' && latest.current.first) refreshSoon();
        } else if (name === 'device_disconnected') {
          update(id, (d) => ({ ...d, connected: false, lastSeen: now }));
        }
      },
    });
    return () => {
      clearTimeout(refreshTimer);
      close();
    };
  }, [ids, page.data !== undefined]);

  const header = (key: Sort, label: string) => (
    <th>
      <button
        class={`sort ${sort === key ? 'active' : ''}`}
        data-testid={`sort-${key}`}
        onClick={() => {
          if (sort === key) setOrder(order === 'asc' ? 'desc' : 'asc');
          else {
            setSort(key);
            setOrder(key === 'lastSeen' || key === 'online' ? 'desc' : 'asc');
          }
        }}
      >
        {label} {sort === key ? (order === 'asc' ? '▲' : '▼') : ''}
      </button>
    </th>
  );

  const first = (cursors.length - 1) * pageSize + 1;
  return (
    <section>
      <div class="toolbar">
        <h1>Fleet</h1>
        <input
          type="search"
          placeholder="Search ident or name"
          value={q}
          onInput={(e) => setQ(e.currentTarget.value)}
          data-testid="fleet-search"
          aria-label="Search ident or name"
        />
        <span class="spacer" />
        <span class={`live ${live}`} data-testid="live-state" title="Live updates from the server">
          {live === 'live' ? '● live' : live === 'connecting' ? '○ connecting' : '○ reconnecting'}
        </span>
        {page.loading && <Spinner />}
      </div>
      <ProblemBox error={page.error} />
      {page.data && (
        <>
          <p class="muted" data-testid="fleet-total">
            {page.data.total === 0
              ? 'No device matches.'
              : `${first.toLocaleString()}–${(first + page.data.items.length - 1).toLocaleString()} of ${page.data.total.toLocaleString()} devices`}
          </p>
          <div class="table-wrap">
            <table class="grid fleet" data-testid="fleet-table">
              <thead>
                <tr>
                  {header('online', 'Online')}
                  {header('ident', 'Ident')}
                  {header('name', 'Name')}
                  <th>Domain</th>
                  {header('lastSeen', 'Last seen')}
                  <th>Position</th>
                  <th>Last values</th>
                </tr>
              </thead>
              <tbody>
                {page.data.items.map((d) => (
                  <tr key={d.id} data-testid="fleet-row" data-ident={d.ident} data-connected={String(d.connected)}>
                    <td>
                      <span class={`dot ${d.connected ? 'on' : 'off'}`} title={d.connected ? 'online' : 'offline'} />
                      <span class="sr">{d.connected ? 'online' : 'offline'}</span>
                    </td>
                    <td>
                      <Link href={`/devices/${d.id}`}>{d.ident}</Link>
                    </td>
                    <td>{d.displayName ?? <span class="muted">—</span>}</td>
                    <td>{d.domain}</td>
                    <td title={d.lastSeen ?? ''}>{formatAgo(d.lastSeen)}</td>
                    <td data-testid="fleet-position">{d.position ? `${d.position.lat.toFixed(5)}, ${d.position.lon.toFixed(5)}` : <span class="muted">—</span>}</td>
                    <td class="values">
                      {Object.entries(d.values)
                        .filter(([type]) => type !== '_server' && type !== 'sen:loc')
                        .slice(0, 4)
                        .map(([type, v]) => (
                          <span class="chip" key={type} title={v.time}>
                            {type.replace(/^sen:/, '')}: {formatValue(v.data)}
                          </span>
                        ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="pager">
            <button disabled={cursors.length === 1} onClick={() => setCursors([null])}>
              « First
            </button>
            <button disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))} data-testid="fleet-prev">
              ◀ Previous
            </button>
            <button disabled={!page.data.next} onClick={() => setCursors([...cursors, page.data!.next])} data-testid="fleet-next">
              Next ▶
            </button>
          </div>
        </>
      )}
    </section>
  );
}
