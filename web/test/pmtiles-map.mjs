// Browser test of the map page drawing from exported archives (serve
// --pmtiles-url): Debian's chromium driven by playwright-core.
// Usage: node test/pmtiles-map.mjs MAP_BASE ARCHIVES_BASE
// Exits 1 with a message on the first failed check.
import { fail, launch, ok } from "./browser.mjs";

const [base, archives] = process.argv.slice(2);

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [], tileRequests = [], ranges = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("response", (r) => { if (r.status() >= 400) errors.push(r.status() + " " + r.url()); });
  page.on("request", (r) => {
    const u = r.url();
    if (u.startsWith(base + "/tiles/villages/") || u.startsWith(base + "/tiles/kecamatan/")) tileRequests.push(u);
    if (u.startsWith(archives) && u.endsWith(".pmtiles")) ranges.push(r.headers()["range"] || "");
  });
  await page.goto(base + "/map", { waitUntil: "load" });
  await page.waitForFunction(() => window.riskmap && window.riskmap.map, null, { timeout: 30000 });
  await page.evaluate(() => window.riskmap.calendarReady);
  await page.evaluate(() => window.riskmap.map.jumpTo({ center: [113.497, -7.79], zoom: 11.2 }));
  await page.waitForFunction(() => window.riskmap.map.queryRenderedFeatures({ layers: ["villages-fill"] }).length > 0, null, { timeout: 30000 });
  await page.evaluate(() => window.riskmap.idle());
  const drawn = await page.evaluate(() => {
    const fs = window.riskmap.map.queryRenderedFeatures({ layers: ["villages-fill"] });
    return { n: fs.length, scored: fs.filter((f) => f.properties.seasonal_score != null).length };
  });
  if (!(drawn.n > 0) || !(drawn.scored > 0)) fail("villages drawn from the archive: " + JSON.stringify(drawn));
  ok(drawn.n + " village features drawn from the archive, " + drawn.scored + " with the month's score");
  if (tileRequests.length) fail("the map asked the service for area tiles: " + tileRequests.slice(0, 3).join(", "));
  if (!ranges.length || ranges.some((r) => !r.startsWith("bytes="))) fail("the archive was not read by range requests: " + JSON.stringify(ranges.slice(0, 3)));
  ok(ranges.length + " range requests to the archives, none to /tiles for villages or kecamatan");
  const month = await page.evaluate(() => ({ m: window.riskmap.month, disabled: document.getElementById("month").disabled, label: document.getElementById("month-name").textContent }));
  if (month.m !== 8 || !month.disabled || month.label !== "Agustus") fail("the month of the archives: " + JSON.stringify(month));
  ok("the month is the archives' (Agustus), and fixed");
  await page.selectOption("#view", "kecamatan");
  await page.evaluate(() => window.riskmap.idle());
  const kec = await page.evaluate(() => window.riskmap.map.queryRenderedFeatures({ layers: ["kecamatan-fill"] }).length);
  if (!(kec > 0)) fail("no kecamatan drawn from the archive");
  ok(kec + " kecamatan features drawn from the archive");
  if (errors.length) fail("page errors: " + errors.join("; "));
  ok("no page errors");
} finally {
  await browser.close();
}
