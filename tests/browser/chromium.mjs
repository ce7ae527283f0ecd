// Debian's Chromium, headless, in a fresh profile, with the flags this machine's closed network needs
// (no background connections, no QUIC, no updates). One copy for every browser test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export async function launch(viewport = { width: 1280, height: 900 }) {
  const profile = mkdtempSync(join(tmpdir(), "iconodex-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: ARGS, viewport,
  });
  context.closeAndClean = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

// The context's page, with its script errors and console errors collected into `errors`.
export async function watchedPage(context, errors, timeout = 30000) {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on("console", (msg) => { if (msg.type() === "error") errors.push(msg.text()); });
  page.on("pageerror", (err) => errors.push(String(err)));
  return page;
}
