// How long the map page takes to draw the data it opens on, headless: for
// bench/scale.sh at province and national size (not a pass/fail test).
// Usage: node test/first-draw.mjs BASE_URL
// Prints the time to the first drawn area (kabupaten, kecamatan or village,
// whichever the opening zoom shows), to an idle map, the zoom it opened at
// and the tile bytes it fetched.
import { fail, launch } from "./browser.mjs";

const [base] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  let bytes = 0, tiles = 0;
  page.on("response", async (r) => {
    if (r.url().includes("/tiles/")) {
      tiles++;
      bytes += Number(r.headers()["content-length"] || 0);
    }
  });
  const t0 = Date.now();
  await page.goto(base + "/map", { waitUntil: "load" });
  await page.waitForFunction(() => window.riskmap && window.riskmap.map, null, { timeout: 30000 });
  const layers = ["kabupaten-fill", "kecamatan-fill", "villages-fill"];
  await page.waitForFunction((ls) => window.riskmap.map.queryRenderedFeatures({ layers: ls }).length > 0, layers, { timeout: 60000 });
  const first = Date.now() - t0;
  // The map's first full draw and an idle map, each within 60 s: a map
  // that never goes idle is reported, not waited on for ever.
  const within = (what, p) => Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error(what + ": not within 60 s")), 60000))]);
  await within("the first full draw", page.evaluate(() => window.riskmap.ready));
  await within("an idle map", page.evaluate(() => window.riskmap.idle()));
  const idle = Date.now() - t0;
  const seen = await page.evaluate((ls) => {
    const m = window.riskmap.map, out = { zoom: m.getZoom().toFixed(2) };
    for (const l of ls) out[l] = m.queryRenderedFeatures({ layers: [l] }).length;
    return out;
  }, layers);
  console.log(`first draw ${first} ms, idle ${idle} ms, zoom ${seen.zoom}; drawn: ${layers.map((l) => l + " " + seen[l]).join(", ")}; ${tiles} tiles, ${(bytes / 1024).toFixed(0)} KB compressed`);
} catch (e) {
  fail(String(e));
} finally {
  await browser.close();
}
