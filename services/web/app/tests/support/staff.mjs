// Steps the console, dashboard and journey tests share: signing in as staff, opening an
// incident and creating a task through the console, reading staffing off the pages, and
// registering a volunteer through the volunteer app (its labels as the app shows them).
import { eventually, suite } from "./browser.mjs";

/** A `datetime-local` value in the browser's (and this process's) time zone. */
export function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export const hours = (n) => new Date(Date.now() + n * 3600 * 1000);

let serial = 0;
/** A name no other test uses in this run. */
export function unique(what) {
  serial += 1;
  return `${what} ${process.pid}-${serial}`;
}

/** Signs a browser context in as a dashboard through the dev sign-in path; returns the page. */
export async function signInDashboard(context, organisation = suite.organisation) {
  const page = await context.newPage();
  await page.goto(`${suite.web}/dev/sign-in?role=dashboard&organisation=${encodeURIComponent(organisation)}`);
  await page.waitForURL(/\/dashboard\//);
  return page;
}

/** Opens the dashboard on one incident (after signInDashboard in the same page). */
export async function openDashboard(page, incidentId, extra = "") {
  await page.goto(`${suite.web}/dashboard/?incident=${incidentId}${extra}`);
  await page.locator(".board__summary .tiles").waitFor();
}

/** On the console's incident list: opens a new incident and navigates to it; returns its id. */
export async function openIncident(page, { name, latitude, longitude, radiusKm = 15, description = "" }) {
  await page.getByRole("heading", { level: 1, name: "Incidents" }).waitFor();
  await page.getByRole("button", { name: "New incident" }).click();
  await page.getByLabel("Name", { exact: true }).fill(name);
  if (description) await page.getByLabel("Situation description", { exact: true }).fill(description);
  await page.getByLabel("Latitude (°)", { exact: true }).fill(String(latitude));
  await page.getByLabel("Longitude (°)", { exact: true }).fill(String(longitude));
  await page.getByLabel("Radius (km)", { exact: true }).fill(String(radiusKm));
  await page.getByRole("button", { name: "Open incident" }).click();
  await page.getByText(`Incident “${name}” is open.`).waitFor();
  await page.getByRole("link", { name, exact: true }).click();
  await page.getByRole("heading", { level: 1, name, exact: true }).waitFor();
  return new URL(page.url()).searchParams.get("incident");
}

/**
 * Fills the console's task form (already open) with `task`; fields left out keep the form's
 * values. Does not submit.
 */
export async function fillTask(page, task) {
  const set = (id, value) => (value === undefined ? undefined : page.locator(`#task-new-${id}`).fill(String(value)));
  await set("title", task.title);
  await set("description", task.description);
  if (task.priority) await page.locator("#task-new-priority").selectOption({ label: task.priority });
  await set("headcount", task.headcount);
  if (task.start) await set("start", localInput(task.start));
  if (task.end) await set("end", localInput(task.end));
  await set("lat", task.latitude);
  await set("lon", task.longitude);
  await set("address", task.address);
  await set("min-age", task.minAge);
  await set("max-distance", task.maxDistanceKm);
  for (const skill of task.required ?? []) await page.getByLabel(skill, { exact: true }).selectOption("required");
  for (const skill of task.preferred ?? []) await page.getByLabel(skill, { exact: true }).selectOption("preferred");
}

/** On an incident's console page: creates a task and waits for its card; returns the card. */
export async function createTask(page, task) {
  await page.getByRole("button", { name: "New task" }).click();
  await fillTask(page, task);
  await page.getByRole("button", { name: "Create task" }).click();
  await page.getByText(`Task “${task.title}” created`).waitFor();
  return taskCard(page, task.title);
}

/** The console's card of one task. */
export function taskCard(page, title) {
  return page.locator("li.task", { has: page.getByRole("heading", { level: 3, name: title, exact: true }) });
}

/** A staffing number off a console task card: offered, accepted, checked-in, needed. */
export async function staffing(card, which) {
  return Number(await card.locator(`dd[data-count="${which}"]`).innerText());
}

/** The task's id, from its console card. */
export async function taskIdOf(card) {
  return card.getAttribute("data-task-id");
}

/**
 * Registers a volunteer through the volunteer app in `context` (which should grant the
 * geolocation permission at the volunteer's home): name, contact (phone or e-mail), birth
 * year, the device location, optional radius, skill and languages (as typed, e.g. "uk, pl";
 * else the browser's). Returns the page on "Your offers".
 */
export async function registerVolunteer(context, { name, contact, birthYear = 1985, radius, skill = "Sandbag filling", languages }) {
  const page = await context.newPage();
  await page.goto(suite.web);
  await page.getByRole("heading", { level: 1, name: "About you" }).waitFor();
  await page.getByLabel("Your name", { exact: true }).fill(name);
  await page.getByLabel("Mobile number or e-mail", { exact: true }).fill(contact);
  await page.getByLabel("Year of birth", { exact: true }).fill(String(birthYear));
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("heading", { level: 1, name: "What you can do" }).waitFor();
  await page.getByRole("button", { name: "Use my location" }).click();
  const location = page.getByLabel("Where you start from (latitude, longitude)", { exact: true });
  await eventually(async () => (await location.inputValue()).includes(","), { what: "the device location" });
  if (radius !== undefined) await page.getByLabel("How far will you travel? (km)", { exact: true }).fill(String(radius));
  if (skill) await page.getByLabel(skill, { exact: true }).check();
  if (languages !== undefined) await page.getByLabel("Languages you speak", { exact: true }).fill(languages);
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
  await page.getByLabel(/^I agree that Spontan stores my details/).check();
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor({ timeout: 30_000 });
  return page;
}

/** The pixels of an element's screenshot: how many distinct colours, and how many near `hex`. */
export async function pixelStats(page, locator, hex) {
  const png = await locator.screenshot();
  return page.evaluate(
    async ({ data, hex }) => {
      const image = new Image();
      image.src = `data:image/png;base64,${data}`;
      await image.decode();
      const canvas = document.createElement("canvas");
      canvas.width = image.width;
      canvas.height = image.height;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(image, 0, 0);
      const { data: px } = ctx.getImageData(0, 0, image.width, image.height);
      const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      const colours = new Set();
      let near = 0;
      for (let i = 0; i < px.length; i += 4) {
        colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
        if (Math.abs(px[i] - want[0]) + Math.abs(px[i + 1] - want[1]) + Math.abs(px[i + 2] - want[2]) < 40) near++;
      }
      return { width: image.width, height: image.height, colours: colours.size, near };
    },
    { data: png.toString("base64"), hex },
  );
}

/**
 * In the volunteer app on "Your offers": waits for the offer of the task titled `title`
 * (reloading, as a volunteer pulling the list would) and returns its Accept button.
 */
export async function offerAcceptButton(page, title, timeoutMs = 30_000) {
  const card = page.locator("article.card", { has: page.getByRole("heading", { name: title, exact: true }) });
  const button = card.getByRole("button", { name: "Accept", exact: true });
  await eventually(
    async () => {
      if (await button.count()) return true;
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      return false;
    },
    { timeoutMs, intervalMs: 1500, what: `the offer of “${title}” in the volunteer app` },
  );
  return button;
}
