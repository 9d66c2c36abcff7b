// The dashboard's map, loaded only when the dashboard shows it (dynamic import): on the
// staff pages' base map (src/shared-staff/basemap.ts: the configured style or the built-in one
// that needs no tile server, with the fallback between them) it draws our own GeoJSON: the
// incident region and the tasks as circles by priority and staffing.
import type { GeoJSONSource } from "maplibre-gl";
import type { MapConfig } from "../lib/config";
import { bounds, circle, createBaseMap, EMPTY, ring, type FeatureCollection, type MapLibreMap, type MapRegion, type Position } from "../shared-staff/basemap";

export type { MapRegion };

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

export interface TaskMap {
  update: (tasks: MapTask[], region: MapRegion | null) => void;
  destroy: () => void;
  /** The canvas, for tests and screenshots. */
  canvas: HTMLCanvasElement;
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

export function createTaskMap(
  container: HTMLElement,
  config: MapConfig,
  options: { interactive: boolean; label: string },
): TaskMap {
  let tasks: MapTask[] = [];
  let region: MapRegion | null = null;
  let fitted = false;

  const apply = () => {
    if (!base.ready()) return;
    const map = base.map;
    addOverlay(map);
    (map.getSource("tasks") as GeoJSONSource).setData(taskFeatures(tasks));
    (map.getSource("region") as GeoJSONSource).setData(region ? { type: "FeatureCollection", features: [circle(region)] } : EMPTY);
    // Tells screenshots and tests that what was just set has been drawn.
    const drawn = String(tasks.length);
    map.once("idle", () => {
      container.dataset.drawnTasks = drawn;
    });
    const box = bounds([...tasks.map((t): Position => [t.longitude, t.latitude]), ...(region ? ring(region) : [])]);
    if (!fitted && box) {
      const [[west, south], [east, north]] = box;
      if (west === east && south === north) map.jumpTo({ center: [west, south], zoom: 13 });
      else map.fitBounds(box, { padding: 30, animate: false, maxZoom: 14 });
      fitted = true;
    }
  };

  const base = createBaseMap(container, config, { ...options, onStyle: apply });

  return {
    canvas: base.map.getCanvas(),
    update(nextTasks, nextRegion) {
      tasks = nextTasks;
      region = nextRegion;
      apply();
    },
    destroy: base.destroy,
  };
}
