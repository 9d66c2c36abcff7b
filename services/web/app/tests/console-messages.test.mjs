// Messages from the coordinator to the volunteers, in the console against the real suite: two
// volunteers register in the app and accept a task; the coordinator sends them a message
// (an empty one is refused at the text field first), sees it in the list with two recipients
// and its delivery, sends again after an answer was lost without anyone getting it twice,
// sends an essential message to the whole incident after a confirmation, and is told when
// the next message is possible once the incident's hourly limit is reached.
// Run through deploy/local/browser-test.sh [tests/console-messages.test.mjs].
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DESKTOP, PHONE, axeViolations, device, eventually, launch, screenshot, signInCoordinator, sql, suite } from "./support/browser.mjs";
import { createTask, hours, offerAcceptButton, openIncident, registerVolunteer, taskIdOf, unique } from "./support/staff.mjs";

// Würzburg: far from every other test's volunteers and tasks, so the matches here are ours.
const WUERZBURG = { latitude: 49.7913, longitude: 9.9534 };
const SEND_RPC = "**/spontan.v1.RegistrationService/SendVolunteerMessage";
const LIST_RPC = "/spontan.v1.RegistrationService/ListVolunteerMessages";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The texts of `kind` the stack's messaging gateway stand-in would have sent to `to`. */
async function textsTo(to, kind) {
  const port = process.env.SPONTAN_GATEWAY_PORT;
  assert.ok(port, "SPONTAN_GATEWAY_PORT is set by deploy/local/browser-test.sh");
  const response = await fetch(`http://127.0.0.1:${port}/messages?to=${encodeURIComponent(to)}&kind=${kind}`);
  assert.equal(response.status, 200);
  return (await response.json()).messages.map((m) => m.text);
}

const count = (query) => Number(sql(suite.registrationDb, query));
const messagesOf = (incidentId) => count(`SELECT count(*) FROM volunteer_messages WHERE incident_id = '${incidentId}'`);

/** A message's delivery as the list shows it: its numbers, and that they add up. */
async function delivery(item) {
  const line = item.locator(".messaging__delivery");
  const n = async (name) => Number(await line.getAttribute(`data-${name}`));
  const d = {
    recipients: await n("recipients"),
    pending: await n("pending"),
    sent: await n("sent"),
    failed: await n("failed"),
    optedOut: await n("opted-out"),
    skipped: await n("skipped"),
    text: await line.innerText(),
  };
  assert.equal(d.pending + d.sent + d.failed + d.optedOut + d.skipped, d.recipients, `the counts add up: ${JSON.stringify(d)}`);
  assert.equal(d.text.split(" · ")[0], `${d.sent} of ${d.recipients} sent`);
  return d;
}

