// New tokens for the volunteer's session (session.ts): RefreshSession with the refresh token,
// or RenewMyToken for a session stored before refresh tokens existed.
//
// One refresh at a time: in this tab a second caller gets the first one's answer, and across
// tabs a Web Lock lets one tab refresh while the others wait and then take what it stored.
// The server takes a refresh token once; presented twice it counts as a stolen copy.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { VolunteerClients } from "../lib/clients";
import { ms } from "./format";
import { loadSession, saveSession, type Session } from "./session";

/** When the server's answer names no expiry: the access token lifetime it is configured with by default. */
const DEFAULT_ACCESS_MS = 15 * 60_000;

/** The tokens of an answer that carries a session (Register, RefreshSession, SignOutEverywhere keeping this one). */
export interface SessionAnswer {
  accessToken: string;
  accessTokenExpiresAt?: Timestamp;
  refreshToken: string;
  refreshTokenExpiresAt?: Timestamp;
}

/** The session of `volunteerId` that `answer` carries, as of now. */
export function sessionOf(volunteerId: string, answer: SessionAnswer): Session {
  const now = Date.now();
  return {
    volunteerId,
    token: answer.accessToken,
    issuedAt: now,
    expiresAt: ms(answer.accessTokenExpiresAt) ?? now + DEFAULT_ACCESS_MS,
    refreshToken: answer.refreshToken || undefined,
    refreshExpiresAt: ms(answer.refreshTokenExpiresAt),
  };
}

let inFlight: Promise<Session> | null = null;

/** Renews `current`; the new session is stored before the promise resolves. */
export function renewSession(api: VolunteerClients, current: Session): Promise<Session> {
  return (inFlight ??= renew(api, current).finally(() => {
    inFlight = null;
  }));
}

async function renew(api: VolunteerClients, current: Session): Promise<Session> {
  const refreshToken = current.refreshToken;
  if (!refreshToken) {
    const r = await api.registration.renewMyToken({});
    const now = Date.now();
    const next = { ...current, token: r.accessToken, issuedAt: now, expiresAt: ms(r.accessTokenExpiresAt) ?? now + DEFAULT_ACCESS_MS };
    saveSession(next);
    return next;
  }
  const work = async (): Promise<Session> => {
    // Another tab refreshed while this one waited: its tokens are the session's now.
    const stored = loadSession();
    if (stored && stored.volunteerId === current.volunteerId && stored.refreshToken && stored.refreshToken !== refreshToken) {
      return stored;
    }
    const r = await api.registration.refreshSession({ refreshToken });
    const next = sessionOf(r.volunteerId, r);
    saveSession(next);
    return next;
  };
  return navigator.locks ? navigator.locks.request("spontan.session.refresh", work) : work();
}
