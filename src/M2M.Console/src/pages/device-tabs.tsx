// The device page's tabs: history (chart and table), track (map), settings, commands, connection events, firmware.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, get, query, type CommandView, type DataPoint, type FirmwareInfo, type Page, type SettingView } from '../api';
import { L, fit, useLeaflet } from '../map';
import { ProblemBox, Spinner, formatBytes, formatTime, formatValue, fromLocalInput, numberOf, toLocalInput, useAction, useLoad } from '../ui';
import { useDeviceEvent, type DeviceEvents } from './device';

/** A [from, to] picker, last 24 hours by default. */
function useRange() {
  const [from, setFrom] = useState(() => toLocalInput(new Date(Date.now() - 24 * 3600_000)));
  const [to, setTo] = useState('');
  const picker = (
    <>
      <label>
        From <input type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} data-testid="range-from" />
      </label>
      <label>
        To <input type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} placeholder="now" data-testid="range-to" />
      </label>
    </>
  );
  return { from: fromLocalInput(from), to: fromLocalInput(to), picker };
}

export function HistoryTab(props: { id: string; types: string[]; events: DeviceEvents }) {
  const initialType = new URLSearchParams(location.search).get('type');
  const [type, setType] = useState(initialType ?? props.types.find((t) => t !== '_server') ?? props.types[0] ?? '');
  const range = useRange();
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  useEffect(() => setCursors([null]), [type, range.from, range.to]);
  const chart = useLoad(
    (signal) =>
      type
        ? get<Page<DataPoint>>(`/api/devices/${props.id}/data${query({ type, from: range.from, to: range.to, order: 'asc', limit: 2000 })}`, signal)
        : Promise.resolve({ items: [], next: null }),
    [props.id, type, range.from, range.to],
  );
  const table = useLoad(
    (signal) =>
      type
        ? get<Page<DataPoint>>(`/api/devices/${props.id}/data${query({ type, from: range.from, to: range.to, order: 'desc', limit: 50, cursor: cursor ?? undefined })}`, signal)
        : Promise.resolve({ items: [], next: null }),
    [props.id, type, range.from, range.to, cursor],
  );
  useDeviceEvent(props.events, (e) => {
    if (e.name === 'record' && e.data.type === type && !range.to) {
      chart.reload();
      if (cursors.length === 1) table.reload();
    }
  });
  const types = props.types.includes(type) || !type ? props.types : [type, ...props.types];
  return (
    <div class="card">
      <div class="toolbar">
        <label>
          Type{' '}
          <select value={type} onChange={(e) => setType(e.currentTarget.value)} data-testid="history-type">
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        {range.picker}
        {(chart.loading || table.loading) && <Spinner />}
      </div>
      <ProblemBox error={chart.error ?? table.error} />
      {chart.data && <Chart points={chart.data.items} truncated={chart.data.next !== null} />}
      <table class="grid" data-testid="history-table">
        <thead>
          <tr>
            <th>Time</th>
            <th>Value</th>
          </tr>
        </thead>
        <tbody>
          {table.data?.items.map((p) => (
            <tr key={p.time}>
              <td>{formatTime(p.time)}</td>
              <td class="mono">{formatValue(p.data)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {table.data && table.data.items.length === 0 && <p class="muted">No record of this type in the range.</p>}
      <div class="pager">
        <button disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          ◀ Newer
        </button>
        <button disabled={!table.data?.next} onClick={() => setCursors([...cursors, table.data!.next])}>
          Older ▶
        </button>
      </div>
    </div>
  );
}

/** A line chart of the numeric values (SVG; text values are listed in the table only). */
function Chart(props: { points: DataPoint[]; truncated: boolean }) {
  const series = props.points.map((p) => ({ t: new Date(p.time).getTime(), v: numberOf(p.data) })).filter((p): p is { t: number; v: number } => p.v !== null);
  if (series.length === 0) return <p class="muted">No numeric value to chart in this range.</p>;
  const width = 800;
  const height = 220;
  const pad = 40;
  const t0 = series[0].t;
  const t1 = series[series.length - 1].t;
  let min = Math.min(...series.map((p) => p.v));
  let max = Math.max(...series.map((p) => p.v));
  if (min === max) {
    min -= 1;
    max += 1;
  }
  const x = (t: number) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (width - 2 * pad);
  const y = (v: number) => height - pad / 2 - ((v - min) / (max - min)) * (height - pad);
  const path = series.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
  return (
    <figure class="chart" data-testid="history-chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label="Values over time">
        <line x1={pad} y1={height - pad / 2} x2={width - pad} y2={height - pad / 2} class="axis" />
        <line x1={pad} y1={pad / 2} x2={pad} y2={height - pad / 2} class="axis" />
        <text x={pad - 4} y={y(max) + 4} class="tick" text-anchor="end">
          {+max.toPrecision(4)}
        </text>
        <text x={pad - 4} y={y(min) + 4} class="tick" text-anchor="end">
          {+min.toPrecision(4)}
        </text>
        <text x={pad} y={height - 4} class="tick">
          {formatTime(new Date(t0).toISOString())}
        </text>
        <text x={width - pad} y={height - 4} class="tick" text-anchor="end">
          {formatTime(new Date(t1).toISOString())}
        </text>
        <path d={path} class="line" />
        {series.length <= 200 && series.map((p) => <circle key={p.t} cx={x(p.t)} cy={y(p.v)} r={2.5} class="point" />)}
      </svg>
      <figcaption class="muted small">
        {series.length} points{props.truncated ? ' (the first 2,000 of the range)' : ''}
      </figcaption>
    </figure>
  );
}

export function TrackTab(props: { id: string; events: DeviceEvents }) {
  const range = useRange();
  const track = useLoad(
    (signal) => get<Page<DataPoint>>(`/api/devices/${props.id}/data${query({ type: 'sen:loc', from: range.from, to: range.to, order: 'asc', limit: 10000 })}`, signal),
    [props.id, range.from, range.to],
  );
  const mapRef = useRef<L.Map | null>(null);
  const layer = useRef<L.LayerGroup | null>(null);
  const [ready, setReady] = useState(false);
  const element = useLeaflet((map) => {
    mapRef.current = map;
    layer.current = L.layerGroup().addTo(map);
    setReady(true);
  });
  const points = useMemo(
    () =>
      (track.data?.items ?? [])
        .map((p) => ({ time: p.time, loc: p.data as { lat?: number; lon?: number } }))
        .filter((p) => typeof p.loc?.lat === 'number' && typeof p.loc?.lon === 'number')
        .map((p) => ({ time: p.time, at: [p.loc.lat!, p.loc.lon!] as L.LatLngTuple })),
    [track.data],
  );
  useEffect(() => {
    if (!ready) return;
    layer.current!.clearLayers();
    if (points.length > 1) L.polyline(points.map((p) => p.at), { color: '#1f4e79', weight: 3 }).addTo(layer.current!);
    points.forEach((p, i) => {
      const last = i === points.length - 1;
      if (i === 0 || last || points.length <= 500) {
        L.circleMarker(p.at, { radius: last ? 7 : i === 0 ? 5 : 3, color: last ? '#b03a2e' : '#1f4e79', fillOpacity: 0.9 })
          .bindTooltip(`${formatTime(p.time)}<br>${p.at[0].toFixed(5)}, ${p.at[1].toFixed(5)}`)
          .addTo(layer.current!);
      }
    });
    fit(mapRef.current!, points.map((p) => p.at));
  }, [ready, points]);
  useDeviceEvent(props.events, (e) => {
    if (e.name === 'record' && e.data.type === 'sen:loc' && !range.to) track.reload();
  });
  const last = points[points.length - 1];
  return (
    <div class="card">
      <div class="toolbar">
        {range.picker}
        {track.loading && <Spinner />}
        <span class="muted" data-testid="track-summary">
          {points.length} positions{last ? ` · last ${last.at[0].toFixed(5)}, ${last.at[1].toFixed(5)} at ${formatTime(last.time)}` : ''}
        </span>
      </div>
      <ProblemBox error={track.error} />
      <div ref={element} class="map" data-testid="track-map" />
    </div>
  );
}

export function SettingsTab(props: { id: string; events: DeviceEvents }) {
  const settings = useLoad((signal) => get<Record<string, SettingView>>(`/api/devices/${props.id}/settings`, signal), [props.id]);
  const [editing, setEditing] = useState<{ name: string; value: string } | null>(null);
  const [newName, setNewName] = useState('');
  const [newValue, setNewValue] = useState('');
  const action = useAction();
  useDeviceEvent(props.events, (e) => {
    if (e.name === 'setting_acknowledged' || e.name === 'device_identified' || e.name === 'ready') settings.reload();
  });
  const save = (values: Record<string, string>) =>
    action.run(async () => {
      await api('PUT', `/api/devices/${props.id}/settings`, { body: values });
      setEditing(null);
      settings.reload();
    });
  const entries = Object.entries(settings.data ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div class="card">
      <ProblemBox error={settings.error ?? action.error} onClose={action.error ? () => action.setError(null) : undefined} />
      <table class="grid" data-testid="settings-table">
        <thead>
          <tr>
            <th>Setting</th>
            <th>Value</th>
            <th>State</th>
            <th>Acknowledged at</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {entries.map(([name, s]) => (
            <tr key={name} data-setting={name} data-pending={String(s.pending)}>
              <td class="mono">{name}</td>
              <td>
                {editing?.name === name ? (
                  <input value={editing.value} onInput={(e) => setEditing({ name, value: e.currentTarget.value })} data-testid="setting-edit-value" />
                ) : (
                  <span class="mono">{s.value}</span>
                )}
              </td>
              <td>{s.pending ? <span class="badge warn">pending</span> : <span class="badge good">acknowledged</span>}</td>
              <td data-testid="setting-acked-at">{formatTime(s.ackedAt)}</td>
              <td class="actions">
                {editing?.name === name ? (
                  <>
                    <button class="primary" disabled={action.busy} onClick={() => save({ [name]: editing.value })} data-testid="setting-save">
                      Save
                    </button>
                    <button onClick={() => setEditing(null)}>Cancel</button>
                  </>
                ) : (
                  <>
                    <button onClick={() => setEditing({ name, value: s.value })} data-testid="setting-edit">
                      Edit
                    </button>
                    <button
                      class="danger"
                      disabled={action.busy}
                      onClick={() => action.run(async () => (await api('DELETE', `/api/devices/${props.id}/settings/${encodeURIComponent(name)}`), settings.reload()))}
                    >
                      Delete
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {entries.length === 0 && settings.data && <p class="muted">No setting yet.</p>}
      <form
        class="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          if (await save({ [newName.trim()]: newValue })) {
            setNewName('');
            setNewValue('');
          }
        }}
      >
        <input placeholder="name" value={newName} onInput={(e) => setNewName(e.currentTarget.value)} data-testid="setting-new-name" />
        <input placeholder="value" value={newValue} onInput={(e) => setNewValue(e.currentTarget.value)} data-testid="setting-new-value" />
        <button class="primary" disabled={action.busy || !newName.trim()} data-testid="setting-add">
          Set
        </button>
      </form>
    </div>
  );
}

export function CommandsTab(props: { id: string; events: DeviceEvents }) {
  const commands = useLoad((signal) => get<Page<CommandView>>(`/api/devices/${props.id}/commands?limit=100`, signal), [props.id]);
  const [text, setText] = useState('');
  const [ttl, setTtl] = useState('');
  const action = useAction();
  useDeviceEvent(props.events, (e) => {
    if (e.name === 'command_acknowledged' || e.name === 'device_identified' || e.name === 'ready') commands.reload();
  });
  return (
    <div class="card">
      <form
        class="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          const body: { text: string; ttlSeconds?: number } = { text };
          if (ttl.trim()) body.ttlSeconds = Number(ttl);
          if (await action.run(() => api('POST', `/api/devices/${props.id}/commands`, { body }))) {
            setText('');
            commands.reload();
            // The push to a connected device happens right after: show it as sent.
            setTimeout(() => commands.reload(), 1500);
          }
        }}
      >
        <input placeholder="command text" value={text} onInput={(e) => setText(e.currentTarget.value)} class="wide" data-testid="command-text" />
        <label>
          TTL (s) <input type="number" value={ttl} onInput={(e) => setTtl(e.currentTarget.value)} class="narrow" data-testid="command-ttl" />
        </label>
        <button class="primary" disabled={action.busy || !text.trim()} data-testid="command-queue">
          Queue
        </button>
      </form>
      <ProblemBox error={action.error ?? commands.error} onClose={action.error ? () => action.setError(null) : undefined} />
      <table class="grid" data-testid="commands-table">
        <thead>
          <tr>
            <th>Command</th>
            <th>State</th>
            <th>Queued</th>
            <th>Expires</th>
            <th>Sent</th>
            <th>Acknowledged</th>
            <th>Response</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {commands.data?.items.map((c) => (
            <tr key={c.id} data-command={c.text} data-state={c.state}>
              <td class="mono">{c.text}</td>
              <td>
                <span class={`badge ${c.state === 'acknowledged' ? 'good' : c.state === 'expired' ? 'bad' : 'warn'}`}>{c.state}</span>
              </td>
              <td>{formatTime(c.createdAt)}</td>
              <td>{formatTime(c.expiresAt)}</td>
              <td>{formatTime(c.sentAt)}</td>
              <td>{formatTime(c.ackedAt)}</td>
              <td class="mono" data-testid="command-response">
                {c.response ?? ''}
              </td>
              <td>
                {c.state === 'pending' && (
                  <button class="danger" onClick={() => action.run(async () => (await api('DELETE', `/api/devices/${props.id}/commands/${c.id}`), commands.reload()))}>
                    Cancel
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {commands.data?.items.length === 0 && <p class="muted">No command yet.</p>}
    </div>
  );
}

interface ServerRecord {
  type?: string;
  source?: string;
  protocol?: string;
  connection_id?: string;
  connection_duration?: number;
}

export function EventsTab(props: { id: string; events: DeviceEvents }) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const history = useLoad(
    (signal) => get<Page<DataPoint>>(`/api/devices/${props.id}/data${query({ type: '_server', order: 'desc', limit: 50, cursor: cursor ?? undefined })}`, signal),
    [props.id, cursor],
  );
  const [recent, setRecent] = useState<{ name: string; time: string; text: string }[]>([]);
  useDeviceEvent(props.events, (e) => {
    if (e.name === 'record' || e.name === 'ready') {
      if ((e.name === 'ready' || e.data.type === '_server') && cursors.length === 1) history.reload();
      return;
    }
    const { time, ...rest } = e.data;
    setRecent((r) => [{ name: e.name, time: new Date(Number(time) * 1000).toISOString(), text: JSON.stringify(rest) }, ...r].slice(0, 50));
  });
  return (
    <div class="card">
      <h2>Live</h2>
      {recent.length === 0 ? (
        <p class="muted">Events of this device appear here as they happen.</p>
      ) : (
        <ul class="events" data-testid="live-events">
          {recent.map((e, i) => (
            <li key={i}>
              <span class="muted">{formatTime(e.time)}</span> <strong>{e.name}</strong> <span class="mono small">{e.text}</span>
            </li>
          ))}
        </ul>
      )}
      <h2>Connections</h2>
      <ProblemBox error={history.error} />
      <table class="grid" data-testid="connection-events">
        <thead>
          <tr>
            <th>Time</th>
            <th>Event</th>
            <th>Protocol</th>
            <th>Source</th>
            <th>Connection</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {history.data?.items.map((p) => {
            const r = (p.data ?? {}) as ServerRecord;
            return (
              <tr key={p.time}>
                <td>{formatTime(p.time)}</td>
                <td>{r.type ?? formatValue(p.data)}</td>
                <td>{r.protocol ?? ''}</td>
                <td class="mono">{r.source ?? ''}</td>
                <td class="mono small">{r.connection_id ?? ''}</td>
                <td>{r.connection_duration !== undefined ? `${r.connection_duration} s` : ''}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div class="pager">
        <button disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          ◀ Newer
        </button>
        <button disabled={!history.data?.next} onClick={() => setCursors([...cursors, history.data!.next])}>
          Older ▶
        </button>
      </div>
    </div>
  );
}

/** The setting that tells a device which firmware to fetch (it then reads it with ALIP F N / F G). */
export const firmwareSetting = 'firmware';

export function FirmwareTab(props: { id: string; events: DeviceEvents }) {
  const firmware = useLoad((signal) => get<FirmwareInfo[]>('/api/firmware', signal), []);
  const settings = useLoad((signal) => get<Record<string, SettingView>>(`/api/devices/${props.id}/settings`, signal), [props.id]);
  const action = useAction();
  useDeviceEvent(props.events, (e) => {
    if (e.name === 'setting_acknowledged' || e.name === 'ready') settings.reload();
  });
  const offered = settings.data?.[firmwareSetting];
  return (
    <div class="card">
      <p>
        Offering a firmware sets the device setting <code>{firmwareSetting}</code> to its name; the device fetches the file by name (ALIP <code>F N</code>,{' '}
        <code>F G</code>).
      </p>
      <p data-testid="firmware-offered">
        Offered:{' '}
        {offered ? (
          <>
            <strong class="mono">{offered.value}</strong> {offered.pending ? <span class="badge warn">pending</span> : <span class="badge good">acknowledged {formatTime(offered.ackedAt)}</span>}
          </>
        ) : (
          <span class="muted">nothing</span>
        )}
      </p>
      <ProblemBox error={firmware.error ?? settings.error ?? action.error} />
      <table class="grid">
        <thead>
          <tr>
            <th>Firmware</th>
            <th>Size</th>
            <th>Stored</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {firmware.data?.map((f) => (
            <tr key={f.id}>
              <td class="mono">{f.name}</td>
              <td>{formatBytes(f.size)}</td>
              <td>{formatTime(f.createdAt)}</td>
              <td>
                <button
                  class="primary"
                  disabled={action.busy || offered?.value === f.name}
                  onClick={() => action.run(async () => (await api('PUT', `/api/devices/${props.id}/settings`, { body: { [firmwareSetting]: f.name } }), settings.reload()))}
                >
                  Offer
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {firmware.data?.length === 0 && <p class="muted">No firmware stored (upload one under Files).</p>}
    </div>
  );
}
