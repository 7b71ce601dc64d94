// Browser test of the map page: Debian's chromium driven by playwright-core.
// Usage: node test/map.mjs BASE_URL SCREENSHOT.png
// Exits 1 with a message on the first failed check.
import { fail, launch, ok } from "./browser.mjs";

const [base, screenshot] = process.argv.slice(2);

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("response", (r) => { if (r.status() >= 400) errors.push(r.status() + " " + r.url()); });
  const offsite = [];
  page.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) offsite.push(r.url()); });

  const t0 = Date.now();
  await page.goto(base + "/map?month=4", { waitUntil: "load" });
  await page.waitForFunction(() => window.riskmap && window.riskmap.map, null, { timeout: 30000 });
  await page.evaluate(() => window.riskmap.ready);
  await page.waitForFunction(() => window.riskmap.map.queryRenderedFeatures({ layers: ["villages-fill"] }).length > 0, null, { timeout: 30000 });
  ok("first draw of the villages after " + (Date.now() - t0) + " ms");
  await page.evaluate(() => window.riskmap.calendarReady);
  await page.evaluate(() => window.riskmap.labelsReady);
  await page.evaluate(() => window.riskmap.idle());
  const heading = await page.textContent("#ranking h2");
  if (heading !== "Desa yang perlu dikunjungi") fail("the ranking's heading is " + heading);
  const legendTitle = await page.textContent("#legend-title");
  if (!legendTitle.includes("tinggi ≥ 60") || !legendTitle.includes("sedang ≥ 30")) fail("the legend does not give the tier cut-offs: " + legendTitle);
  if (await page.isHidden("#synthetic")) fail("the synthetic-data banner is not shown");
  ok("in Bahasa Indonesia by default, with the tier cut-offs in the legend and the synthetic-data banner");

  const rendered = await page.evaluate(() => window.riskmap.map.queryRenderedFeatures({ layers: ["villages-fill"] }).length);
  if (!(rendered > 0)) fail("no village features rendered");
  ok(rendered + " village features rendered");

  const label = await page.textContent("#month-name");
  if (label !== "April") fail("the month label says " + label + ", want April");
  await page.evaluate(() => window.riskmap.map.jumpTo({ center: [113.497, -7.79], zoom: 11.2 }));
  await page.evaluate(() => window.riskmap.idle());

  // The colour of every rendered village's first point, in April and in August.
  const sample = () => page.evaluate(() => {
    const m = window.riskmap.map, seen = {}, out = {};
    for (const f of m.queryRenderedFeatures({ layers: ["villages-fill"] })) {
      const code = f.properties.code;
      if (seen[code]) continue;
      seen[code] = true;
      const ring = f.geometry.type === "Polygon" ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
      // the middle of the ring's bounding box is often inside small convex cells
      let [x0, y0, x1, y1] = [180, 90, -180, -90];
      for (const [x, y] of ring) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
      const c = [(x0 + x1) / 2, (y0 + y1) / 2];
      const hit = m.queryRenderedFeatures(m.project(c), { layers: ["villages-fill"] });
      if (hit.length && hit[0].properties.code === code) out[code] = window.riskmap.colourAt(c).join(",");
    }
    return out;
  });
  const april = await sample();
  if (Object.keys(april).length === 0) fail("could not read any village's colour");
  // Move the slider from April to August with the keyboard, as a person would.
  await page.focus("#month");
  for (let i = 0; i < 4; i++) await page.keyboard.press("ArrowRight");
  await page.waitForFunction(() => document.getElementById("month-name").textContent === "Agustus");
  await page.waitForTimeout(300);
  await page.evaluate(() => window.riskmap.idle());
  const august = await sample();
  const changed = Object.keys(april).filter((k) => august[k] && august[k] !== april[k]);
  if (changed.length === 0) fail("no village changed colour from April to August: " + JSON.stringify(april).slice(0, 300));
  ok(changed.length + " of " + Object.keys(april).length + " villages changed colour from April to August");
  const index = await page.textContent("#labour-index");
  if (!index.includes("1")) fail("August's labour index is not shown: " + index);

  // Click a village: its panel opens with its name.
  const target = await page.evaluate(() => {
    const m = window.riskmap.map, p = m.project([113.4998, -7.8094]);
    const hit = m.queryRenderedFeatures(p, { layers: ["villages-fill"] });
    return { x: p.x, y: p.y, name: hit.length ? hit[0].properties.name : null };
  });
  if (target.name !== "Alasnyiur") fail("the village under Alasnyiur's centroid is " + target.name);
  const box = await page.locator("#map").boundingBox();
  await page.mouse.click(box.x + target.x, box.y + target.y);
  await page.waitForSelector("#panel:not([hidden])", { timeout: 10000 });
  const panel = await page.textContent("#panel-body");
  if (!panel.includes("Alasnyiur") || !panel.includes("35.13.13.2003")) fail("the panel shows " + panel.slice(0, 200));
  if (!(await page.locator("#panel svg polyline").count()) && !panel.includes("Terlalu sedikit rumah tangga")) fail("the panel has neither a seasonal chart nor says why not: " + panel.slice(0, 300));
  ok("clicking Alasnyiur opens its panel");
  await page.waitForSelector("#rounds table.rounds", { timeout: 10000 }).catch(() => {});
  const rounds = await page.locator("#rounds table.rounds tr").count();
  const roundsText = (await page.textContent("#rounds")) || "";
  if (rounds < 3 || !roundsText.includes("Putaran") || !roundsText.includes("Perubahan")) fail("the panel's table of survey rounds: " + rounds + " rows: " + roundsText.slice(0, 300));
  ok("survey rounds in the panel: " + (rounds - 1) + " rounds, " + roundsText.replace(/\s+/g, " ").slice(0, 160));

  // Search by name flies to the village and opens its panel.
  await page.click("#close");
  await page.evaluate(() => window.riskmap.map.jumpTo({ center: [113.3, -8.2], zoom: 9 }));
  await page.fill("#q", "Glagah");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => document.getElementById("panel-body").textContent.includes("Glagah"), null, { timeout: 10000 });
  await page.waitForTimeout(800);
  const centre = await page.evaluate(() => window.riskmap.map.getCenter().toArray());
  if (Math.abs(centre[0] - 113.503) > 0.05 || Math.abs(centre[1] + 7.771) > 0.05) fail("search did not fly to Glagah: centre " + centre);
  ok("the search finds Glagah and flies to it");
  await page.fill("#q", "Alasnyiur");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => document.getElementById("panel-body").textContent.includes("Alasnyiur"), null, { timeout: 10000 });
  ok("the search finds Alasnyiur");

  const ranked = await page.locator("#targets li").count();
  if (ranked === 0) fail("the ranking of villages is empty");
  ok(ranked + " villages in the ranking");
  // Each says how sure its place is, in Indonesian: "pasti/mungkin/kecil
  // kemungkinan 10 besar (p)" and its rank range.
  const sure = await page.$$eval("#targets li .certainty", (els) => els.map((e) => e.textContent));
  if (sure.length !== ranked || !sure.every((s) => /^(pasti|mungkin|kecil kemungkinan) 10 besar \([0-9,]+\)$/.test(s))) fail("rank certainty: " + JSON.stringify(sure));
  const ranges = await page.$$eval("#targets li", (els) => els.map((e) => (e.textContent.match(/peringkat ([0-9]+)(?:–([0-9]+))?/) || []).slice(1)));
  ranges.forEach((r, i) => { if (!r.length || Number(r[0]) > i + 1 || Number(r[1] || r[0]) < i + 1) fail("village " + (i + 1) + " has rank range " + JSON.stringify(r)); });
  ok("each ranked village shows its rank range and how sure it is to be in the top 10 (" + sure[0] + ")");
  // The top-10 set (at least 10 villages, led by the likeliest) is marked.
  const inSet = await page.$$eval("#targets li .in-set", (els) => els.map((e) => e.textContent));
  if (inSet.length < Math.min(10, ranked) || !inSet.every((s) => s === "kunjungi untuk 90% yakin mencakup 10 terburuk")) fail("the top-10 set: " + JSON.stringify(inSet));
  ok(inSet.length + " of the listed villages are in the 90% top-10 set");
  await page.waitForFunction(() => document.querySelectorAll(".rank").length >= 1, null, { timeout: 10000 });
  const numbers = await page.$$eval(".rank", (els) => els.map((e) => e.textContent));
  ok("the top " + numbers.length + " villages of the ranking are numbered on the map");

  // Names on the map at village zoom.
  await page.evaluate(() => window.riskmap.map.jumpTo({ center: [113.497, -7.79], zoom: 12.5 }));
  await page.evaluate(() => window.riskmap.idle());
  await page.waitForFunction(() => document.querySelectorAll(".label").length > 3, null, { timeout: 10000 });
  const names = await page.$$eval(".label", (els) => els.map((e) => e.textContent));
  if (!names.includes("Alasnyiur")) fail("labels drawn do not include Alasnyiur: " + names.slice(0, 10));
  ok(names.length + " village names drawn on the map");

  // Two villages share a name: the search lists both, with their kecamatan.
  await page.fill("#q", "Alastengah");
  await page.press("#q", "Enter");
  await page.waitForSelector("#matches li", { timeout: 5000 });
  const dup = await page.$$eval("#matches li", (els) => els.map((e) => e.textContent));
  if (dup.length !== 2 || !dup.every((d) => d.includes("Kecamatan"))) fail("the search for Alastengah lists " + JSON.stringify(dup));
  ok("the search lists both villages named Alastengah with their kecamatan");
  await page.fill("#q", "Atlantis");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => document.getElementById("matches").textContent.includes("Tidak ditemukan"), null, { timeout: 5000 });
  ok("a search that matches nothing says not found");

  // A report to print: the village's A4 page, printed to PDF.
  const report = await browser.newPage();
  await report.goto(base + "/report/desa/35.13.13.2003?month=8", { waitUntil: "load" });
  const title = await report.textContent("h1");
  if (title !== "Desa Alasnyiur") fail("the report's title is " + title);
  const rows = await report.locator("table tr").count();
  if (rows < 8) fail("the report's tables have " + rows + " rows");
  const pdf = await report.pdf({ format: "A4", printBackground: true });
  if (pdf.length < 10000 || pdf.subarray(0, 4).toString() !== "%PDF") fail("the report did not print to a PDF (" + pdf.length + " bytes)");
  ok("the village report printed to PDF (" + pdf.length + " bytes) with its title and " + rows + " table rows");
  await report.close();

  // CSV downloads parse, one row per ranked village.
  const csv = await page.evaluate(async () => {
    const text = await (await fetch(document.getElementById("csv-ranking").href)).text();
    const lines = text.trim().split("\n");
    return { header: lines[0], rows: lines.length - 1 };
  });
  if (!csv.header.startsWith("rank,rank_low,rank_high,p_top,top_certainty,in_top_set,id,name,kecamatan,tier") || csv.rows < 15) fail("the ranking CSV: " + JSON.stringify(csv));
  ok("the ranking CSV parses: " + csv.rows + " villages");
  const plan = await page.evaluate(async () => {
    const r = await fetch(document.getElementById("survey-plan").href.replace("f=html", "f=json"));
    return r.ok ? (await r.json()).spent : -1;
  });
  if (plan !== 2000) fail("the survey plan linked from the ranking spends " + plan + " households, want 2000");
  ok("the ranking links to where to survey 2,000 households next");

  // The kecamatan view: kecamatan coloured, a click gives its summary.
  await page.selectOption("#view", "kecamatan");
  await page.evaluate(() => window.riskmap.idle());
  const kecFeatures = await page.evaluate(() => window.riskmap.map.queryRenderedFeatures({ layers: ["kecamatan-fill"] }).length);
  if (!(kecFeatures > 0)) fail("the kecamatan view draws no kecamatan");
  await page.evaluate(() => window.riskmap.openKecamatan("35.13.13"));
  const kp = await page.textContent("#panel-body");
  if (!kp.includes("Kecamatan Besuk") || !kp.includes("desa disurvei")) fail("the kecamatan summary says " + kp.slice(0, 200));
  if (!page.url().includes("view=kecamatan")) fail("the view is not in the URL");
  ok("the kecamatan view colours kecamatan and gives Besuk's summary with its coverage");
  await page.selectOption("#view", "desa");

  // English, remembered across a reload; the month and village in the URL.
  await page.click("#lang");
  if ((await page.textContent("#ranking h2")) !== "Villages to visit") fail("the English switch did not change the page");
  await page.evaluate(() => window.riskmap.openPanel("35.13.13.2003"));
  const url = page.url();
  if (!url.includes("village=35.13.13.2003") || !url.includes("month=8")) fail("the URL does not hold the state: " + url);
  await page.reload({ waitUntil: "load" });
  await page.waitForFunction(() => window.riskmap && document.getElementById("panel-body").textContent.includes("Alasnyiur"), null, { timeout: 30000 });
  if ((await page.textContent("#ranking h2")) !== "Villages to visit") fail("English was not remembered");
  if ((await page.textContent("#month-name")) !== "August") fail("the month was not restored from the URL");
  ok("English, remembered; month and village restored from the URL");
  await page.click("#lang");

  // The picture for the README: the pilot villages in August by score class, Alasnyiur's panel open.
  await page.selectOption("#mode", "class");
  if (!(await page.textContent("#legend-title")).startsWith("Kelas skor")) fail("the class legend is not shown");
  if (!page.url().includes("colour=class")) fail("the colour mode is not in the URL");
  ok("colouring by score class, with its legend, kept in the URL");
  await page.evaluate(() => window.riskmap.map.jumpTo({ center: [113.497, -7.79], zoom: 11.8 }));
  await page.waitForTimeout(500);
  await page.evaluate(() => window.riskmap.idle());
  await page.screenshot({ path: screenshot });

  // With a key typed in, requests to the service carry it.
  if (process.env.RISKMAP_TEST_KEY) {
    const sent = [];
    page.on("request", (r) => { if (r.url().startsWith(base)) sent.push(r.headers()["authorization"] || ""); });
    await page.fill("#key", process.env.RISKMAP_TEST_KEY);
    await page.click("#keyform button");
    await page.waitForTimeout(800);
    if (!sent.length || sent.some((h) => h !== "Bearer " + process.env.RISKMAP_TEST_KEY)) fail("requests after entering a key: " + JSON.stringify(sent.slice(0, 5)));
    ok(sent.length + " requests carried the key");
  }
  // A wrong key: a message, and the public view keeps working.
  await page.fill("#key", "not-a-real-key-123456");
  await page.click("#keyform button");
  await page.waitForFunction(() => !document.getElementById("notice").hidden, null, { timeout: 10000 });
  const note = await page.textContent("#notice");
  if (!note.includes("Kunci API tidak dikenal")) fail("the bad-key message says " + note);
  errors.splice(0); // the refused requests are the point here
  ok("an unknown key gets a message, and the map goes on in the public view");
  ok("screenshot saved to " + screenshot);

  // A phone-sized viewport: the slider and the map are there and usable.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await phone.goto(base + "/map", { waitUntil: "load" });
  await phone.waitForFunction(() => window.riskmap, null, { timeout: 30000 });
  await phone.evaluate(() => window.riskmap.ready);
  const slider = await phone.locator("#month").boundingBox();
  const mapBox = await phone.locator("#map").boundingBox();
  if (!slider || slider.width < 80 || !mapBox || mapBox.height < 250) fail("phone layout: slider " + JSON.stringify(slider) + ", map " + JSON.stringify(mapBox));
  ok("phone-sized viewport lays out the map and the slider");

  // The HTML pages a GIS officer browses: name and score first, a map of the page.
  const html = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  html.on("pageerror", (e) => errors.push(String(e)));
  await html.goto(base + "/collections/villages/items?f=html&limit=20", { waitUntil: "load" });
  await html.waitForFunction(() => document.getElementById("preview") && document.getElementById("preview").dataset.drawn, null, { timeout: 30000 });
  const drawn = await html.evaluate(() => document.getElementById("preview").dataset.drawn);
  if (drawn !== "20") fail("the items page's map drew " + drawn + " features, want 20");
  const heads = await html.$$eval("th", (ths) => ths.slice(0, 4).map((t) => t.textContent));
  if (heads.join(",") !== "id,name,score,tier") fail("items table columns start " + heads.join(","));
  ok("the items page shows name and score first and maps its 20 villages");
  await html.goto(base + "/collections/villages/items/35.13.13.2003?f=html", { waitUntil: "load" });
  await html.waitForFunction(() => document.getElementById("preview") && document.getElementById("preview").dataset.drawn, null, { timeout: 30000 });
  const first = await html.$$eval("td", (tds) => tds.slice(0, 2).map((t) => t.textContent));
  if (first.join("=") !== "name=Alasnyiur") fail("the feature page starts with " + first.join("="));
  if ((await html.content()).includes("coordinates")) fail("the feature page prints coordinates");
  ok("the feature page shows its properties and a map, not coordinates");

  if (offsite.length) fail("the page requested other hosts: " + offsite.slice(0, 3).join(", "));
  if (errors.length) fail("page errors: " + errors.slice(0, 3).join(" | "));
  ok("no page errors and no request beyond the service");
} finally {
  await browser.close();
}
