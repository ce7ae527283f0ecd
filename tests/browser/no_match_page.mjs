// Types a query for something the collection does not hold and prints the page's status line.
// Usage: node no_match_page.mjs BASE_URL QUERY   (run by tests/test_relevance_cut.py)
import { launch, watchedPage } from "./chromium.mjs";

const [base, query] = process.argv.slice(2);
const seen = { console: [] };
const context = await launch();
try {
  const page = await watchedPage(context, seen.console);
  await page.goto(base);
  await page.fill("#q", query);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => !["Searching…", ""].includes(document.querySelector("#status").textContent)
    && !document.querySelector("#status").textContent.startsWith("Type"));
  seen.status = await page.textContent("#status");
  seen.cards = await page.$$eval("#results li.card", (cards) => cards.length);
} finally {
  await context.closeAndClean();
}
console.log(JSON.stringify(seen));
