// The map both staff pages draw on, loaded only when a page shows a map (dynamic import of a
// module that imports this one): MapLibre GL is larger than the rest of a page together.
// Without a configured style it draws a plain background, so it works with no tile server at
// all (and in the tests); with config.map.styleUrl it loads that basemap, and falls back to
// the plain style when the basemap fails. Callers add their own GeoJSON layers in `onStyle`,
// which runs again after a fallback (a new style drops every layer).
//
// MapLibre GL 5 (one bundle with its worker, which it starts from a blob: URL; the web
// service's CSP allows `worker-src blob:`): 275 KB gzipped against 460 KB for version 6's
// split main and worker bundles, which would break the dashboard's 350 KB budget.
import maplibregl, { type Map as MapLibreMap, type StyleSpecification } from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import type { MapConfig } from "../lib/config";

export { maplibregl };
export type { MapLibreMap };

const { AttributionControl, Map: MapClass, NavigationControl } = maplibregl;

// Just the GeoJSON shapes these maps draw (RFC 7946).
export type Position = [number, number];
export interface Feature {
  type: "Feature";
  id?: string;
  properties: Record<string, unknown>;
  geometry: { type: "Point"; coordinates: Position } | { type: "Polygon"; coordinates: Position[][] };
}
export interface FeatureCollection {
  type: "FeatureCollection";
  features: Feature[];
}

export const EMPTY: FeatureCollection = { type: "FeatureCollection", features: [] };

export interface MapRegion {
  latitude: number;
  longitude: number;
  radiusKm: number;
}

/** A polygon approximating a circle of `radiusKm` around a point (64 vertices). */
export function ring(region: MapRegion): Position[] {
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

export function circle(region: MapRegion): Feature {
  return { type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: [ring(region)] } };
}

/** [[west, south], [east, north]] around points, or null for none. */
export function bounds(points: Position[]): [Position, Position] | null {
  if (points.length === 0) return null;
  const lons = points.map((p) => p[0]);
  const lats = points.map((p) => p[1]);
  return [
    [Math.min(...lons), Math.min(...lats)],
    [Math.max(...lons), Math.max(...lats)],
  ];
}

/** A style with only a background: the map of a deployment without a tile server. */
export function builtInStyle(): StyleSpecification {
  return {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#e4ebef" } }],
  };
}

export interface BaseMap {
  map: MapLibreMap;
  /** True once a style (the configured one or the fallback) has loaded. */
  ready: () => boolean;
  destroy: () => void;
}

/**
 * A map in `container` with the configured style (or the built-in one), attribution, zoom
 * buttons when interactive, and `label` on its canvas. `onStyle` runs whenever a style has
 * loaded: add sources and layers there.
 */
export function createBaseMap(
  container: HTMLElement,
  config: MapConfig,
  options: { interactive: boolean; label: string; onStyle: () => void; center?: Position; zoom?: number },
): BaseMap {
  const map: MapLibreMap = new MapClass({
    container,
    style: config.styleUrl || builtInStyle(),
    center: options.center ?? [10.45, 51.16],
    zoom: options.zoom ?? 5,
    interactive: options.interactive,
    attributionControl: false,
    // Lets tests and screenshots read the drawn pixels back.
    canvasContextAttributes: { preserveDrawingBuffer: true },
    fadeDuration: 0,
  });
  map.addControl(new AttributionControl({ compact: false, customAttribution: config.attribution || undefined }));
  if (options.interactive) map.addControl(new NavigationControl({ showCompass: false }));
  map.getCanvas().setAttribute("aria-label", options.label);

  let ready = false;
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
    options.onStyle();
  });

  return {
    map,
    ready: () => ready,
    destroy() {
      clearTimeout(fallbackTimer);
      map.remove();
    },
  };
}
