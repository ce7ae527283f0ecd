// Opens an iconodex preview page in headless Chromium and reports what a person would see:
// how many pictures loaded (naturalWidth > 0), which did not, and the visible scores.
// usage: node preview_check.mjs PAGE.html SCREENSHOT.png [--offline]
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [page_path, screenshot, mode] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ offline: mode === "--offline", viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(page_path).href, { waitUntil: "load" });
  // lazy images below the fold load once scrolled into view
  await page.evaluate(async () => {
    for (const img of document.images) { img.loading = "eager"; }
    await Promise.all([...document.images].map((img) => img.complete ? null : new Promise((done) => {
      img.addEventListener("load", done); img.addEventListener("error", done);
    })));
  });
  const report = await page.evaluate(() => ({
    images: document.images.length,
    loaded: [...document.images].filter((img) => img.complete && img.naturalWidth > 0).length,
    broken: [...document.images].filter((img) => !(img.complete && img.naturalWidth > 0)).map((img) => img.src.slice(0, 80)),
    scores: [...document.querySelectorAll(".score")].filter((el) => el.offsetParent !== null).map((el) => el.textContent),
    rows: document.querySelectorAll("section.row").length,
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
