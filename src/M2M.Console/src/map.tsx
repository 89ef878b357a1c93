// Leaflet maps: tiles from the configured tile server (M2M:Console:Tiles) or, with none, an offline
// graticule drawn in the browser, so that positions are usable with no network at all.
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import { useEffect, useRef } from 'preact/hooks';
import { get, type ConsoleConfig } from './api';

let config: Promise<ConsoleConfig> | null = null;

/** The console's settings from the server (read once per page load). */
export function consoleConfig(): Promise<ConsoleConfig> {
  config ??= get<ConsoleConfig>('/api/console/config').catch((e) => {
    config = null;
    throw e;
  });
  return config;
}

/** Lines of latitude and longitude, drawn on canvas tiles, labelled; spacing follows the zoom. */
const Graticule = L.GridLayer.extend({
  createTile(coords: L.Coords) {
    const tile = document.createElement('canvas');
    const size = (this as L.GridLayer).getTileSize();
    tile.width = size.x;
    tile.height = size.y;
    const ctx = tile.getContext('2d')!;
    const map = (this as unknown as { _map: L.Map })._map;
    const nw = map.unproject([coords.x * size.x, coords.y * size.y], coords.z);
    const se = map.unproject([(coords.x + 1) * size.x, (coords.y + 1) * size.y], coords.z);
    const step = spacing(coords.z);
    ctx.strokeStyle = 'rgba(31, 78, 121, 0.25)';
    ctx.fillStyle = 'rgba(31, 78, 121, 0.7)';
    ctx.font = '10px system-ui, sans-serif';
    ctx.lineWidth = 1;
    const toPixel = (lat: number, lon: number) => {
      const p = map.project([lat, lon], coords.z);
      return [p.x - coords.x * size.x, p.y - coords.y * size.y];
    };
    for (let lon = Math.ceil(nw.lng / step) * step; lon <= se.lng; lon += step) {
      const [x] = toPixel(0, lon);
      ctx.beginPath();
      ctx.moveTo(x + 0.5, 0);
      ctx.lineTo(x + 0.5, size.y);
      ctx.stroke();
      if (coords.y % 3 === 0) ctx.fillText(`${round(lon)}°`, x + 3, 11);
    }
    for (let lat = Math.ceil(se.lat / step) * step; lat <= nw.lat; lat += step) {
      const [, y] = toPixel(lat, 0);
      ctx.beginPath();
      ctx.moveTo(0, y + 0.5);
      ctx.lineTo(size.x, y + 0.5);
      ctx.stroke();
      if (coords.x % 3 === 0) ctx.fillText(`${round(lat)}°`, 3, y - 3);
    }
    if (Math.abs(se.lat) < 0.0001 || (nw.lat > 0 && se.lat < 0)) {
      const [, y] = toPixel(0, 0);
      ctx.strokeStyle = 'rgba(31, 78, 121, 0.5)';
      ctx.beginPath();
      ctx.moveTo(0, y + 0.5);
      ctx.lineTo(size.x, y + 0.5);
      ctx.stroke();
    }
    return tile;
  },
});

function spacing(zoom: number): number {
  const nice = [45, 30, 15, 10, 5, 2, 1, 0.5, 0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.0025, 0.001, 0.0005, 0.00025, 0.0001];
  const wanted = 360 / 2 ** (zoom + 1);
  return nice.find((n) => n <= wanted) ?? 0.0001;
}

function round(value: number): string {
  return String(Math.round(value * 10000) / 10000);
}

/** A Leaflet map in a div, with the configured tiles or the offline graticule. */
export function useLeaflet(onReady: (map: L.Map, offline: boolean) => void | (() => void)) {
  const element = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let disposed = false;
    let cleanup: void | (() => void);
    let map: L.Map | null = null;
    consoleConfig()
      .catch(() => ({ tiles: null }) as ConsoleConfig)
      .then((cfg) => {
        if (disposed || !element.current) return;
        map = L.map(element.current, { zoomControl: true, attributionControl: true, worldCopyJump: true });
        if (cfg.tiles) {
          L.tileLayer(cfg.tiles.url, { maxZoom: cfg.tiles.maxZoom, attribution: cfg.tiles.attribution }).addTo(map);
        } else {
          new (Graticule as unknown as new (options: L.GridLayerOptions) => L.GridLayer)({ maxZoom: 19, attribution: 'offline map: graticule (no tile server configured)' }).addTo(map);
          element.current.classList.add('offline-map');
        }
        map.setView([20, 0], 2);
        cleanup = onReady(map, !cfg.tiles);
      });
    return () => {
      disposed = true;
      if (typeof cleanup === 'function') cleanup();
      map?.remove();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return element;
}

/** Fits the map to the points (one point: a fixed zoom around it). */
export function fit(map: L.Map, points: L.LatLngExpression[]) {
  if (points.length === 0) return;
  if (points.length === 1) map.setView(points[0], Math.max(map.getZoom(), 13));
  else map.fitBounds(L.latLngBounds(points), { padding: [30, 30], maxZoom: 16 });
}

export { L };