test("a coordinator messages the volunteers of a task and of the whole incident, with their delivery", async () => {
  const coordinator = await device(browser, DESKTOP);
  const contexts = [coordinator];
  try {
    const page = await signInCoordinator(coordinator);
    const incidentId = await openIncident(page, { name: unique("Hochwasser Main"), ...WUERZBURG, radiusKm: 15 });
    const title = unique("Sandsäcke am Alten Kranen");
    const card = await createTask(page, {
      title,
      priority: "High",
      headcount: 2,
      start: hours(1),
      end: hours(4),
      ...WUERZBURG,
      address: "Alter Kranen, Würzburg",
      maxDistanceKm: 20,
    });
    const taskId = await taskIdOf(card);

    // Two volunteers at home in Würzburg accept the task in the app.
    const tag = String(process.pid).padStart(7, "0").slice(-7);
    // Mobile numbers: the stack's gateway stand-in takes texts (it has no e-mail relay).
    const phone = `+491578${tag}`;
    for (const person of [
      { name: `Kilian Mainfranke ${tag}`, contact: `+491579${tag}` },
      { name: `Burkarda Steinweg ${tag}`, contact: phone },
    ]) {
      const context = await device(browser, PHONE, { geolocation: WUERZBURG, permissions: ["geolocation"] });
      contexts.push(context);
      const app = await registerVolunteer(context, { ...person, radius: 10 });
      await (await offerAcceptButton(app, title)).click();
      await app.getByText(`You accepted “${title}”`).waitFor();
    }
    // The registration service heard of both acceptances (it sends the messages).
    await eventually(() => count(`SELECT count(*) FROM matches_seen WHERE task_id = '${taskId}' AND state IN (3, 4)`) === 2, {
      timeoutMs: 30_000,
      what: "both acceptances in the registration service",
    });

    const section = page.getByRole("region", { name: "Messages to volunteers" });
    const text = section.getByLabel("Message", { exact: true });
    const to = section.getByLabel("To", { exact: true });
    const essential = section.getByLabel("Essential (also to volunteers who opted out: stop coming, danger)");
    const send = section.getByRole("button", { name: "Send", exact: true });
    const items = section.locator("li.messaging__item");
    await section.getByText("No messages sent yet.").waitFor();

    // Empty: said at the text field, which has the focus; nothing sent.
    await send.click();
    await page.locator("#message-text-error").getByText("Please fill this in.").waitFor();
    assert.equal(await text.getAttribute("aria-invalid"), "true");
    assert.match(await text.getAttribute("aria-describedby"), /message-text-error/);
    assert.equal(await page.evaluate(() => document.activeElement?.id), "message-text");
    assert.equal(messagesOf(incidentId), 0);

    // To the task's volunteers: no confirmation needed; line breaks kept.
    const first = "Treffpunkt verlegt:\nParkplatz Talavera, Zufahrt über die Friedensbrücke.";
    await text.fill(first);
    await section.getByText(`${[...first].length}/500 characters; line breaks allowed.`).waitFor();
    assert.equal(await text.getAttribute("aria-invalid"), null, "typing clears the error");
    await to.selectOption({ label: title });
    await send.click();
    await section.getByRole("status").getByText("Message sent to 2 volunteer(s). Its delivery is shown below.").waitFor();
    assert.equal(await text.inputValue(), "", "the form is ready for the next message");
    await items.first().waitFor();
    assert.equal(await items.count(), 1);
    const firstItem = items.first();
    assert.equal(await firstItem.getAttribute("data-task-id"), taskId);
    await firstItem.getByText(`To: ${title}`).waitFor();
    assert.equal(await firstItem.locator(".messaging__text").innerText(), first);
    assert.equal(await firstItem.locator(".messaging__badge").count(), 0, "not essential");
    assert.equal((await delivery(firstItem)).recipients, 2);
    assert.equal(messagesOf(incidentId), 1);
    const firstId = await firstItem.getAttribute("data-message-id");
    assert.equal(count(`SELECT count(*) FROM alerts WHERE message_id = '${firstId}'`), 2, "one alert per volunteer");
    assert.deepEqual(await axeViolations(page), [], "axe-core on the messages card with a message sent");

    // The list follows the delivery until nothing is pending (and agrees with the database).
    const fromDb = (id) =>
      sql(
        suite.registrationDb,
        `SELECT count(*) FILTER (WHERE status = 'pending') || '/' || count(*) FILTER (WHERE status = 'sent') || '/' || count(*) FILTER (WHERE status = 'failed') || '/' || count(*) FILTER (WHERE status = 'opted_out') || '/' || count(*) FILTER (WHERE status = 'skipped') FROM alerts WHERE message_id = '${id}'`,
      );
    await eventually(
      async () => {
        const d = await delivery(firstItem);
        return d.pending === 0 && fromDb(firstId) === `0/${d.sent}/${d.failed}/${d.optedOut}/${d.skipped}`;
      },
      { timeoutMs: 40_000, intervalMs: 500, what: "the delivery done and shown" },
    );
    // … and then stops asking.
    let lists = 0;
    const onRequest = (request) => {
      if (request.url().endsWith(LIST_RPC) && request.method() === "POST") lists++;
    };
    page.on("request", onRequest);
    await new Promise((r) => setTimeout(r, 6000));
    page.off("request", onRequest);
    assert.equal(lists, 0, "no refresh while nothing is pending");

    // The answer is lost on the way back (the service did send): sending again, with the same
    // message id, delivers nothing twice.
    const second = "Bitte Gummistiefel mitbringen.";
    await text.fill(second);
    await to.selectOption({ label: title });
    let lost = 0;
    await page.route(SEND_RPC, async (route) => {
      if (route.request().method() !== "POST") return route.continue();
      lost++;
      await route.fetch();
      await route.abort("connectionreset");
    });
    await send.click();
    await section.getByRole("alert").getByText("No answer from the service: the message may not have gone out. Send it again — nobody gets it twice.").waitFor();
    assert.equal(lost, 1);
    assert.equal(messagesOf(incidentId), 2, "the service got it");
    await page.unroute(SEND_RPC);
    assert.equal(await text.inputValue(), second, "the text is kept for sending again");
    await send.click();
    await section.getByRole("status").getByText("Message sent to 2 volunteer(s). Its delivery is shown below.").waitFor();
    assert.equal(messagesOf(incidentId), 2, "sent again with the same id: no second message");
    const secondId = sql(suite.registrationDb, `SELECT id FROM volunteer_messages WHERE incident_id = '${incidentId}' AND body = '${second}'`);
    assert.equal(count(`SELECT count(*) FROM alerts WHERE message_id = '${secondId}'`), 2, "one alert per volunteer, not two");
    await eventually(async () => (await items.count()) === 2, { what: "two messages in the list" });
    assert.equal(await items.first().getAttribute("data-message-id"), secondId, "newest first");
    // The volunteer with the mobile number got it once (the stack's gateway lists the texts).
    await eventually(async () => (await delivery(items.first())).pending === 0, { timeoutMs: 40_000, what: "the second message delivered" });
    const texts = await textsTo(phone, "message");
    assert.equal(texts.filter((t) => t.includes(second)).length, 1, `one text: ${JSON.stringify(texts)}`);
    assert.equal(texts.filter((t) => t.includes("Parkplatz Talavera")).length, 1);

    // Essential, to the whole incident: asked first; "Back" sends nothing.
    const third = "Achtung: Pegel steigt. Bitte nicht mehr ans Ufer kommen!";
    await text.fill(third);
    await to.selectOption({ label: "All tasks of the incident" });
    await essential.check();
    await send.click();
    const dialog = section.getByRole("alertdialog");
    await dialog.getByText("Send to all accepted volunteers of the incident as essential, also to those who opted out of messages?").waitFor();
    const focused = () => page.evaluate(() => document.activeElement?.textContent);
    await eventually(async () => (await focused()) === "Yes, send", { timeoutMs: 2_000, what: "the keyboard at the confirmation" });
    assert.deepEqual(await axeViolations(page), [], "axe-core on the confirmation");
    await dialog.getByRole("button", { name: "Back to the message" }).click();
    assert.equal(await dialog.count(), 0);
    await eventually(async () => (await focused()) === "Send", { timeoutMs: 2_000, what: "the keyboard back at Send" });
    assert.equal(messagesOf(incidentId), 2, "nothing sent");
    await send.click();
    await dialog.getByRole("button", { name: "Yes, send" }).click();
    await section.getByRole("status").getByText("Message sent to 2 volunteer(s). Its delivery is shown below.").waitFor();
    await eventually(async () => (await items.count()) === 3, { what: "three messages in the list" });
    const essentialItem = items.first();
    await essentialItem.getByText("To: the whole incident").waitFor();
    await essentialItem.locator(".messaging__badge").getByText("Essential").waitFor();
    assert.equal(await essentialItem.getAttribute("data-task-id"), "");
    assert.equal((await delivery(essentialItem)).recipients, 2);
    assert.equal(await essential.isChecked(), false, "essential is chosen anew for each message");
    assert.equal(
      sql(suite.registrationDb, `SELECT essential || '|' || (task_id IS NULL) FROM volunteer_messages WHERE incident_id = '${incidentId}' AND body = '${third}'`),
      "true|true",
    );
    // A tall window, so the side column shows both its cards whole.
    await page.setViewportSize({ width: DESKTOP.width, height: 1700 });
    await page.evaluate(() => {
      window.scrollTo(0, 0);
      document.querySelector(".incident-layout__side").scrollTop = 0;
    });
    await screenshot(page, "console-messages-desktop");
    await page.setViewportSize(DESKTOP);

    // The hour's limit reached (20 in this suite; filled up 55 minutes ago): the next message
    // is refused, saying when it is possible, and the form keeps it.
    sql(
      suite.registrationDb,
      `INSERT INTO volunteer_messages (id, organisation_id, incident_id, body, essential, sender_subject, sender_role, created_at)
       SELECT gen_random_uuid(), '${suite.organisation}', '${incidentId}', 'filler', false, 'test', 'coordinator', now() - interval '55 minutes'
       FROM generate_series(1, 17)`,
    );
    const fourth = "Abendessen gibt es ab 19 Uhr am Zelt.";
    await text.fill(fourth);
    await send.click();
    await dialog.getByText("Send to all accepted volunteers of the incident?").waitFor();
    await dialog.getByRole("button", { name: "Yes, send" }).click();
    await section.getByRole("alert").getByText("Too many messages for this incident — next one possible in 5 min.").waitFor();
    assert.equal(await text.inputValue(), fourth);
    assert.equal(count(`SELECT count(*) FROM volunteer_messages WHERE incident_id = '${incidentId}' AND body = '${fourth}'`), 0);

    // On a phone: the card below the tasks, nothing wider than the screen.
    const phoneContext = await device(browser, PHONE);
    contexts.push(phoneContext);
    const phonePage = await signInCoordinator(phoneContext);
    await phonePage.goto(`${suite.web}/console/?incident=${incidentId}`);
    const phoneSection = phonePage.getByRole("region", { name: "Messages to volunteers" });
    await phoneSection.locator("li.messaging__item").first().waitFor();
    await phoneSection.getByText(third).waitFor();
    assert.ok(await phonePage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), "no sideways scrolling");
    assert.deepEqual(await axeViolations(phonePage), [], "axe-core on the phone");
  } finally {
    for (const context of contexts) await context.close();
  }
});
