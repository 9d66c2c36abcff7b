// The dashboard's map, loaded only when the dashboard shows it (dynamic import): MapLibre GL
// is larger than the rest of the page together. Without a configured style it draws a plain
// background with our own GeoJSON (the incident region and the tasks as circles by priority and
// staffing), so it works with no tile server at all; with config.map.styleUrl it adds the same
// layers on top of that basemap, and falls back to the plain style when the basemap fails.
//
// MapLibre GL 5 (one bundle with its worker, which it starts from a blob: URL; the web
// service's CSP allows `worker-src blob:`): 275 KB gzipped against 460 KB for version 6's
// split main and worker bundles, which would break the dashboard's 350 KB budget.
import maplibregl, { type GeoJSONSource, type Map as MapLibreMap, type StyleSpecification } from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import type { MapConfig } from "../lib/config";

const { AttributionControl, Map: MapClass, NavigationControl } = maplibregl;

export interface MapTask {
  id: string;
  title: string;
  latitude: number;
  longitude: number;
  colour: string;
  /** Accepted volunteers reach the headcount. */
  staffed: boolean;
  needed: number;
}

export interface MapRegion {
  latitude: number;
  longitude: number;
  radiusKm: number;
}

export interface TaskMap {
  update: (tasks: MapTask[], region: MapRegion | null) => void;
  destroy: () => void;
  /** The canvas, for tests and screenshots. */
  canvas: HTMLCanvasElement;
}

// Just the GeoJSON shapes this map draws (RFC 7946).
type Position = [number, number];
interface Feature {
  type: "Feature";
  id?: string;
  properties: Record<string, unknown>;
  geometry: { type: "Point"; coordinates: Position } | { type: "Polygon"; coordinates: Position[][] };
}
interface FeatureCollection {
  type: "FeatureCollection";
  features: Feature[];
}

const EMPTY: FeatureCollection = { type: "FeatureCollection", features: [] };

/** A polygon approximating a circle of `radiusKm` around a point (64 vertices). */
function ring(region: MapRegion): Position[] {
  const points: Position[] = [];
  const latRad = (region.latitude * Math.PI) / 180;
  const dLat = region.radiusKm / 111.32;
  const dLon = region.radiusKm / (111.32 * Math.max(Math.cos(latRad), 0.01));
  for (let i = 0; i <= 64; i++) {
    const a = (i / 64) * 2 * Math.PI;
    points.push([region.longitude + dLon * Math.cos(a), region.latitude + dLat * Math.sin(a)]);
  }
  return points;
}

function circle(region: MapRegion): Feature {
  return { type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: [ring(region)] } };
}

function taskFeatures(tasks: MapTask[]): FeatureCollection {
  return {
    type: "FeatureCollection",
    features: tasks.map((t) => ({
      type: "Feature",
      id: t.id,
      properties: { title: t.title, colour: t.colour, staffed: t.staffed, needed: t.needed },
      geometry: { type: "Point", coordinates: [t.longitude, t.latitude] },
    })),
  };
}

/** Our sources and layers, on top of whatever basemap. */
function addOverlay(map: MapLibreMap): void {
  if (!map.getSource("region")) map.addSource("region", { type: "geojson", data: EMPTY });
  if (!map.getSource("tasks")) map.addSource("tasks", { type: "geojson", data: EMPTY });
  if (!map.getLayer("region-fill"))
    map.addLayer({ id: "region-fill", type: "fill", source: "region", paint: { "fill-color": "#14324f", "fill-opacity": 0.08 } });
  if (!map.getLayer("region-line"))
    map.addLayer({ id: "region-line", type: "line", source: "region", paint: { "line-color": "#14324f", "line-width": 2, "line-dasharray": [2, 2] } });
  if (!map.getLayer("tasks"))
    map.addLayer({
      id: "tasks",
      type: "circle",
      source: "tasks",
      paint: {
        "circle-color": ["get", "colour"],
        "circle-radius": ["interpolate", ["linear"], ["get", "needed"], 1, 9, 10, 14, 100, 22],
        "circle-opacity": 0.95,
        // Staffed tasks get a thick green ring; tasks still short of people a thin white one.
        "circle-stroke-color": ["case", ["get", "staffed"], "#1f7a33", "#ffffff"],
        "circle-stroke-width": ["case", ["get", "staffed"], 5, 2],
      },
    });
}

function builtInStyle(): StyleSpecification {
  return {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#e4ebef" } }],
  };
}

export function createTaskMap(
  container: HTMLElement,
  config: MapConfig,
  options: { interactive: boolean; label: string },
): TaskMap {
  const map: MapLibreMap = new MapClass({
    container,
    style: config.styleUrl || builtInStyle(),
    center: [10.45, 51.16],
    zoom: 5,
    interactive: options.interactive,
    attributionControl: false,
    // Lets tests and screenshots read the drawn pixels back.
    canvasContextAttributes: { preserveDrawingBuffer: true },
    fadeDuration: 0,
  });
  map.addControl(new AttributionControl({ compact: false, customAttribution: config.attribution || undefined }));
  if (options.interactive) map.addControl(new NavigationControl({ showCompass: false }));
  map.getCanvas().setAttribute("aria-label", options.label);

  let tasks: MapTask[] = [];
  let region: MapRegion | null = null;
  let fitted = false;
  let ready = false;

  const apply = () => {
    if (!ready) return;
    addOverlay(map);
    (map.getSource("tasks") as GeoJSONSource).setData(taskFeatures(tasks));
    (map.getSource("region") as GeoJSONSource).setData(region ? { type: "FeatureCollection", features: [circle(region)] } : EMPTY);
    // Tells screenshots and tests that what was just set has been drawn.
    const drawn = String(tasks.length);
    map.once("idle", () => {
      container.dataset.drawnTasks = drawn;
    });
    if (!fitted && (region || tasks.length)) {
      const lons = tasks.map((t) => t.longitude);
      const lats = tasks.map((t) => t.latitude);
      if (region) {
        const points = ring(region);
        lons.push(...points.map((p) => p[0]));
        lats.push(...points.map((p) => p[1]));
      }
      const west = Math.min(...lons);
      const east = Math.max(...lons);
      const south = Math.min(...lats);
      const north = Math.max(...lats);
      if (west === east && south === north) map.jumpTo({ center: [west, south], zoom: 13 });
      else map.fitBounds([[west, south], [east, north]], { padding: 30, animate: false, maxZoom: 14 });
      fitted = true;
    }
  };

  // A configured basemap that does not load (no tile server reachable) must not leave a blank
  // map: switch to the built-in style and keep our layers.
  let fellBack = !config.styleUrl;
  const fallBack = () => {
    if (fellBack) return;
    fellBack = true;
    console.warn("map style failed to load; using the built-in style");
    map.setStyle(builtInStyle());
  };
  const fallbackTimer = config.styleUrl ? setTimeout(() => !ready && fallBack(), 8000) : undefined;
  map.on("error", (event) => {
    if (!ready && !fellBack) {
      console.warn("map error", event.error);
      fallBack();
    }
  });
  map.on("style.load", () => {
    ready = true;
    clearTimeout(fallbackTimer);
    apply();
  });

  return {
    canvas: map.getCanvas(),
    update(nextTasks, nextRegion) {
      tasks = nextTasks;
      region = nextRegion;
      apply();
    },
    destroy() {
      clearTimeout(fallbackTimer);
      map.remove();
    },
  };
}
