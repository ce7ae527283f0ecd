// Opens item ITEM_ID's panel on the /map page by clicking it and prints the panel's links as JSON.
// Usage: node map_panel.mjs URL ITEM_ID   (run by tests/test_map_browser.py)
import { launch, watchedPage } from "./chromium.mjs";
import { zoomAndClick } from "./map_helpers.mjs";

const [url, target] = process.argv.slice(2);
const seen = { console: [] };
const context = await launch();
try {
  const page = await watchedPage(context, seen.console);
  await page.goto(url.startsWith("file:") ? url : `${url}/map`);
  await page.waitForFunction(() => window.iconodexMap?.ready);
  await zoomAndClick(page, target);
  await page.waitForSelector("#panel-links a");
  seen.panelId = await page.evaluate(() => iconodexMap.panelId);
  seen.links = await page.$$eval("#panel-links a", (links) => links.map((a) => [a.textContent, a.href]));
} finally {
  await context.closeAndClean();
}
console.log(JSON.stringify(seen));
