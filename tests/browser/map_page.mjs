// Drives the /map page in headless Chromium and prints what it saw as one JSON object.
// Usage: node map_page.mjs BASE_URL OUT_DIR ITEM_ID PICTURE_FILE   (run by tests/test_map_browser.py)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, watchedPage } from "./chromium.mjs";
import { zoomAndClick } from "./map_helpers.mjs";

const [base, outDir, target, pictureFile] = process.argv.slice(2);
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

  const clicked = await zoomAndClick(page, target);
  seen.modeZoomed = clicked.mode;
  seen.tip = clicked.tip;
  await page.waitForSelector("#panel-similar li img");
  seen.panel = { id: await map(page, () => iconodexMap.panelId), title: await page.textContent("#panel-title"),
    similar: await page.$$eval("#panel-similar img", (imgs) => imgs.map((img) => img.dataset.id)) };
  await page.screenshot({ path: join(outDir, "zoomed.png") });
  await page.click("#close");

  // how many of the given items the view shows (after a search's flight: the highlighted ones)
  const onScreen = (ids) => page.evaluate((wanted) => {
    const field = document.getElementById("field");
    return wanted.filter((id) => { const [x, y] = iconodexMap.screenOf(id); return x >= 0 && y >= 0 && x <= field.clientWidth && y <= field.clientHeight; }).length;
  }, ids);
  const landing = async (ids) => { await page.waitForTimeout(700); return { shown: await onScreen(ids), of: ids.length }; };
  const awayFromTarget = () => page.evaluate((id) => { // close in on the item farthest from the target
    const t = iconodexMap.index.get(id), m = iconodexMap;
    const far = m.ids.reduce((best, _, i) => ((m.x[i] - m.x[t]) ** 2 + (m.y[i] - m.y[t]) ** 2 >
      (m.x[best] - m.x[t]) ** 2 + (m.y[best] - m.y[t]) ** 2 ? i : best), t);
    m.flyTo([m.ids[far]]);
  }, target);

  await awayFromTarget();
  await page.waitForTimeout(600);
  seen.textBefore = await onScreen([target]);
  await page.fill("#q", "a cat");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => iconodexMap.highlighted.size > 0);
  seen.highlighted = await map(page, () => [...iconodexMap.highlighted]);
  seen.status = await page.textContent("#status");
  seen.textLanding = await landing(seen.highlighted);

  // a picture: the file chooser (served pages only: the offline page has no model to read it)
  seen.pictureControl = await page.isVisible("#picture-button");
  if (seen.pictureControl) {
    await page.fill("#q", "");
    await map(page, () => { iconodexMap.highlighted = new Set(); });
    await awayFromTarget();
    await page.waitForTimeout(600);
    seen.pictureBefore = await onScreen([target]);
    await page.setInputFiles("#picture", pictureFile);
    await page.waitForFunction(() => iconodexMap.highlighted.size > 0);
    seen.pictureHighlighted = await map(page, () => [...iconodexMap.highlighted]);
    seen.pictureStatus = await page.textContent("#status");
    seen.pictureLanding = await landing(seen.pictureHighlighted);
  }

  // a lasso: a triangle whose long side runs diagonally through the middle of the points, so its
  // bounding box holds every point but the triangle only some
  await map(page, () => iconodexMap.flyTo(iconodexMap.ids));
  await page.waitForTimeout(700);
  const size = await page.$eval("#field", (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; });
  const screen = await map(page, () => iconodexMap.ids.map((id) => [id, ...iconodexMap.screenOf(id)]));
  const cx = screen.reduce((a, p) => a + p[1], 0) / screen.length, cy = screen.reduce((a, p) => a + p[2], 0) / screen.length;
  const reach = Math.min(cx, cy, size[2] - cx, size[3] - cy) - 2;
  const lasso = [[cx - reach, cy - reach], [cx - reach, cy + reach], [cx + reach, cy + reach]];
  const inside = ([x, y]) => { // ray casting, as a curator would expect of a drawn outline
    let within = false;
    for (let i = 0, j = lasso.length - 1; i < lasso.length; j = i++) {
      const [xi, yi] = lasso[i], [xj, yj] = lasso[j];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) within = !within;
    }
    return within;
  };
  seen.lassoExpected = screen.filter(([, x, y]) => inside([x, y])).map(([id]) => id).sort();
  seen.lassoBox = screen.filter(([, x, y]) => x >= cx - reach && x <= cx + reach && y >= cy - reach && y <= cy + reach).length;
  await page.keyboard.down("Shift");
  await page.mouse.move(size[0] + lasso[0][0], size[1] + lasso[0][1]);
  await page.mouse.down();
  for (const [x, y] of [...lasso.slice(1), lasso[0]]) await page.mouse.move(size[0] + x, size[1] + y, { steps: 8 });
  await page.mouse.up();
  await page.keyboard.up("Shift");
  await page.screenshot({ path: join(outDir, "lasso.png") });
  seen.lassoSelected = await map(page, () => [...iconodexMap.selected].sort());
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-json")]);
  seen.exported = JSON.parse(readFileSync(await download.path(), "utf-8"));
  const [csv] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
  seen.exportedCsv = readFileSync(await csv.path(), "utf-8").split("\n");
  seen.frameMs = await map(page, () => iconodexMap.frames.reduce((a, b) => a + b, 0) / iconodexMap.frames.length);
} finally {
  await context.closeAndClean();
}
console.log(JSON.stringify(seen));
