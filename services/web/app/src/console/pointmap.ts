// The map of the console's forms on which a coordinator places a point (a task's meeting
// point, an incident's centre), loaded with import() when a form shows it. A click on the map
// puts the pin there, the pin can be dragged, and `centre()` puts it in the middle of the view
// (the keyboard way: the map pans with the arrow keys). The incident region is drawn as a
// dashed circle for orientation. Every move is reported through `onPick`; `setPoint` moves the
// pin to typed values.
import type { GeoJSONSource } from "maplibre-gl";
import type { MapConfig } from "../lib/config";
import { bounds, circle, createBaseMap, EMPTY, maplibregl, ring, type MapRegion, type Position } from "../shared-staff/basemap";

export interface Point {
  latitude: number;
  longitude: number;
}

export interface PointMap {
  /** Moves the pin (typed values) and brings it into view; null removes it. */
  setPoint: (point: Point | null) => void;
  /** The incident region or the incident's radius around the point. */
  setRegion: (region: MapRegion | null) => void;
  /** Puts the pin at the centre of the view and reports it. */
  centre: () => void;
  destroy: () => void;
  canvas: HTMLCanvasElement;
}

/** Six decimals: about 0.1 m, more than any meeting point needs. */
export function rounded(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

export function createPointMap(
  container: HTMLElement,
  config: MapConfig,
  options: {
    label: string;
    pinLabel: (point: Point) => string;
    point: Point | null;
    region: MapRegion | null;
    onPick: (point: Point) => void;
  },
): PointMap {
  let point = options.point;
  let region = options.region;

  const drawRegion = () => {
    if (!base.ready()) return;
    const map = base.map;
    if (!map.getSource("region")) map.addSource("region", { type: "geojson", data: EMPTY });
    if (!map.getLayer("region-fill"))
      map.addLayer({ id: "region-fill", type: "fill", source: "region", paint: { "fill-color": "#14324f", "fill-opacity": 0.06 } });
    if (!map.getLayer("region-line"))
      map.addLayer({ id: "region-line", type: "line", source: "region", paint: { "line-color": "#14324f", "line-width": 2, "line-dasharray": [2, 2] } });
    (map.getSource("region") as GeoJSONSource).setData(region ? { type: "FeatureCollection", features: [circle(region)] } : EMPTY);
    map.once("idle", () => {
      container.dataset.ready = "true";
    });
  };

  // The first view: the region and the point; Germany when there is neither.
  const box = bounds([...(region ? ring(region) : []), ...(point ? [[point.longitude, point.latitude] as Position] : [])]);
  const base = createBaseMap(container, config, {
    interactive: true,
    label: options.label,
    onStyle: drawRegion,
    center: point ? [point.longitude, point.latitude] : undefined,
    zoom: point ? 13 : undefined,
  });
  const map = base.map;
  if (box && (box[0][0] !== box[1][0] || box[0][1] !== box[1][1])) map.fitBounds(box, { padding: 24, animate: false, maxZoom: 15 });

  // The pin: MapLibre's own marker, described for screen readers as what it is (an image of
  // the chosen point, not a button: the inputs and the centre button are the controls).
  const marker = new maplibregl.Marker({ draggable: true, color: "#b3261e" });
  const element = marker.getElement();
  element.setAttribute("role", "img");
  element.classList.add("point-pin");
  let onMap = false;
  const describe = () => {
    if (point) element.setAttribute("aria-label", options.pinLabel(point));
  };

  const place = (next: Point, report: boolean) => {
    point = { latitude: rounded(next.latitude), longitude: rounded(next.longitude) };
    marker.setLngLat([point.longitude, point.latitude]);
    if (!onMap) marker.addTo(map);
    onMap = true;
    describe();
    if (report) options.onPick(point);
  };
  if (point) place(point, false);

  map.on("click", (event) => place({ latitude: event.lngLat.lat, longitude: event.lngLat.lng }, true));
  marker.on("dragend", () => {
    const at = marker.getLngLat();
    place({ latitude: at.lat, longitude: at.lng }, true);
  });

  return {
    canvas: map.getCanvas(),
    setPoint(next) {
      if (!next) {
        point = null;
        marker.remove();
        onMap = false;
        return;
      }
      if (point && rounded(next.latitude) === point.latitude && rounded(next.longitude) === point.longitude && onMap) return;
      const first = !onMap;
      place(next, false);
      // The first point typed: show its surroundings; typed out of view: follow the pin.
      if (first) map.jumpTo({ center: [next.longitude, next.latitude], zoom: Math.max(map.getZoom(), 11) });
      else if (!map.getBounds().contains([next.longitude, next.latitude])) map.jumpTo({ center: [next.longitude, next.latitude] });
    },
    setRegion(next) {
      region = next;
      drawRegion();
    },
    centre() {
      const c = map.getCenter();
      place({ latitude: c.lat, longitude: c.lng }, true);
    },
    destroy: base.destroy,
  };
}
