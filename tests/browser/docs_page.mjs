// Opens the API docs page (/docs) in headless Chromium with every request off the server refused,
// and prints what rendered as one JSON object.
// Usage: node docs_page.mjs BASE_URL   (run by tests/test_serve_docs_browser.py)
import { launch, watchedPage } from "./chromium.mjs";

const [base] = process.argv.slice(2);
const origin = new URL(base).origin;
const seen = { console: [], offsite: [] };

const context = await launch();
try {
  // No network: anything not served by our server is refused (and remembered).
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(origin + "/") || url.startsWith("data:")) return route.continue();
    seen.offsite.push(url);
    return route.abort("internetdisconnected");
  });
  const page = await watchedPage(context, seen.console, 15000);
  const response = await page.goto(base + "/docs");
  seen.csp = response.headers()["content-security-policy"] || null;
  try {
    await page.waitForSelector(".opblock", { timeout: 15000 });
  } catch (err) {
    seen.waitError = String(err).split("\n")[0];
  }
  seen.operations = await page.$$eval(".opblock", (blocks) => blocks.map((block) => ({
    method: block.querySelector(".opblock-summary-method")?.textContent.trim(),
    path: block.querySelector(".opblock-summary-path")?.textContent.trim().replace(/\u200b/g, ""),
  })));
  seen.title = await page.$eval(".info .title", (el) => el.textContent).catch(() => null);
} finally {
  await context.closeAndClean();
}
console.log(JSON.stringify(seen));
