// Shared steps of the /map page's browser checks.

// Zoom in on item `id` with the wheel until thumbnails are drawn, hover it, then click it; returns
// the hover tip's text and the mode the page drew in.
export async function zoomAndClick(page, id) {
  const mode = () => page.evaluate(() => iconodexMap.mode);
  for (let i = 0; i < 40 && (await mode()) !== "thumbnails"; i++) {
    const [x, y] = await page.evaluate((item) => iconodexMap.screenOf(item), id);
    await page.mouse.move(x, y + 52);
    await page.mouse.wheel(0, -300);
    await page.waitForTimeout(30);
  }
  await page.waitForTimeout(200);
  const [x, y] = await page.evaluate((item) => iconodexMap.screenOf(item), id);
  const box = await page.$eval("#field", (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top]; });
  await page.mouse.move(box[0] + x, box[1] + y);
  const tip = await page.textContent("#tip");
  const zoomedMode = await mode();
  await page.mouse.click(box[0] + x, box[1] + y);
  return { tip, mode: zoomedMode };
}
