// A point picked on a map, beside the latitude and longitude inputs it fills (which stay: for
// keyboard and screen-reader users and for exact values). The map is loaded with import()
// only when shown (the console's first load stays small); whether it is shown is remembered,
// and it starts open on a desk-sized screen and closed on a phone or when data is to be saved.
import { useEffect, useRef, useState } from "preact/hooks";
import type { MapConfig } from "../lib/config";
import type { MapRegion } from "../shared-staff/basemap";
import { formatNumber } from "../shared-staff/format";
import { mountMap } from "../shared-staff/hooks";
import type { Locale } from "../lib/i18n";
import type { Point, PointMap } from "./pointmap";
import type { T } from "./ui";

const STORAGE_KEY = "spontan.console.map";

function initiallyOpen(): boolean {
  const remembered = localStorage.getItem(STORAGE_KEY);
  if (remembered) return remembered === "open";
  const saveData = (navigator as Navigator & { connection?: { saveData?: boolean } }).connection?.saveData;
  return !saveData && matchMedia("(min-width: 48rem)").matches;
}

/** A typed coordinate pair, or null while it is incomplete or out of range. */
export function parsePoint(lat: string, lon: string): Point | null {
  const latitude = Number(lat.replace(",", "."));
  const longitude = Number(lon.replace(",", "."));
  if (lat.trim() === "" || lon.trim() === "" || !Number.isFinite(latitude) || !Number.isFinite(longitude)) return null;
  if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return null;
  return { latitude, longitude };
}

export function MapPicker(props: {
  t: T;
  locale: Locale;
  config: MapConfig;
  /** Prefix of the element ids (the form's). */
  id: string;
  /** What the point is, e.g. "Meeting point": in the pin's label and the announcement. */
  what: string;
  lat: string;
  lon: string;
  region: MapRegion | null;
  onPick: (lat: string, lon: string) => void;
}) {
  const { t, locale } = props;
  const [open, setOpen] = useState(initiallyOpen);
  const [status, setStatus] = useState<"loading" | "ready" | string>("loading");
  const [announcement, setAnnouncement] = useState("");
  const container = useRef<HTMLDivElement>(null);
  const map = useRef<PointMap | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const bodyId = `${props.id}-map`;
  const helpId = `${props.id}-map-help`;

  const coordinates = (p: Point) => `${formatNumber(p.latitude, locale, 5)}, ${formatNumber(p.longitude, locale, 5)}`;

  useEffect(() => {
    if (!open) return;
    setStatus("loading");
    return mountMap(
      map,
      container,
      () => import("./pointmap"),
      ({ createPointMap }, element) => {
        const current = latest.current;
        const created = createPointMap(element, current.config, {
          label: t("pointMap.label", { what: current.what }),
          pinLabel: (p) => t("pointMap.pin", { what: latest.current.what, coordinates: coordinates(p) }),
          point: parsePoint(current.lat, current.lon),
          region: current.region,
          onPick: (p) => {
            latest.current.onPick(String(p.latitude), String(p.longitude));
            setAnnouncement(t("pointMap.picked", { what: latest.current.what, coordinates: coordinates(p) }));
          },
        });
        created.canvas.setAttribute("aria-describedby", helpId);
        return created;
      },
      setStatus,
    );
  }, [open]);

  // Typed values move the pin.
  useEffect(() => {
    map.current?.setPoint(parsePoint(props.lat, props.lon));
  }, [props.lat, props.lon, status]);

  const regionKey = JSON.stringify(props.region);
  useEffect(() => {
    map.current?.setRegion(props.region);
  }, [regionKey, status]);

  const toggle = () => {
    localStorage.setItem(STORAGE_KEY, open ? "closed" : "open");
    setOpen(!open);
  };

  return (
    <div class="point-picker">
      <button type="button" class="button button--small" aria-expanded={open} aria-controls={bodyId} onClick={toggle}>
        {open ? t("pointMap.hide") : t("pointMap.show")}
      </button>
      {open && (
        <div id={bodyId} class="point-picker__body">
          <p id={helpId} class="hint">
            {t("pointMap.help", { what: props.what })}
          </p>
          <div class="point-picker__frame">
            <div ref={container} class="point-map" data-status={status} data-testid={`${props.id}-map-canvas`} />
            <span class="point-picker__crosshair" aria-hidden="true" />
            {status === "loading" && <p class="point-picker__status">{t("pointMap.loading")}</p>}
            {status !== "loading" && status !== "ready" && (
              <p class="point-picker__status" role="alert">
                {t("pointMap.failed", { message: status })}
              </p>
            )}
          </div>
          <div class="row">
            <button type="button" class="button button--small" disabled={status !== "ready"} onClick={() => map.current?.centre()}>
              {t("pointMap.useCentre", { what: props.what })}
            </button>
          </div>
          <p class="visually-hidden" aria-live="polite">
            {announcement}
          </p>
        </div>
      )}
    </div>
  );
}
