// A task's languages in the coordinator console, against the real suite: a volunteer who
// speaks Ukrainian (as uk-UA) and Polish registers; the coordinator creates a task that
// requires Ukrainian and prefers Polish and a tag typed by hand ("PT_br", stored as pt-BR),
// sees it stored (chips and details after a reload), sees the matched languages in the
// volunteer's offer, edits the languages (only their update_mask paths change), and sees the
// server's refusals of an invalid tag ("klingonisch") and of a language both required and
// preferred at the language fields, in English and in German.
// Run through deploy/local/browser-test.sh [tests/console-languages.test.mjs].
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DESKTOP, PHONE, axeViolations, device, eventually, launch, screenshot, signInCoordinator, sql, suite } from "./support/browser.mjs";
import { fillTask, hours, openIncident, registerVolunteer, taskCard, taskIdOf, unique } from "./support/staff.mjs";

// Görlitz: far from every other test's volunteers and tasks, so the offer here is ours.
const GOERLITZ = { latitude: 51.1529, longitude: 14.9873 };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** "required|preferred" as the task service stored them, each list in its order. */
const storedLanguages = (taskId) =>
  sql(suite.taskDb, `SELECT array_to_string(required_languages, ',') || '|' || array_to_string(preferred_languages, ',') FROM tasks WHERE task_id = '${taskId}'`);
const version = (taskId) => Number(sql(suite.taskDb, `SELECT version FROM tasks WHERE task_id = '${taskId}'`));

/** The texts an element is described by (its hint and its errors), joined. */
async function description(page, locator) {
  const ids = ((await locator.getAttribute("aria-describedby")) ?? "").split(/\s+/).filter(Boolean);
  const texts = [];
  for (const id of ids) texts.push(await page.locator(`[id="${id}"]`).innerText());
  return texts.join(" | ");
}

/** The names of the ticked boxes in a language list. */
async function ticked(group) {
  const names = [];
  for (const box of await group.getByRole("checkbox", { checked: true }).all()) names.push(await box.getAttribute("value"));
  return names;
}

