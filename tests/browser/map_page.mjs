// Drives the /map page in headless Chromium and prints what it saw as one JSON object.
// Usage: node map_page.mjs BASE_URL OUT_DIR ITEM_ID   (run by tests/test_map_browser.py)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, watchedPage } from "./chromium.mjs";

const [base, outDir, target] = process.argv.slice(2);
const seen = { console: [] };

const context = await launch();
const map = (page, body) => page.evaluate(body);
try {
  const page = await watchedPage(context, seen.console);

  const started = Date.now();
  await page.goto(base.endsWith(".html") ? base : `${base}/map`);
  await page.waitForFunction(() => window.iconodexMap?.ready && window.iconodexMap.drawn > 0);
  seen.loadMs = Date.now() - started;
  Object.assign(seen, await map(page, () => ({ n: iconodexMap.n, drawn: iconodexMap.drawn, modeAtStart: iconodexMap.mode,
    clusters: iconodexMap.clusters.length })));
  await page.screenshot({ path: join(outDir, "map.png") });

  // zoom in on the target with the wheel until thumbnails are drawn
  for (let i = 0; i < 40 && (await map(page, () => iconodexMap.mode)) !== "thumbnails"; i++) {
    const [x, y] = await page.evaluate((id) => iconodexMap.screenOf(id), target);
    await page.mouse.move(x, y + 52);
    await page.mouse.wheel(0, -300);
    await page.waitForTimeout(30);
  }
  await page.waitForTimeout(200);
  seen.modeZoomed = await map(page, () => iconodexMap.mode);
  const [x, y] = await page.evaluate((id) => iconodexMap.screenOf(id), target);
  const box = await page.$eval("#field", (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top]; });
  await page.mouse.move(box[0] + x, box[1] + y);
  seen.tip = await page.textContent("#tip");
  await page.mouse.click(box[0] + x, box[1] + y);
  await page.waitForSelector("#panel-similar li img");
  seen.panel = { id: await map(page, () => iconodexMap.panelId), title: await page.textContent("#panel-title"),
    similar: await page.$$eval("#panel-similar img", (imgs) => imgs.map((img) => img.dataset.id)) };
  await page.screenshot({ path: join(outDir, "zoomed.png") });
  await page.click("#close");

  await page.fill("#q", "a cat");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => iconodexMap.highlighted.size > 0);
  seen.highlighted = await map(page, () => [...iconodexMap.highlighted]);
  seen.status = await page.textContent("#status");

  await map(page, () => iconodexMap.flyTo(iconodexMap.ids));
  await page.waitForTimeout(600);
  const size = await page.$eval("#field", (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; });
  await page.keyboard.down("Shift");
  await page.mouse.move(size[0] + 2, size[1] + 2);
  await page.mouse.down();
  await page.mouse.move(size[0] + size[2] - 2, size[1] + size[3] - 2, { steps: 5 });
  await page.mouse.up();
  await page.keyboard.up("Shift");
  seen.selected = await map(page, () => iconodexMap.selected.length);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-json")]);
  seen.exported = JSON.parse(readFileSync(await download.path(), "utf-8"));
  const [csv] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
  seen.exportedCsv = readFileSync(await csv.path(), "utf-8").split("\n");
  seen.frameMs = await map(page, () => iconodexMap.frames.reduce((a, b) => a + b, 0) / iconodexMap.frames.length);
} finally {
  await context.closeAndClean();
}
console.log(JSON.stringify(seen));
