// Which cluster names the /map page shows at three zooms: fitted, zoomed out, zoomed into a cluster.
// Usage: node map_labels.mjs BASE_URL   (run by tests/test_map_browser.py)
import { launch } from "./chromium.mjs";

const [base] = process.argv.slice(2);
const context = await launch();
const seen = { console: [] };
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(30000);
  page.on("pageerror", (err) => seen.console.push(String(err)));
  await page.goto(`${base}/map`);
  await page.waitForFunction(() => window.iconodexMap?.ready && window.iconodexMap.labelsShown);
  const labels = () => page.evaluate(() => [...iconodexMap.labelsShown]);
  seen.names = await page.evaluate(() => iconodexMap.clusters.map((c) => c.name));
  seen.fitted = await labels();
  for (let i = 0; i < 6; i++) { await page.mouse.move(640, 500); await page.mouse.wheel(0, 500); await page.waitForTimeout(50); }
  await page.waitForTimeout(200);
  seen.zoomedOut = await labels();
  const first = await page.evaluate(() => iconodexMap.clusters[0]);
  await page.evaluate((c) => iconodexMap.flyTo(iconodexMap.ids.filter((_, i) => iconodexMap.cluster[i] === c.cluster).slice(0, 3)), first);
  await page.waitForTimeout(800);
  for (let i = 0; i < 10; i++) { await page.mouse.move(640, 470); await page.mouse.wheel(0, -500); await page.waitForTimeout(50); }
  await page.waitForTimeout(200);
  seen.zoomedIn = await labels();
} finally {
  await context.closeAndClean();
}
console.log(JSON.stringify(seen));
