// Drives the search page in headless Chromium and prints what it saw as one JSON object.
// Usage: node search_page.mjs BASE_URL OUT_DIR PICTURE_FILE   (run by tests/test_serve_browser.py)
import { join } from "node:path";
import { launch, watchedPage } from "./chromium.mjs";

const [base, outDir, pictureFile] = process.argv.slice(2);
const seen = { console: [], searches: [] };

const context = await launch();
try {
  const page = await watchedPage(context, seen.console);
  page.on("request", (req) => { if (new URL(req.url()).pathname === "/search") seen.searches.push(req.url()); });

  await page.goto(base);
  seen.title = await page.title();
  seen.focusedAtStart = await page.evaluate(() => document.activeElement?.id);
  await page.keyboard.type("a cat");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#results li.card");
  await waitForImages(page);
  seen.cards = await page.$$eval("#results li.card", (cards) => cards.map((card) => {
    const img = card.querySelector("img");
    return { id: card.dataset.id, title: card.querySelector(".title").textContent,
      score: card.querySelector(".score").textContent, alt: img.alt, loading: img.loading,
      naturalWidth: img.naturalWidth };
  }));
  seen.status = await page.textContent("#status");
  await page.screenshot({ path: join(outDir, "results.png") });
  seen.resultsBox = await page.$eval("#results", (el) => {
    const r = el.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: Math.min(r.height, 900 - r.y) };
  });

  // Keyboard: Tab from the search box reaches the Search button; Enter on a card opens it.
  await page.focus("#q");
  await page.keyboard.press("Tab");
  seen.tabAfterQuery = await page.evaluate(() => document.activeElement?.textContent?.trim());
  await page.focus("#results li.card .open");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#detail[open]");
  await page.waitForFunction(() => document.querySelector("#detail-metadata").textContent.includes("animal"));
  seen.detail = {
    title: await page.textContent("#detail-title"),
    metadata: await page.textContent("#detail-metadata"),
  };
  await page.screenshot({ path: join(outDir, "detail.png") });
  await page.keyboard.press("Escape");
  await page.waitForSelector("#detail:not([open])", { state: "attached" });
  seen.focusAfterEscape = await page.evaluate(() => document.activeElement?.closest("li")?.dataset.id);

  // A click on a card opens it too (the last: "a cat" may show a single card above the relevance cut).
  await page.click("#results li.card:last-child .open");
  await page.waitForSelector("#detail[open]");
  seen.clickedTitle = await page.textContent("#detail-title");
  await page.click("#detail-close");

  // More like this.
  const firstId = seen.cards[0].id;
  await Promise.all([
    page.waitForRequest((req) => req.url().includes(`like=${encodeURIComponent(firstId)}`)),
    page.click("#results li.card:first-child .like"),
  ]);
  await page.waitForFunction((id) => {
    const ids = [...document.querySelectorAll("#results li.card")].map((c) => c.dataset.id);
    return ids.length > 0 && !ids.includes(id);
  }, firstId);
  seen.likeIds = await page.$$eval("#results li.card", (cards) => cards.map((c) => c.dataset.id));

  // The alpha slider changes the request (keyboard: one step right).
  await page.focus("#alpha");
  await Promise.all([
    page.waitForRequest((req) => new URL(req.url()).searchParams.get("alpha") === "0.6"),
    page.keyboard.press("ArrowRight"),
  ]);
  seen.alphaShown = await page.textContent("#alpha-value");

  // A facet filter.
  const facet = page.locator("#facets label", { hasText: "animal" }).locator("input");
  await Promise.all([
    page.waitForRequest((req) => new URL(req.url()).searchParams.getAll("where").includes("type:animal")),
    facet.check(),
  ]);
  await page.waitForLoadState("networkidle");
  await facet.uncheck();
  await page.waitForLoadState("networkidle");

  // Search with a picture (the file chooser behind the drop zone).
  await page.fill("#q", "");
  await Promise.all([
    page.waitForResponse((res) => new URL(res.url()).pathname === "/search" && res.request().method() === "POST"),
    page.setInputFiles("#file", pictureFile),
  ]);
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes("your picture"));
  seen.pictureTop = await page.$eval("#results li.card", (card) => card.dataset.id);
  await waitForImages(page);
  await page.screenshot({ path: join(outDir, "picture.png"), fullPage: true });
} finally {
  await context.closeAndClean();
}
console.log(JSON.stringify(seen));

async function waitForImages(page) {
  await page.waitForFunction(() => [...document.querySelectorAll("#results img")]
    .every((img) => img.complete && img.naturalWidth > 0));
}