test("a task's required and preferred languages: chosen in the form, stored, shown, matched, edited and refused at their fields", async () => {
  const volunteer = await device(browser, PHONE, { geolocation: GOERLITZ, permissions: ["geolocation"] });
  const coordinator = await device(browser, DESKTOP);
  const german = await device(browser, DESKTOP, { locale: "de-DE" });
  try {
    // A volunteer at home in Görlitz who speaks Ukrainian (with a region) and Polish.
    const tag = String(process.pid).padStart(7, "0").slice(-7);
    await registerVolunteer(volunteer, { name: `Oksana Hryhorenko ${tag}`, contact: `oksana.hryhorenko.${tag}@example.org`, radius: 10, languages: "uk-UA, pl" });

    const page = await signInCoordinator(coordinator);
    const incidentId = await openIncident(page, { name: unique("Hochwasser Neiße"), ...GOERLITZ, radiusKm: 15 });
    await page.getByRole("button", { name: "New task" }).click();
    const title = unique("Dolmetschen in der Notunterkunft");
    await fillTask(page, { title, headcount: 1, start: hours(1), end: hours(4), ...GOERLITZ, address: "Turnhalle Obermarkt, Görlitz", maxDistanceKm: 20 });

    const required = page.getByRole("group", { name: "Required languages" });
    const preferred = page.getByRole("group", { name: "Preferred languages" });
    // The common languages by their names in the console's language.
    for (const name of ["German", "English", "Ukrainian", "Arabic", "Turkish", "Persian", "Tigrinya", "Croatian"]) {
      await required.getByLabel(name, { exact: true }).waitFor();
    }
    await required.getByLabel("Ukrainian", { exact: true }).check();
    await preferred.getByLabel("Polish", { exact: true }).check();
    // A language is either required or preferred: ticking it in one list unticks the other.
    await preferred.getByLabel("German", { exact: true }).check();
    await required.getByLabel("German", { exact: true }).check();
    assert.equal(await preferred.getByLabel("German", { exact: true }).isChecked(), false, "German left the preferred languages");
    await required.getByLabel("German", { exact: true }).uncheck();
    // Any other tag, typed in any case: added in the server's case, named by the browser.
    await preferred.getByLabel("Another language (a tag such as sw or pt-BR)").fill("PT_br");
    await preferred.getByRole("button", { name: "Add" }).click();
    assert.equal(await preferred.getByLabel("Brazilian Portuguese", { exact: true }).isChecked(), true);
    assert.equal(await preferred.getByLabel("Brazilian Portuguese", { exact: true }).getAttribute("value"), "pt-BR");
    assert.equal(await required.getByLabel("Brazilian Portuguese", { exact: true }).isChecked(), false, "offered in both lists, ticked in one");
    await page.getByText("Languages required: Ukrainian. Preferred: Polish, Brazilian Portuguese.").waitFor();
    assert.deepEqual(await axeViolations(page), [], "axe-core on the task form with languages");

    await page.getByRole("button", { name: "Create task" }).click();
    await page.getByText(`Task “${title}” created`).waitFor();
    const card = taskCard(page, title);
    const taskId = await taskIdOf(card);
    assert.equal(storedLanguages(taskId), "uk|pl,pt-BR");
    await card.getByText("Language: Ukrainian", { exact: true }).waitFor();

    // Stored: after a reload the card still shows it, and so do the details.
    await page.reload();
    await card.getByText("Language: Ukrainian", { exact: true }).waitFor();
    assert.equal(await card.getByRole("list", { name: "Languages every volunteer speaks" }).getByRole("listitem").count(), 1);
    await card.getByRole("button", { name: "Details" }).click();
    assert.equal(await card.getByTestId("required-languages").innerText(), "Ukrainian");
    assert.equal(await card.getByTestId("preferred-languages").innerText(), "Polish, Brazilian Portuguese");

    // The volunteer's offer says which of the task's languages they speak (uk met by uk-UA).
    const matched = card.locator("li.match").getByTestId("languages-matched");
    await eventually(async () => (await matched.count()) > 0, { timeoutMs: 45_000, intervalMs: 1000, what: "the volunteer's offer with its languages" });
    assert.equal(await matched.innerText(), "Languages: Ukrainian (required), Polish (preferred)");
    assert.match(await card.locator("li.match").first().innerText(), /1 of 2 preferred languages/);
    await screenshot(page, "console-task-languages-desktop");

    // Edit: German becomes required as well, Polish is no longer preferred.
    await card.getByRole("button", { name: "Edit" }).click();
    const editRequired = page.getByRole("group", { name: "Required languages" });
    const editPreferred = page.getByRole("group", { name: "Preferred languages" });
    assert.deepEqual(await ticked(editRequired), ["uk"]);
    assert.deepEqual((await ticked(editPreferred)).sort(), ["pl", "pt-BR"]);
    await editRequired.getByLabel("German", { exact: true }).check();
    await editPreferred.getByLabel("Polish", { exact: true }).uncheck();
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByText(`Task “${title}” saved.`).waitFor();
    assert.equal(storedLanguages(taskId), "uk,de|pt-BR");
    assert.equal(version(taskId), 2);
    assert.equal(
      sql(suite.taskDb, `SELECT details->>'changed_fields' FROM audit_log WHERE entity_id = '${taskId}' AND action = 'task.updated' ORDER BY id DESC LIMIT 1`),
      '["required_languages", "preferred_languages"]',
    );
    await card.getByText("Language: German", { exact: true }).waitFor();
    await card.getByText("Language: Ukrainian", { exact: true }).waitFor();

    // An invalid tag (typed, then Enter) and Ukrainian again as preferred (uk-UA is uk): both
    // refused in one answer, each at its list, the refused boxes marked.
    await card.getByRole("button", { name: "Edit" }).click();
    const other = editRequired.getByLabel("Another language (a tag such as sw or pt-BR)");
    await other.fill("klingonisch");
    await other.press("Enter");
    assert.equal(await editRequired.getByLabel("klingonisch", { exact: true }).isChecked(), true, "Enter adds the tag, it does not submit");
    assert.equal(await page.getByTestId("violations").count(), 0);
    // Typed and not added: sent all the same.
    await editPreferred.getByLabel("Another language (a tag such as sw or pt-BR)").fill("uk-UA");
    await page.getByRole("button", { name: "Save changes" }).click();
    const summary = page.getByTestId("violations");
    await summary.waitFor();
    assert.match(await summary.innerText(), /refused 2 field/);
    const requiredError = page.locator("#task-edit-required-languages-error");
    assert.equal(await requiredError.innerText(), "klingonisch: Not a language tag like de, en or uk. (Server: must be a BCP 47 language tag like de, en or uk)");
    assert.match(await description(page, editRequired), /klingonisch: Not a language tag like de, en or uk\./);
    assert.equal(await editRequired.getByLabel("klingonisch", { exact: true }).getAttribute("aria-invalid"), "true");
    assert.equal(await editRequired.getByLabel("Ukrainian", { exact: true }).getAttribute("aria-invalid"), null);
    assert.match(
      await page.locator("#task-edit-preferred-languages-error").innerText(),
      /^Ukrainian \(Ukraine\): Already required: a language is either required or preferred\./,
    );
    assert.equal(await editPreferred.getByLabel("Ukrainian (Ukraine)", { exact: true }).getAttribute("aria-invalid"), "true");
    await summary.getByRole("link", { name: "Required languages" }).waitFor();
    assert.equal(storedLanguages(taskId), "uk,de|pt-BR", "nothing changed");
    assert.equal(version(taskId), 2);
    assert.deepEqual(await axeViolations(page), [], "axe-core on the task form with refused languages");
    await screenshot(page, "console-task-languages-errors-desktop");
    await page.getByRole("button", { name: "Cancel", exact: true }).click();

    // In German: the chips, and the refusal in the console's words.
    const de = await signInCoordinator(german);
    await de.getByRole("heading", { level: 1, name: "Einsätze" }).waitFor();
    await de.goto(`${suite.web}/console/?incident=${incidentId}`);
    const deCard = taskCard(de, title);
    await deCard.getByText("Sprache: Ukrainisch", { exact: true }).waitFor();
    await deCard.getByText("Sprache: Deutsch", { exact: true }).waitFor();
    await deCard.getByRole("button", { name: "Bearbeiten" }).click();
    const deRequired = de.getByRole("group", { name: "Erforderliche Sprachen" });
    await deRequired.getByLabel("Weitere Sprache (ein Kürzel wie sw oder pt-BR)").fill("klingonisch");
    await deRequired.getByRole("button", { name: "Hinzufügen" }).click();
    await de.getByRole("button", { name: "Änderungen speichern" }).click();
    const deError = de.locator("#task-edit-required-languages-error");
    await deError.waitFor();
    assert.equal(await deError.innerText(), "klingonisch: Kein Sprachkürzel wie de, en oder uk. (Server: must be a BCP 47 language tag like de, en or uk)");
    assert.equal(version(taskId), 2);
  } finally {
    await volunteer.close();
    await coordinator.close();
    await german.close();
  }
});
