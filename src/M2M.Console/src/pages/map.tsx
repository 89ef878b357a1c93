// The fleet on a map: the last position of each device (newest first, up to 5,000), moved live.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, query, type FleetMarker } from '../api';
import { openLive, type LiveState } from '../live';
import { L, fit, useLeaflet } from '../map';
import { ProblemBox, formatTime, navigate } from '../ui';

interface Positions {
  items: FleetMarker[];
  total: number;
}

const limit = 5000;

export function MapPage() {
  const [q, setQ] = useState('');
  const [search, setSearch] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [summary, setSummary] = useState('');
  const [live, setLive] = useState<LiveState>('connecting');
  const mapRef = useRef<L.Map | null>(null);
  const layer = useRef<L.LayerGroup | null>(null);
  const markers = useRef(new Map<string, L.CircleMarker>());
  const [ready, setReady] = useState(false);
  const svg = useRef(L.svg()).current;
  const canvas = useRef(L.canvas()).current;

  const element = useLeaflet((map) => {
    mapRef.current = map;
    layer.current = L.layerGroup().addTo(map);
    setReady(true);
  });

  useEffect(() => {
    const t = setTimeout(() => setSearch(q.trim()), 300);
    return () => clearTimeout(t);
  }, [q]);

  const place = (m: FleetMarker) => {
    let marker = markers.current.get(m.id);
    const style = { className: `device-marker dev-${m.id}`, radius: 6, weight: 2, color: m.connected ? '#1e7b34' : '#5b6b7a', fillColor: m.connected ? '#3cba54' : '#9aa7b3', fillOpacity: 0.9 };
    if (!marker) {
      // SVG markers (one DOM element each, easy to inspect) up to 2,000 devices, canvas beyond.
      marker = L.circleMarker([m.lat, m.lon], { ...style, renderer: markers.current.size < 2000 ? svg : canvas }).addTo(layer.current!);
      marker.on('click', () => navigate(`/devices/${m.id}`));
      markers.current.set(m.id, marker);
    } else {
      marker.setLatLng([m.lat, m.lon]);
      marker.setStyle(style);
    }
    marker.bindTooltip(`${m.displayName ? `${m.displayName} · ` : ''}${m.ident}<br>${formatTime(m.time)}`);
    (marker as unknown as { options: { device: FleetMarker } }).options.device = m;
  };

  useEffect(() => {
    if (!ready) return;
    const controller = new AbortController();
    setError(null);
    get<Positions>(`/api/fleet/positions${query({ q: search, limit })}`, controller.signal).then(
      (data) => {
        layer.current!.clearLayers();
        markers.current.clear();
        data.items.forEach(place);
        setSummary(
          data.total === 0
            ? 'No device has a position yet.'
            : data.total > data.items.length
              ? `${data.items.length.toLocaleString()} newest of ${data.total.toLocaleString()} positions`
              : `${data.total.toLocaleString()} devices with a position`,
        );
        fit(mapRef.current!, data.items.map((m) => [m.lat, m.lon] as L.LatLngTuple));
      },
      (e) => e?.name !== 'AbortError' && setError(e),
    );
    return () => controller.abort();
  }, [ready, search]);

  useEffect(() => {
    if (!ready) return;
    return openLive(`/api/events${query({ events: 'all', records: true, type: ['sen:loc'] })}`, {
      onState: setLive,
      onEvent: ({ name, data }) => {
        const id = String(data.device_id ?? '');
        const marker = markers.current.get(id);
        const known = marker && (marker as unknown as { options: { device: FleetMarker } }).options.device;
        if (!known) return;
        if (name === 'record') {
          const loc = data.data as { lat?: number; lon?: number };
          if (typeof loc?.lat === 'number' && typeof loc?.lon === 'number') place({ ...known, lat: loc.lat, lon: loc.lon, time: String(data.time) });
        } else if (name === 'device_identified') place({ ...known, connected: true });
        else if (name === 'device_disconnected') place({ ...known, connected: false });
      },
    });
  }, [ready]);

  return (
    <section class="map-page">
      <div class="toolbar">
        <h1>Map</h1>
        <input type="search" placeholder="Search ident or name" value={q} onInput={(e) => setQ(e.currentTarget.value)} aria-label="Search ident or name" />
        <span class="muted" data-testid="map-summary">
          {summary}
        </span>
        <span class="spacer" />
        <span class={`live ${live}`}>{live === 'live' ? '● live' : '○ connecting'}</span>
      </div>
      <ProblemBox error={error} />
      <div ref={element} class="map big" data-testid="fleet-map" />
    </section>
  );
}
