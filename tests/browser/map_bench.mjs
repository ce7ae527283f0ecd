// Times the /map page in headless Chromium: load until the first frame, then frame times while
// panning far out (points) and close in (thumbnails). Prints one JSON object.
// Usage: node map_bench.mjs BASE_URL   (run by benchmarks/bench_map.py --page N)
import { launch } from "./chromium.mjs";

const [base] = process.argv.slice(2);
const context = await launch();
const seen = {};
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(120000);
  const started = Date.now();
  await page.goto(`${base}/map`);
  await page.waitForFunction(() => window.iconodexMap?.ready && window.iconodexMap.drawn > 0);
  seen.loadMs = Date.now() - started;
  seen.drawn = await page.evaluate(() => iconodexMap.drawn);
  const pan = async (mode) => {
    await page.evaluate(() => { iconodexMap.frames.length = 0; });
    await page.mouse.move(640, 500);
    await page.mouse.down();
    for (let i = 0; i < 60; i++) { await page.mouse.move(640 + (i % 20) * 10, 500 + (i % 20) * 5); await page.waitForTimeout(5); }
    await page.mouse.up();
    await page.waitForTimeout(100);
    const frames = await page.evaluate(() => [...iconodexMap.frames].sort((a, b) => a - b));
    seen[mode] = { frames: frames.length, mode: await page.evaluate(() => iconodexMap.mode),
      p50: frames[Math.floor(frames.length / 2)], p95: frames[Math.floor(frames.length * 0.95)],
      drawn: await page.evaluate(() => iconodexMap.drawn) };
  };
  await pan("far");
  for (let i = 0; i < 60 && (await page.evaluate(() => iconodexMap.mode)) !== "thumbnails"; i++) {
    await page.mouse.move(640, 500);
    await page.mouse.wheel(0, -400);
    await page.waitForTimeout(20);
  }
  await page.waitForTimeout(500);
  await pan("close");
} finally {
  await context.closeAndClean();
}
console.log(JSON.stringify(seen));
