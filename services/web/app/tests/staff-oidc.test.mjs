// Staff sign-in at an OpenID Connect provider, in a real browser against the real suite: the
// console and the dashboard leave for the provider's login page, come back with a code, trade
// it (with the PKCE verifier) for tokens, and the services accept the provider's access token
// over gRPC-Web. Also: a refused sign-in, an account without a Spontan role, the access token
// renewed with the refresh token before it ends, and sign-out at the provider.
// The provider is tests/support/oidc-issuer.mjs, started by deploy/local/browser-test.sh.
// Run through deploy/local/browser-test.sh [tests/staff-oidc.test.mjs].
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DESKTOP, axeViolations, device, eventually, launch, screenshot, sql, suite } from "./support/browser.mjs";
import { openIncident, unique } from "./support/staff.mjs";

const ISSUER = process.env.SPONTAN_OIDC_ISSUER;
const ORG = "thw-ov-oidc";
const NORTH_SEA = { latitude: 54.1776, longitude: 7.8854 };

let browser;
before(async () => {
  assert.ok(ISSUER, "SPONTAN_OIDC_ISSUER is set by deploy/local/browser-test.sh");
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The token requests the provider answered. */
async function grants() {
  const response = await fetch(`${new URL(ISSUER).origin}/_test/grants`);
  return response.json();
}

/** From a staff page's sign-in screen through the provider's login page and back. */
async function signInAtProvider(page, path, { username, organisation = ORG, decision = "Sign in" }) {
  await page.goto(`${suite.web}${path}`);
  await page.getByRole("button", { name: "Sign in with your organisation's account" }).click();
  await page.waitForURL((url) => url.href.startsWith(ISSUER));
  await page.getByRole("heading", { name: "Test identity provider" }).waitFor();
  await page.getByLabel("Username").selectOption(username);
  await page.getByLabel("Organisation").fill(organisation);
  await page.getByRole("button", { name: decision }).click();
  await page.waitForURL((url) => url.href.startsWith(`${suite.web}${path}`));
}

describe("staff sign-in with OpenID Connect", () => {
  test("a coordinator signs in at the provider and works in the console", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await context.newPage();
      await page.goto(`${suite.web}/console/`);
      const note = page.locator("#oidc-note");
      assert.match(await note.innerText(), new RegExp(new URL(ISSUER).host.replace(/\./g, "\\.")));
      assert.deepEqual(await axeViolations(page), [], "axe-core on the sign-in page with a provider");

      await signInAtProvider(page, "/console/", { username: "koordinatorin" });
      await page.getByRole("heading", { level: 1, name: "Incidents" }).waitFor();
      const url = new URL(page.url());
      assert.equal(url.searchParams.get("code"), null, "the code leaves the address bar");
      assert.equal(url.searchParams.get("state"), null);
      await page.getByText("Signed in as koordinatorin").waitFor();
      await page.getByText(`Organisation ${ORG}`).waitFor();
      const stored = await page.evaluate(() => Object.keys(sessionStorage));
      assert.ok(!stored.includes("spontan.oidc.pending"), "the verifier is gone once used");

      const exchange = (await grants()).filter((g) => g.grant === "authorization_code" && g.username === "koordinatorin");
      assert.ok(exchange.length >= 1 && exchange.every((g) => g.pkce), "the code was traded with a matching PKCE verifier");

      // The services accept the provider's token: the incident is created for the token's
      // organisation and stored.
      const name = unique("Sturmflut Helgoland");
      const incidentId = await openIncident(page, { name, ...NORTH_SEA });
      assert.equal(sql(suite.taskDb, `SELECT organisation_id FROM incidents WHERE incident_id = '${incidentId}'`), ORG);
      await screenshot(page, "console-oidc-desktop");

      // The same organisation's control room signs in at the dashboard and sees it.
      const screen = await context.newPage();
      await signInAtProvider(screen, "/dashboard/", { username: "leitstelle" });
      await screen.locator("#incident-picker option", { hasText: name }).waitFor({ state: "attached" });
      await screen.getByText("Signed in as leitstelle").waitFor();
    } finally {
      await context.close();
    }
  });

  test("a sign-in cancelled at the provider is explained on the page", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await context.newPage();
      await signInAtProvider(page, "/console/", { username: "koordinatorin", decision: "Cancel" });
      const alert = page.getByRole("alert");
      await alert.waitFor();
      assert.match(await alert.innerText(), /refused the sign-in: The user cancelled the sign-in/);
      assert.equal(new URL(page.url()).search, "", "the error parameters leave the address bar");
      await page.getByRole("button", { name: "Sign in with your organisation's account" }).waitFor();
    } finally {
      await context.close();
    }
  });

  test("an account without a Spontan role is not signed in", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await context.newPage();
      await signInAtProvider(page, "/console/", { username: "ohne-rolle" });
      const alert = page.getByRole("alert");
      await alert.waitFor();
      assert.match(await alert.innerText(), /no Spontan role/);
      assert.equal(await page.evaluate(() => sessionStorage.getItem("spontan.console.token")), null);
    } finally {
      await context.close();
    }
  });

  test("a short-lived access token is renewed before it ends, and sign-out ends the provider's session", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await context.newPage();
      await signInAtProvider(page, "/console/", { username: "kurzschicht" });
      await page.getByRole("heading", { level: 1, name: "Incidents" }).waitFor();
      const before = await grants();
      const renewed = () => before.filter((g) => g.grant === "refresh_token" && g.username === "kurzschicht").length;
      // The token lives 75 s and is renewed 60 s before it ends.
      await eventually(async () => (await grants()).filter((g) => g.grant === "refresh_token" && g.username === "kurzschicht").length > renewed(), {
        timeoutMs: 40_000,
        intervalMs: 1000,
        what: "a refresh token grant",
      });
      // Still signed in, with a token the services accept.
      await page.getByRole("button", { name: "New incident" }).waitFor();
      const name = unique("Deichbruch");
      await openIncident(page, { name, ...NORTH_SEA });

      // The console signs out at once and then sends the browser to the provider's sign-out
      // page, which sends it back: the provider hears of it a moment after the button shows.
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("button", { name: "Sign in with your organisation's account" }).waitFor();
      await eventually(async () => (await grants()).some((g) => g.grant === "logout" && g.idTokenHint), {
        what: "the provider's session ended with the ID token as hint",
      });
      await page.getByRole("button", { name: "Sign in with your organisation's account" }).waitFor();
    } finally {
      await context.close();
    }
  });
});
