// One device: status, capabilities, sensors, latest values (live), and tabs for history, track,
// settings, commands, connection events and firmware.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, get, type DeviceView, type LatestPoint, type ListedSensor } from '../api';
import { openLive, type LiveEvent, type LiveState } from '../live';
import { Store, useStore } from '../store';
import { Link, ProblemBox, formatAgo, formatTime, formatValue, navigate, useAction, useLoad } from '../ui';
import { CommandsTab, EventsTab, FirmwareTab, HistoryTab, SettingsTab, TrackTab } from './device-tabs';

export type DeviceEvents = Store<(LiveEvent & { seq: number }) | null>;

const tabs: [string, string][] = [
  ['overview', 'Overview'],
  ['history', 'History'],
  ['track', 'Track'],
  ['settings', 'Settings'],
  ['commands', 'Commands'],
  ['events', 'Events'],
  ['firmware', 'Firmware'],
];

export function DevicePage(props: { id: string; tab: string }) {
  const { id, tab } = props;
  const device = useLoad((signal) => get<DeviceView>(`/api/devices/${id}`, signal), [id]);
  const latest = useLoad((signal) => get<Record<string, LatestPoint>>(`/api/devices/${id}/data/latest`, signal), [id]);
  const events: DeviceEvents = useMemo(() => new Store<(LiveEvent & { seq: number }) | null>(null), [id]);
  const [live, setLive] = useState<LiveState>('connecting');

  useEffect(() => {
    let seq = 0;
    return openLive(`/api/devices/${id}/events?records=true`, {
      onState: setLive,
      // Subscribed first, read second: what was stored before the stream began is in the re-read.
      onReady: () => {
        device.reload();
        latest.reload();
        events.value = { name: 'ready', data: {}, seq: ++seq };
      },
      onEvent: (e) => {
        events.value = { ...e, seq: ++seq };
        if (e.name === 'record') {
          const type = String(e.data.type);
          const point = { time: String(e.data.time), data: e.data.data };
          latest.update((current = {}) => (!current[type] || current[type].time <= point.time ? { ...current, [type]: point } : current));
        } else if (e.name === 'device_identified' || e.name === 'device_connected' || e.name === 'device_disconnected') {
          device.reload();
        }
      },
    });
  }, [id]);

  if (device.error && !device.data) {
    return (
      <section>
        <p>
          <Link href="/fleet">← Fleet</Link>
        </p>
        <ProblemBox error={device.error} />
      </section>
    );
  }
  const d = device.data;
  return (
    <section>
      <div class="toolbar">
        <Link href="/fleet">← Fleet</Link>
        <h1 data-testid="device-title">{d ? d.displayName || d.ident : '…'}</h1>
        {d && (
          <span class={`badge ${d.connected ? 'good' : ''}`} data-testid="device-connected">
            {d.connected ? 'online' : 'offline'}
          </span>
        )}
        {d && <span class="muted">last seen {formatAgo(d.lastSeen)}</span>}
        <span class="spacer" />
        <span class={`live ${live}`}>{live === 'live' ? '● live' : '○ connecting'}</span>
      </div>
      <nav class="tabs">
        {tabs.map(([key, label]) => (
          <Link key={key} href={`/devices/${id}${key === 'overview' ? '' : `/${key}`}`} class={tab === key ? 'active' : ''} data-testid={`tab-${key}`}>
            {label}
          </Link>
        ))}
      </nav>
      {tab === 'overview' && d && <Overview device={d} latest={latest.data} latestError={latest.error} onChanged={device.reload} />}
      {tab === 'history' && <HistoryTab id={id} types={Object.keys(latest.data ?? {})} events={events} />}
      {tab === 'track' && <TrackTab id={id} events={events} />}
      {tab === 'settings' && <SettingsTab id={id} events={events} />}
      {tab === 'commands' && <CommandsTab id={id} events={events} />}
      {tab === 'events' && <EventsTab id={id} events={events} />}
      {tab === 'firmware' && <FirmwareTab id={id} events={events} />}
    </section>
  );
}

