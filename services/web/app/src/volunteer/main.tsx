// Entry of the volunteer app (index.html): loads /config.json, renders the app and registers
// the service worker that keeps the shell available offline (public/sw.js).
import { render } from "preact";
import { loadConfig } from "../lib/config";
import { applyLocale, detectLocale } from "../lib/i18n";
import { App } from "./app";
import { messages } from "./messages";
import "./style.css";

const root = document.getElementById("app")!;

loadConfig().then(
  (config) => {
    root.textContent = "";
    render(<App config={config} />, root);
  },
  () => {
    // Without the deployment's settings the app cannot reach the services: say so, in the
    // browser's language, and offer a reload (the service worker serves the last settings
    // when the network is down, so this is a first visit without network).
    const locale = detectLocale();
    applyLocale(locale);
    const text = messages[locale];
    root.textContent = "";
    const main = document.createElement("main");
    const h1 = document.createElement("h1");
    h1.textContent = text["boot.failed"];
    const p = document.createElement("p");
    p.textContent = text["boot.failedDetail"];
    const button = document.createElement("button");
    button.type = "button";
    button.className = "primary";
    button.textContent = text["action.tryAgain"];
    button.addEventListener("click", () => location.reload());
    main.append(h1, p, button);
    root.append(main);
  },
);

if ("serviceWorker" in navigator && import.meta.env.PROD) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch(() => {
      // No offline shell (e.g. a plain-HTTP address that is not localhost): the app still works online.
    });
  });
}
