// A task's check-in code (MatchingService.GetCheckInCode) for the coordinator to show at the
// meeting point: six digits to type and a QR code to scan. The code rotates (every 10 minutes);
// the panel fetches the next one when it takes over. The QR encoder is loaded only when a
// code is shown.
import { useEffect, useState } from "preact/hooks";
import type { GetCheckInCodeResponse } from "../gen/spontan/v1/matching_pb";
import { formatTime, toDate } from "../shared-staff/format";
import type { ConsoleProps } from "./incidents";
import { ErrorNotice } from "./ui";

/** One SVG path of the dark modules: crisp at any size, no inline markup. */
function qrPath(data: boolean[][]): string {
  let d = "";
  data.forEach((row, y) => row.forEach((dark, x) => dark && (d += `M${x} ${y}h1v1h-1z`)));
  return d;
}

export function CheckInCode(props: ConsoleProps & { taskId: string; title: string }) {
  const { t, api, locale } = props;
  const [code, setCode] = useState<GetCheckInCodeResponse | null>(null);
  const [qr, setQr] = useState<{ size: number; path: string } | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const response = await api.matching.getCheckInCode({ taskId: props.taskId });
        if (stopped) return;
        setCode(response);
        setError(null);
        const { encode } = await import("uqr");
        const matrix = encode(response.qrText, { ecc: "M", border: 2 });
        if (!stopped) setQr({ size: matrix.size, path: qrPath(matrix.data) });
        const rotates = toDate(response.rotatesAt)?.getTime() ?? Date.now() + 60000;
        timer = setTimeout(load, Math.max(1000, rotates - Date.now() + 500));
      } catch (e) {
        if (stopped || props.onAuthError(e)) return;
        setError(e);
        timer = setTimeout(load, 10000);
      }
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, props.taskId]);

  return (
    <div class="checkin-code" role="region" aria-label={t("checkin.title", { title: props.title })}>
      <ErrorNotice t={t} error={error} />
      {!code && !error && <p>{t("common.loading")}</p>}
      {code && (
        <>
          <p class="checkin-code__digits" data-testid="check-in-code">
            <span class="visually-hidden">{t("checkin.digits")} </span>
            <span>{code.code.slice(0, 3)}</span>
            <span>{code.code.slice(3)}</span>
          </p>
          {qr && (
            <svg
              class="checkin-code__qr"
              viewBox={`0 0 ${qr.size} ${qr.size}`}
              role="img"
              aria-label={t("checkin.qr")}
              shape-rendering="crispEdges"
            >
              <rect width={qr.size} height={qr.size} fill="#fff" />
              <path d={qr.path} fill="#000" />
            </svg>
          )}
          <p class="hint">{t("checkin.rotates", { time: formatTime(toDate(code.rotatesAt), locale) })}</p>
        </>
      )}
    </div>
  );
}