function Overview(props: { device: DeviceView; latest?: Record<string, LatestPoint>; latestError?: unknown; onChanged: () => void }) {
  const { device } = props;
  const status = useLoad((signal) => get<Record<string, string>>(`/api/devices/${device.id}/status`, signal), [device.id, device.connected]);
  const sensors = useLoad((signal) => get<ListedSensor[]>(`/api/devices/${device.id}/sensors`, signal), [device.id]);
  const [name, setName] = useState(device.displayName ?? '');
  const action = useAction();
  const capabilities = status.data?.cap?.split(/[,\s]+/).filter(Boolean) ?? [];
  const values = Object.entries(props.latest ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div class="columns">
      <div class="card">
        <h2>Device</h2>
        <dl class="facts">
          <dt>Ident</dt>
          <dd data-testid="device-ident">{device.ident}</dd>
          <dt>Id</dt>
          <dd class="mono small">{device.id}</dd>
          <dt>Domain</dt>
          <dd>{device.domain}</dd>
          <dt>Online</dt>
          <dd>{device.connected ? 'yes' : 'no'}</dd>
          <dt>Last seen</dt>
          <dd>{formatTime(device.lastSeen)}</dd>
        </dl>
        <form
          class="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await action.run(() => api('PATCH', `/api/devices/${device.id}`, { body: { displayName: name } }))) props.onChanged();
          }}
        >
          <label>
            Name <input value={name} onInput={(e) => setName(e.currentTarget.value)} maxLength={200} data-testid="device-name" />
          </label>
          <button disabled={action.busy}>Rename</button>
          <button
            type="button"
            disabled={action.busy || !device.connected}
            onClick={() => action.run(() => api('POST', `/api/devices/${device.id}/disconnect`))}
          >
            Disconnect
          </button>
          <button
            type="button"
            class="danger"
            disabled={action.busy}
            onClick={async () => {
              if (confirm(`Delete ${device.ident}? Its data stays in storage but the device disappears.`)) {
                if (await action.run(() => api('DELETE', `/api/devices/${device.id}`))) navigate('/fleet');
              }
            }}
          >
            Delete
          </button>
        </form>
        <ProblemBox error={action.error} />
        <h3>Capabilities</h3>
        {capabilities.length ? (
          <p>
            {capabilities.map((c) => (
              <span class="chip" key={c}>
                {c}
              </span>
            ))}
          </p>
        ) : (
          <p class="muted">None reported.</p>
        )}
        <h3>Status</h3>
        <ProblemBox error={status.error} />
        <table class="grid small">
          <tbody>
            {Object.entries(status.data ?? {}).map(([k, v]) => (
              <tr key={k}>
                <td class="mono">{k}</td>
                <td>{v}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h3>Listed sensors</h3>
        <ProblemBox error={sensors.error} />
        {sensors.data?.length ? (
          <table class="grid small">
            <thead>
              <tr>
                <th>Sensor</th>
                <th>First seen</th>
                <th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              {sensors.data.map((s) => (
                <tr key={s.name}>
                  <td class="mono">{s.name}</td>
                  <td>{formatTime(s.firstSeen)}</td>
                  <td>{formatTime(s.lastSeen)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="muted">None listed.</p>
        )}
      </div>
      <div class="card">
        <h2>Latest values</h2>
        <ProblemBox error={props.latestError} />
        <table class="grid" data-testid="latest-values">
          <thead>
            <tr>
              <th>Type</th>
              <th>Value</th>
              <th>Time</th>
            </tr>
          </thead>
          <tbody>
            {values.map(([type, v]) => (
              <tr key={type} data-type={type}>
                <td class="mono">
                  <Link href={`/devices/${device.id}/history?type=${encodeURIComponent(type)}`}>{type}</Link>
                </td>
                <td>{formatValue(v.data)}</td>
                <td title={v.time}>{formatTime(v.time)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {values.length === 0 && <p class="muted">No record yet.</p>}
      </div>
    </div>
  );
}

/** Calls <paramref name="handler"/> for each live event of the device page. */
export function useDeviceEvent(events: DeviceEvents, handler: (e: LiveEvent) => void) {
  const e = useStore(events);
  useEffect(() => {
    if (e) handler(e);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [e?.seq]);
}
