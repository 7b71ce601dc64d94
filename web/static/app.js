// riskmap's map page: villages coloured by risk in a month, names on the map,
// the ranking of villages to visit numbered on it, village panels, search,
// reports to print and CSV to download. Bahasa Indonesia first, English as a
// switch. Everything comes from this service; a basemap is drawn only if the
// server names one.
"use strict";
(function () {
  const T = {
    id: {
      months: ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"],
      title: "Peta risiko pekerja anak di desa tembakau", find: "Cari", search: "Nama desa atau kode", month: "Bulan",
      labourIndex: (v, variety) => "(indeks tenaga kerja " + v + ", " + variety + ")", hotspots: "Titik panas", fields: "Lahan tembakau",
      key: "Kunci API", use: "Pakai", keyNone: "kosong: tampilan publik", lang: "English", colourBy: "Warna menurut",
      byTier: "tingkat risiko bulan ini", byClass: "kelas skor (kuantil)", legendTier: (m, h) => "Tingkat risiko (skor bulan ini): tinggi ≥ " + h + ", sedang ≥ " + m,
      legendClass: "Kelas skor bulan ini (kuantil skor tahunan desa)",
      tiers: { high: "tinggi", medium: "sedang", low: "rendah", insufficient_data: "sampel kurang (< 10 rumah tangga)", withheld: "dirahasiakan", no_data: "belum disurvei" },
      hot: "titik panas", cold: "titik dingin", ranking: "Desa yang perlu dikunjungi", area: "Wilayah", everywhere: "Semua wilayah",
      households: "rumah tangga", children: "anak 5-17 tahun", about: "sekitar", withheld: "dirahasiakan", score: "skor",
      smallSample: "sampel kecil: perkiraan ditarik ke rata-rata kecamatan", components: "Komponen skor",
      rankRange: (lo, hi) => "peringkat " + (lo === hi ? lo : lo + "–" + hi),
      inSet: (k) => "kunjungi untuk 90% yakin mencakup " + k + " terburuk",
      certainty: { "pasti": (k) => "pasti " + k + " besar", "mungkin": (k) => "mungkin " + k + " besar", "kecil kemungkinan": (k) => "kecil kemungkinan " + k + " besar" },
      rankNote: (k, n) => "Peringkat dengan rentang 90% dan peluang masuk " + k + " besar. " + (n ? n + " desa tidak dapat dibedakan dari " + k + " besar: urutannya tidak pasti." : ""),
      comp: { prevalence: "anak yang bekerja", mean_household_score: "skor rata-rata rumah tangga", tobacco_share: "luas tembakau",
        farm_labourer_share: "rumah tangga buruh tani", poverty_share: "rumah tangga miskin", institutions_missing: "lembaga perlindungan anak belum ada" },
      compWithheld: "dirahasiakan (bobotnya dialihkan ke komponen lain)", hazardous: "pekerjaan berbahaya", childLabour: "pekerja anak",
      lightWork: "pekerjaan ringan", noSurvey: "Belum ada rumah tangga yang disurvei.",
      insufficient: "Terlalu sedikit rumah tangga disurvei untuk menampilkan angka desa ini (kurang dari 10 rumah tangga atau 20 anak); datanya tetap dihitung untuk kecamatan.",
      institutions: "Lembaga", noneRecorded: "belum tercatat", inst: { task_force: "Gugus Tugas Desa Layak Anak", forum_anak: "Forum Anak", perdes: "Perdes perlindungan anak" },
      hotspotLabel: "Analisis titik panas", kecamatan: "Kecamatan", notFound: (q) => "Tidak ditemukan desa bernama \u201c" + q + "\u201d.",
      matches: (n) => n + " desa dengan nama itu:", badKey: "Kunci API tidak dikenal, kedaluwarsa atau dicabut: tampilan publik.", reportVillage: "Laporan desa (cetak)",
      rounds: "Anak dalam pekerjaan terburuk atau pekerja anak, per putaran survei", round: "Putaran", prevalence: "Prevalensi", change: "Perubahan",
      significant: "melebihi ketidakpastiannya", notSignificant: "dalam batas ketidakpastian",
      reportKecamatan: "Laporan kecamatan (cetak)", csvRanking: "Unduh peringkat (CSV)", csvAreas: "Unduh ringkasan desa (CSV)", surveyPlan: "Survei berikutnya: 2.000 rumah tangga di mana?",
      synthetic: "DATA SINTETIS: contoh yang dibuat program, bukan hasil survei.", seasonal: "Risiko musiman per bulan", notRanked: (n) => n + " desa tanpa angka yang dipublikasikan tidak diperingkat.",
      close: "Tutup", coverage: (s, v, p) => s + " dari " + v + " desa disurvei, " + p + " dengan angka yang dipublikasikan",
      viewDesa: "desa", viewKecamatan: "kecamatan", view: "Tampilan",
      hotspotClass: (c) => ({ not_significant: "tidak signifikan", no_neighbours: "tidak diuji (tanpa desa tetangga)" }[c] ||
        (c.startsWith("hot") ? "titik panas" : "titik dingin") + " (keyakinan " + c.split("_")[1] + "%)"),
    },
    en: {
      months: ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"],
      title: "Child-labour risk in tobacco villages", find: "Find", search: "Village name or code", month: "Month",
      labourIndex: (v, variety) => "(labour index " + v + ", " + variety + ")", hotspots: "Hotspots", fields: "Tobacco fields",
      key: "API key", use: "Use", keyNone: "none: public view", lang: "Bahasa Indonesia", colourBy: "Colour by",
      byTier: "risk tier this month", byClass: "score class (quantiles)", legendTier: (m, h) => "Risk tier (this month's score): high ≥ " + h + ", medium ≥ " + m,
      legendClass: "Score class this month (quantiles of villages' annual scores)",
      tiers: { high: "high", medium: "medium", low: "low", insufficient_data: "too few surveyed (< 10 households)", withheld: "withheld", no_data: "not surveyed" },
      hot: "hotspot", cold: "cold spot", ranking: "Villages to visit", area: "Area", everywhere: "Everywhere",
      households: "households", children: "children aged 5-17", about: "about", withheld: "withheld", score: "score",
      smallSample: "small sample: the estimate is pulled toward the kecamatan", components: "Score components",
      rankRange: (lo, hi) => "rank " + (lo === hi ? lo : lo + "–" + hi),
      inSet: (k) => "visit to be 90% sure of reaching the " + k + " worst",
      certainty: { "pasti": (k) => "surely top " + k, "mungkin": (k) => "maybe top " + k, "kecil kemungkinan": (k) => "unlikely top " + k },
      rankNote: (k, n) => "Ranks with their 90% range and the chance of being in the top " + k + ". " + (n ? n + " villages cannot be told apart from the top " + k + ": their order is not certain." : ""),
      comp: { prevalence: "children working", mean_household_score: "mean household score", tobacco_share: "tobacco area",
        farm_labourer_share: "farm-labourer households", poverty_share: "poor households", institutions_missing: "child-protection institutions missing" },
      compWithheld: "withheld (its weight went to the other components)", hazardous: "hazardous work", childLabour: "child labour",
      lightWork: "light work", noSurvey: "No household surveyed.",
      insufficient: "Too few households surveyed to publish figures for this village (fewer than 10 households or 20 children); they count toward the kecamatan.",
      institutions: "Institutions", noneRecorded: "none recorded", inst: { task_force: "Child-friendly village task force", forum_anak: "Children's forum", perdes: "Village child-protection regulation" },
      hotspotLabel: "Hotspot analysis", kecamatan: "Kecamatan", notFound: (q) => "No village called \u201c" + q + "\u201d.",
      matches: (n) => n + " villages with that name:", badKey: "The API key is unknown, expired or revoked: public view.", reportVillage: "Village report (print)",
      rounds: "Children in hazardous work or child labour, by survey round", round: "Round", prevalence: "Prevalence", change: "Change",
      significant: "beyond its uncertainty", notSignificant: "within its uncertainty",
      reportKecamatan: "Kecamatan report (print)", csvRanking: "Download the ranking (CSV)", csvAreas: "Download village summaries (CSV)", surveyPlan: "Next survey: where to put 2,000 households?",
      synthetic: "SYNTHETIC DATA: generated by the programme's software, not survey results.", seasonal: "Seasonal risk by month", notRanked: (n) => n + " villages without published figures are not ranked.",
      close: "Close", coverage: (s, v, p) => s + " of " + v + " villages surveyed, " + p + " with published figures",
      viewDesa: "villages", viewKecamatan: "kecamatan", view: "View",
      hotspotClass: (c) => ({ not_significant: "not significant", no_neighbours: "not tested (no neighbouring village)" }[c] ||
        (c.startsWith("hot") ? "hotspot" : "cold spot") + " (" + c.split("_")[1] + "% confidence)"),
    },
  };
  const COLOURS = { high: "#bd0026", medium: "#fd8d3c", low: "#fed976", insufficient_data: "#bdbdbd", withheld: "#969696", no_data: "#ececec" };
  const CLASS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
  const origin = window.location.origin;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const params = new URLSearchParams(window.location.search);
  let lang = params.get("lang") || localStorage.getItem("riskmap-lang") || "id";
  if (!T[lang]) lang = "id";
  const t = () => T[lang];
  // An API key (kept for this browser tab only) goes with every request.
  let apiKey = sessionStorage.getItem("riskmap-key") || "";
  const authHeaders = () => (apiKey ? { Authorization: "Bearer " + apiKey } : {});
  function keyRefused() {
    apiKey = "";
    sessionStorage.removeItem("riskmap-key");
    $("key").value = "";
    notice(t().badKey);
    refreshTiles();
  }
  const getJSON = (path) => fetch(path, { headers: { Accept: "application/json", ...authHeaders() } }).then((r) => {
    if (r.status === 401 && apiKey) { keyRefused(); return getJSON(path); }
    if (!r.ok) throw new Error(path + ": " + r.status);
    return r.json();
  });
  function notice(msg) {
    $("notice").textContent = msg;
    $("notice").hidden = !msg;
  }

  maplibregl.setWorkerUrl("/static/vendor/maplibre-gl-csp-worker.js");
  let month = Number(params.get("month")) || 0;
  let mode = params.get("colour") === "class" ? "class" : "tier";
  let view = params.get("view") === "kecamatan" ? "kecamatan" : "desa";
  let selected = params.get("village") || "";
  let tiers = { medium: 30, high: 60 };
  let breaks = [20, 30, 40, 50];
  const basemap = params.get("basemap") || document.body.dataset.basemap || "";
  const tiles = (layer, withMonth) => [origin + "/tiles/" + layer + "/{z}/{x}/{y}.mvt" + (withMonth ? "?month=" + (month || 8) : "")];
  // With serve --pmtiles-url, villages and kecamatan come from the archives
  // of riskmap export --pmtiles (a static host or CDN, read by range
  // requests), in the month they were exported for (manifest.json).
  const archives = document.body.dataset.pmtiles || "";
  const manifest = archives ? fetch(archives + "/manifest.json").then((r) => r.json()) : Promise.resolve(null);
  if (archives) maplibregl.addProtocol("pmtiles", new pmtiles.Protocol().tile);
  const areaSource = (layer, minzoom, maxzoom) => archives
    ? { type: "vector", url: "pmtiles://" + archives + "/" + layer + ".pmtiles" }
    : { type: "vector", tiles: tiles(layer, true), minzoom, maxzoom };

  const style = {
    version: 8,
    sources: {
      // Villages from zoom 8 (a pixel or two wide under it): the kecamatan,
      // then the kabupaten, colour the map at province and national zoom.
      villages: areaSource("villages", 8, 16),
      kecamatan: areaSource("kecamatan", 6, 14),
      kabupaten: { type: "vector", tiles: tiles("kabupaten", true), minzoom: 0, maxzoom: 14 },
      plantations: { type: "vector", tiles: tiles("plantations"), minzoom: 11, maxzoom: 16 },
      hotspots: { type: "vector", tiles: tiles("hotspots"), minzoom: 8, maxzoom: 16 },
    },
    layers: [{ id: "background", type: "background", paint: { "background-color": "#f4f4f1" } }],
  };
  if (basemap) {
    style.sources.basemap = { type: "raster", tiles: [basemap], tileSize: 256 };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  // Villages without published figures are coloured by why (not surveyed,
  // too few surveyed, withheld), never as low risk.
  const fillColour = () => {
    const status = ["get", "status"];
    const byValue = mode === "tier"
      ? ["step", ["get", "seasonal_score"], COLOURS.low, tiers.medium, COLOURS.medium, tiers.high, COLOURS.high]
      : ["step", ["get", "seasonal_score"], CLASS[0], breaks[0], CLASS[1], breaks[1], CLASS[2], breaks[2], CLASS[3], breaks[3], CLASS[4]];
    return ["case",
      ["==", status, "insufficient_data"], COLOURS.insufficient_data,
      ["==", status, "withheld"], COLOURS.withheld,
      ["==", ["get", "seasonal_score"], null], COLOURS.no_data,
      byValue];
  };
  style.layers.push(
    { id: "villages-fill", type: "fill", source: "villages", "source-layer": "villages", layout: { visibility: view === "desa" ? "visible" : "none" },
      paint: { "fill-opacity": 0.85, "fill-color": fillColour() } },
    { id: "kabupaten-fill", type: "fill", source: "kabupaten", "source-layer": "kabupaten", maxzoom: 6,
      paint: { "fill-opacity": 0.85, "fill-color": fillColour() } },
    { id: "kecamatan-fill", type: "fill", source: "kecamatan", "source-layer": "kecamatan", minzoom: 6, maxzoom: view === "kecamatan" ? 24 : 8,
      paint: { "fill-opacity": 0.85, "fill-color": fillColour() } },
    { id: "villages-line", type: "line", source: "villages", "source-layer": "villages", paint: { "line-color": "#777", "line-width": 0.5 } },
    { id: "plantations", type: "fill", source: "plantations", "source-layer": "plantations", paint: { "fill-color": "#3f7f3f", "fill-opacity": 0.7 } },
    // The published kecamatan and kabupaten outlines are simplified by their
    // source and cut across villages up close: drawn only at lower zooms.
    { id: "kecamatan-line", type: "line", source: "kecamatan", "source-layer": "kecamatan", maxzoom: 11.5, paint: { "line-color": "#333", "line-width": 1.5 } },
    { id: "kabupaten-line", type: "line", source: "kabupaten", "source-layer": "kabupaten", maxzoom: 11.5, paint: { "line-color": "#000", "line-width": 2.5 } },
    { id: "hotspots", type: "line", source: "hotspots", "source-layer": "hotspots", layout: { visibility: "none" },
      filter: ["in", ["get", "class"], ["literal", ["hot_99", "hot_95", "cold_99", "cold_95"]]],
      paint: { "line-width": 3, "line-color": ["case", ["in", "hot", ["get", "class"]], "#d7301f", "#2b8cbe"] } },
    { id: "selected", type: "line", source: "villages", "source-layer": "villages", filter: ["==", ["get", "code"], selected],
      paint: { "line-color": "#111", "line-width": 3.5 } },
  );

  // The page opens on the data's extent (data-bounds, from the server),
  // or on a village named in the URL, which it flies to once it loads.
  const bounds = (document.body.dataset.bounds || "").split(",").map(Number);
  const opening = bounds.length === 4 && bounds.every(Number.isFinite) && !params.get("village")
    ? { bounds: [[bounds[0], bounds[1]], [bounds[2], bounds[3]]], fitBoundsOptions: { padding: 20 } }
    : { center: [113.5, -7.8], zoom: 11 };
  const map = new maplibregl.Map({
    container: "map", style, ...opening, hash: false,
    transformRequest: (url) => (url.startsWith(origin) ? { url, headers: authHeaders() } : { url }),
    attributionControl: false, canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  const ready = new Promise((resolve) => map.once("idle", resolve)); // the first full draw
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  map.on("error", (e) => { if (e.error && String(e.error.status) === "401" && apiKey) keyRefused(); });

  function refreshTiles() {
    for (const id of ["villages", "kecamatan", "kabupaten", "plantations", "hotspots"]) {
      if (map.getSource(id)) map.getSource(id).setTiles(tiles(id, id === "villages" || id === "kecamatan" || id === "kabupaten"));
    }
  }

  // The URL holds the state: month, colour mode, village, language.
  function saveState() {
    const p = new URLSearchParams();
    p.set("month", month);
    if (mode !== "tier") p.set("colour", mode);
    if (view !== "desa") p.set("view", view);
    if (selected) p.set("village", selected);
    if (lang !== "id") p.set("lang", lang);
    history.replaceState(null, "", "/map?" + p.toString());
  }

  // Texts.
  function applyTexts() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t()[el.dataset.t]; });
    $("q").placeholder = t().search;
    $("key").placeholder = t().keyNone;
    $("lang").textContent = t().lang;
    $("mode").options[0].textContent = t().byTier;
    $("mode").options[1].textContent = t().byClass;
    $("view").options[0].textContent = t().viewDesa;
    $("view").options[1].textContent = t().viewKecamatan;
    $("area").options[0].textContent = t().everywhere;
    document.title = "riskmap · " + t().title;
    legend();
    showMonth();
  }
  function legend() {
    const items = mode === "tier"
      ? [["high", COLOURS.high], ["medium", COLOURS.medium], ["low", COLOURS.low]].map(([k, c]) => [t().tiers[k], c])
      : CLASS.map((c, i) => [(i === 0 ? "< " + breaks[0] : i === 4 ? "≥ " + breaks[3] : breaks[i - 1] + "–" + breaks[i]), c]);
    for (const k of ["insufficient_data", "withheld", "no_data"]) items.push([t().tiers[k], COLOURS[k]]);
    $("legend-title").textContent = mode === "tier" ? t().legendTier(tiers.medium, tiers.high) : t().legendClass;
    $("legend-items").innerHTML = items.map(([label, c]) => '<li><span class="swatch" style="background:' + c + '"></span> ' + esc(label) + "</li>").join("");
  }
  let calendar = null;
  function showMonth() {
    $("month-name").textContent = t().months[month - 1] || "";
    const v = calendar && calendar.varieties[calendar.default_variety];
    $("labour-index").textContent = v ? t().labourIndex(v[month - 1], calendar.default_variety) : "";
  }
  function setMonth(m) {
    if (archives) return; // the archives hold one month
    month = m;
    $("month").value = m;
    showMonth();
    if (map.getSource("villages")) map.getSource("villages").setTiles(tiles("villages", true));
    if (map.getSource("kecamatan")) map.getSource("kecamatan").setTiles(tiles("kecamatan", true));
    if (map.getSource("kabupaten")) map.getSource("kabupaten").setTiles(tiles("kabupaten", true));
    saveState();
    loadTargets();
    if (!$("panel").hidden && selected) openPanel(selected);
  }
  $("month").addEventListener("input", (e) => setMonth(Number(e.target.value)));
  $("mode").value = mode;
  $("mode").addEventListener("change", (e) => {
    mode = e.target.value;
    for (const id of ["villages-fill", "kecamatan-fill", "kabupaten-fill"]) map.setPaintProperty(id, "fill-color", fillColour());
    legend();
    saveState();
  });
  // The kecamatan view: kecamatan coloured by their figures; a click gives
  // the kecamatan's summary and its villages to visit.
  $("view").value = view;
  $("view").addEventListener("change", (e) => {
    view = e.target.value;
    // Under zoom 8 the kecamatan colour the map in either view.
    map.setLayoutProperty("villages-fill", "visibility", view === "desa" ? "visible" : "none");
    map.setLayerZoomRange("kecamatan-fill", 6, view === "kecamatan" ? 24 : 8);
    saveState();
  });
  map.on("click", "kecamatan-fill", (e) => { if (e.features.length) openKecamatan(e.features[0].properties.code); });
  function openKecamatan(code) {
    return Promise.all([getJSON("/aggregates/kecamatan?parent=" + encodeURIComponent(code.split(".").slice(0, 2).join("."))), getJSON("/targets/villages?month=" + month + "&limit=5&area=" + encodeURIComponent(code))]).then(([ks, tg]) => {
      const k = ks.find((x) => x.code === code);
      if (!k) return null;
      const n = (v) => (v == null ? t().withheld : t().about + " " + v);
      $("panel-body").innerHTML = "<h2>" + esc(t().kecamatan + " " + (k.name || code)) + "</h2><p>" + esc(code) + "</p>" +
        "<p><strong>" + esc(t().tiers[k.tier] || k.tier || "") + "</strong>" + (k.score != null ? " · " + t().score + " " + Number(k.score).toFixed(1) : "") + "</p>" +
        "<p>" + esc(t().coverage(k.surveyed_villages, k.villages, k.published_villages)) + "</p>" +
        "<p>" + n(k.households) + " " + t().households + ", " + n(k.children) + " " + t().children + ": " + n(k.hazardous) + " " + t().hazardous + ", " + n(k.child_labour) + " " + t().childLabour + ".</p>" +
        "<h3>" + esc(t().ranking) + "</h3><ol>" + tg.targets.map((v) => "<li>" + esc(v.name) + " · " + esc(t().tiers[v.tier] || v.tier) + " · " + Number(v.seasonal_score).toFixed(1) + "</li>").join("") + "</ol>" +
        '<p class="actions"><a href="/report/kecamatan/' + encodeURIComponent(code) + "?month=" + month + '" target="_blank">' + esc(t().reportKecamatan) + "</a></p>";
      $("panel").hidden = false;
      $("panel").dataset.code = code;
      return k;
    });
  }
  $("lang").addEventListener("click", () => {
    lang = lang === "id" ? "en" : "id";
    localStorage.setItem("riskmap-lang", lang);
    applyTexts();
    saveState();
    loadTargets();
    if (!$("panel").hidden && selected) openPanel(selected);
  });
  $("key").value = apiKey;
  $("keyform").addEventListener("submit", (e) => {
    e.preventDefault();
    apiKey = $("key").value.trim();
    if (apiKey) sessionStorage.setItem("riskmap-key", apiKey); else sessionStorage.removeItem("riskmap-key");
    notice("");
    // Check the key once before every tile asks with it.
    getJSON("/run").then(() => { refreshTiles(); loadTargets(); }).catch(() => {});
  });
  $("hotspots").addEventListener("change", (e) => map.setLayoutProperty("hotspots", "visibility", e.target.checked ? "visible" : "none"));
  $("fields").addEventListener("change", (e) => map.setLayoutProperty("plantations", "visibility", e.target.checked ? "visible" : "none"));

  // Names on the map, without font files: village names from zoom 12,
  // kecamatan names from 8.5; only those in view, asked of the service for
  // the view (every village's label is megabytes at national size).
  const labelMarkers = new Map();
  let labelSeq = 0;
  function drawLabels() {
    const z = map.getZoom(), b = map.getBounds(), seq = ++labelSeq;
    const level = z >= 12 ? "desa" : z >= 8.5 ? "kecamatan" : "";
    const got = !level ? Promise.resolve([])
      : getJSON("/labels/" + level + "?limit=300&bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(","));
    return got.then((want) => {
      if (seq !== labelSeq) return; // the map moved on
      const keep = new Set();
      for (const l of want) {
        const k = (level === "desa" ? "d:" : "k:") + l.code;
        keep.add(k);
        if (!labelMarkers.has(k)) {
          const el = document.createElement("div");
          el.className = level === "desa" ? "label" : "label kec";
          el.textContent = l.name;
          el.dataset.code = l.code;
          labelMarkers.set(k, new maplibregl.Marker({ element: el }).setLngLat([l.lon, l.lat]).addTo(map));
        }
      }
      for (const [k, m] of labelMarkers) if (!keep.has(k)) { m.remove(); labelMarkers.delete(k); }
    }).catch(() => {});
  }
  const labelsReady = map.loaded() ? drawLabels() : new Promise((resolve) => map.once("load", () => resolve(drawLabels())));
  map.on("moveend", drawLabels);

  // Search: every village whose name matches, with its kecamatan.
  function flyTo(code) {
    return getJSON("/collections/villages/items/" + encodeURIComponent(code) + "?properties=code").then((f) => {
      const b = new maplibregl.LngLatBounds();
      const walk = (c) => (typeof c[0] === "number" ? b.extend(c) : c.forEach(walk));
      walk(f.geometry.coordinates);
      map.fitBounds(b, { padding: 60, maxZoom: 14, duration: 600 });
      return openPanel(code);
    }).catch(() => openPanel(code));
  }
  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("q").value.trim().toLowerCase();
    $("matches").innerHTML = "";
    if (!q) return;
    // The service searches every village; an exact name or code wins.
    getJSON("/labels/desa?limit=101&q=" + encodeURIComponent(q)).then((found) => {
      let hits = found.filter((v) => v.code === q || v.name.toLowerCase() === q);
      if (!hits.length) hits = found;
      if (!hits.length) { $("matches").innerHTML = "<p class='warn'>" + esc(t().notFound($("q").value.trim())) + "</p>"; return; }
      if (hits.length === 1) { flyTo(hits[0].code); return; }
      $("matches").innerHTML = "<p>" + esc(t().matches(hits.length > 100 ? "100+" : hits.length)) + "</p><ul>" + hits.slice(0, 30).map((v) =>
        '<li><button type="button" data-code="' + esc(v.code) + '">' + esc(v.name) + "</button> <small>" + esc(t().kecamatan + " " + v.kecamatan + " · " + v.code) + "</small></li>").join("") + "</ul>";
    });
  });
  $("matches").addEventListener("click", (e) => { const b = e.target.closest("button"); if (b) { $("matches").innerHTML = ""; flyTo(b.dataset.code); } });

  // The village panel.
  function chart(values) {
    if (!values) return "";
    const w = 300, h = 80, top = Math.max(1, ...values);
    const pts = values.map((v, i) => (10 + i * (w - 20) / 11).toFixed(1) + "," + (h - 15 - (v / top) * (h - 25)).toFixed(1)).join(" ");
    const marks = values.map((v, i) => '<text x="' + (10 + i * (w - 20) / 11).toFixed(1) + '" y="' + (h - 2) + '" font-size="9" text-anchor="middle">' + t().months[i][0] + "</text>").join("");
    return '<svg role="img" aria-label="' + esc(t().seasonal) + '" viewBox="0 0 ' + w + " " + h + '" width="100%"><polyline fill="none" stroke="#bd0026" stroke-width="2" points="' + pts + '"/>' +
      '<circle r="4" fill="#bd0026" cx="' + (10 + (month - 1) * (w - 20) / 11).toFixed(1) + '" cy="' + (h - 15 - (values[month - 1] / top) * (h - 25)).toFixed(1) + '"/>' + marks + "</svg>";
  }
  function componentsTable(components, withNames) {
    const names = Object.keys(t().comp);
    const rows = names.filter((k) => components && k in components || withNames).map((k) => {
      const v = components ? components[k] : null;
      return "<tr><td>" + esc(t().comp[k]) + "</td><td>" + (v == null ? "<i>" + esc(t().compWithheld) + "</i>" : Number(v).toFixed(1)) + "</td></tr>";
    });
    return rows.length ? "<table><caption>" + esc(t().components) + "</caption>" + rows.join("") + "</table>" : "";
  }
  function openPanel(code) {
    selected = code;
    map.setFilter("selected", ["==", ["get", "code"], code]);
    saveState();
    return getJSON("/villages/" + encodeURIComponent(code) + "/profile").then((p) => {
      const cls = p.classification || {};
      const n = (v) => (v == null ? t().withheld : t().about + " " + v);
      const inst = (p.institutions || []).map((i) => esc(t().inst[i.kind] || i.kind) + (i.established ? " (" + esc(i.established.slice(0, 4)) + ")" : "")).join(", ") || t().noneRecorded;
      const published = p.status === "published";
      $("panel-body").innerHTML = "<h2>" + esc(p.name) + "</h2><p>" + esc(p.code) + " · " + esc(t().kecamatan + " " + p.kecamatan) + "</p>" +
        "<p><strong>" + esc(t().tiers[p.tier] || p.tier) + "</strong>" + (p.score != null ? " · " + t().score + " " + Number(p.score).toFixed(1) : "") +
        (p.monthly ? " · " + t().months[month - 1] + " " + Number(p.monthly[month - 1]).toFixed(1) : "") + "</p>" +
        (p.status === "insufficient_data" ? "<p>" + esc(t().insufficient) + "</p>" :
          p.tier !== "no_data" ? "<p>" + n(p.households) + " " + t().households + ", " + n(p.children) + " " + t().children + ": " +
            n(cls.hazardous) + " " + t().hazardous + ", " + n(cls.child_labour) + " " + t().childLabour + ", " + n(cls.light_work) + " " + t().lightWork + ".</p>" : "<p>" + t().noSurvey + "</p>") +
        chart(p.monthly) + '<div id="rounds"></div>' + (published ? componentsTable(p.components, true) : "") +
        "<p>" + esc(t().institutions) + ": " + inst + "</p>" + (p.hotspot ? "<p>" + esc(t().hotspotLabel) + ": " + esc(t().hotspotClass(p.hotspot.class)) + "</p>" : "") +
        '<p class="actions"><a href="/report/desa/' + encodeURIComponent(p.code) + "?month=" + month + '" target="_blank">' + esc(t().reportVillage) + "</a> · " +
        '<a href="/report/kecamatan/' + encodeURIComponent(p.kecamatan_code) + "?month=" + month + '" target="_blank">' + esc(t().reportKecamatan) + "</a></p>";
      $("panel").hidden = false;
      $("panel").dataset.code = code;
      loadRounds(code);
      return p;
    });
  }
  // Every round's published prevalence of the village and the change since
  // the round before, with whether it exceeds its uncertainty.
  function loadRounds(code) {
    const pct = (v) => (v == null ? "<i>" + esc(t().withheld) + "</i>" : (100 * v).toFixed(0) + "%");
    return getJSON("/collections/village_rounds/items?code=" + encodeURIComponent(code) + "&sortby=round_start&limit=20&properties=round,round_label,status,prevalence,prev_lo,prev_hi,change,change_lo,change_hi,change_significant")
      .then((fc) => {
        if ($("panel").dataset.code !== code || !$("rounds")) return;
        const rows = (fc.features || []).map((f) => {
          const r = f.properties;
          const ch = r.change == null ? "" : (r.change > 0 ? "+" : "") + (100 * r.change).toFixed(0) + " pp (" + (100 * r.change_lo).toFixed(0) + " … " + (100 * r.change_hi).toFixed(0) + ")" +
            " <small>" + esc(r.change_significant ? t().significant : t().notSignificant) + "</small>";
          return "<tr><td>" + esc(r.round_label || r.round) + "</td><td>" + pct(r.prevalence) + "</td><td>" + ch + "</td></tr>";
        });
        $("rounds").innerHTML = rows.length ? '<table class="rounds"><caption>' + esc(t().rounds) + "</caption><tr><th>" + esc(t().round) + "</th><th>" +
          esc(t().prevalence) + "</th><th>" + esc(t().change) + "</th></tr>" + rows.join("") + "</table>" : "";
      })
      .catch(() => {});
  }
  $("close").addEventListener("click", () => { $("panel").hidden = true; selected = ""; map.setFilter("selected", ["==", ["get", "code"], ""]); saveState(); });
  map.on("click", "villages-fill", (e) => { if (e.features.length) openPanel(e.features[0].properties.code); });
  map.on("mouseenter", "villages-fill", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "villages-fill", () => { map.getCanvas().style.cursor = ""; });

  // The ranking, numbered on the map too.
  const numberMarkers = [];
  let targetsSeq = 0;
  function loadTargets() {
    const seq = ++targetsSeq;
    const area = $("area").value;
    const q = "month=" + month + "&limit=15" + (area ? "&area=" + encodeURIComponent(area) : "");
    $("csv-ranking").href = "/targets/villages?f=csv&" + q.replace("limit=15", "limit=1000");
    $("csv-areas").href = "/aggregates/desa?f=csv" + (area ? "&parent=" + encodeURIComponent(area) : "");
    $("survey-plan").href = "/targets/survey-plan?f=html&households=2000&month=" + month + (area ? "&area=" + encodeURIComponent(area) : "");
    return getJSON("/targets/villages?" + q).then((r) => {
      if (seq !== targetsSeq) return; // a newer ranking was asked for
      $("targets").innerHTML = r.targets.map((v) => {
        const small = (v.data_quality || []).length || (v.households != null && v.households < 20);
        return '<li><button type="button" data-code="' + esc(v.code || v.id) + '">' + esc(v.name) + "</button> <small>" + esc(t().kecamatan + " " + (v.kecamatan || "")) + "</small><br>" +
          '<span class="tier ' + esc(v.tier) + '">' + esc(t().tiers[v.tier] || v.tier) + "</span> · " + Number(v.seasonal_score).toFixed(1) +
          (v.households != null ? " · " + t().about + " " + v.households + " " + t().households : "") +
          (v.p_top != null ? '<br><span class="certainty ' + esc(v.top_certainty.replace(" ", "-")) + '">' + esc(t().certainty[v.top_certainty](r.top)) +
            " (" + Number(v.p_top).toLocaleString(lang === "en" ? "en" : "id", { maximumFractionDigits: 2 }) + ")</span> · " + esc(t().rankRange(v.rank_low, v.rank_high)) +
            (v.in_top_set ? ' · <span class="in-set">' + esc(t().inSet(r.top)) + "</span>" : "") : "") +
          (small ? ' <span class="warn">' + esc(t().smallSample) + "</span>" : "") +
          (v.components ? "<details><summary>" + esc(t().components) + "</summary>" + componentsTable(v.components, true) + "</details>" : "") + "</li>";
      }).join("");
      const nr = Object.values(r.not_ranked || {}).reduce((a, b) => a + b, 0);
      const unsure = r.targets.filter((v) => v.rank_low != null && v.rank_low <= r.top && v.top_certainty !== "pasti").length;
      $("not-ranked").textContent = t().rankNote(r.top, unsure) + " " + (nr ? t().notRanked(nr) : "");
      numberMarkers.splice(0).forEach((m) => m.remove());
      r.targets.slice(0, 10).forEach((v, i) => getJSON("/labels/desa?limit=1&q=" + encodeURIComponent(v.code || v.id)).then(([l]) => {
        if (!l || seq !== targetsSeq) return;
        const el = document.createElement("div");
        el.className = "rank";
        el.textContent = String(i + 1);
        el.title = v.name;
        numberMarkers.push(new maplibregl.Marker({ element: el, offset: [0, -14] }).setLngLat([l.lon, l.lat]).addTo(map));
      }).catch(() => {}));
    });
  }
  $("targets").addEventListener("click", (e) => { const b = e.target.closest("button"); if (b) flyTo(b.dataset.code); });
  $("area").addEventListener("change", () => {
    loadTargets();
    const a = $("area").value;
    (a ? getJSON("/labels/desa?q=" + encodeURIComponent(a + ".")) : Promise.resolve([])).then((hits) => {
      if (!hits.length) return;
      const b = new maplibregl.LngLatBounds();
      hits.forEach((v) => b.extend([v.lon, v.lat]));
      map.fitBounds(b, { padding: 40, duration: 500, maxZoom: 13 });
    });
  });
  // The kecamatan to choose from (7,285 in the country): listed once the
  // map has drawn, not while it draws.
  ready.then(() => getJSON("/aggregates/kecamatan")).then((ks) => {
    $("area").insertAdjacentHTML("beforeend", ks.map((k) => '<option value="' + esc(k.code) + '">' + esc(k.name || k.code) + "</option>").join(""));
  }).catch(() => {});

  // The data behind the figures: synthetic or not, the tier cut-offs, the
  // class breaks (quintiles of published villages' annual scores).
  getJSON("/run").then((r) => {
    $("synthetic").hidden = !r.synthetic;
    if (r.score_breaks && r.score_breaks.length === 4) breaks = r.score_breaks.map((b) => Math.round(b * 10) / 10);
    if (mode === "class") for (const id of ["villages-fill", "kecamatan-fill", "kabupaten-fill"]) map.setPaintProperty(id, "fill-color", fillColour());
    legend();
  }).catch(() => {});

  // Open on the month of the coming peak (unless the URL names one), fitted
  // to the data.
  const calendarReady = Promise.all([getJSON("/calendar").then((c) => { calendar = c; }).catch(() => {}), manifest.catch(() => null)]).then(([, man]) => {
    if (man && man.month) {
      month = man.month;
      $("month").disabled = true;
      $("month").title = "static tiles (" + archives + "): exported for this month";
    }
    if (!month) {
      const v = calendar && calendar.varieties[calendar.default_variety];
      const now = new Date().getMonth();
      month = 8;
      if (v) {
        let best = -1;
        for (let i = 0; i < 12; i++) {
          const m = (now + i) % 12;
          if (v[m] > best + 1e-9) { best = v[m]; month = m + 1; }
        }
      }
    }
    $("month").value = month;
    if (!archives) for (const id of ["villages", "kecamatan", "kabupaten"]) map.getSource(id).setTiles(tiles(id, true));
    applyTexts();
    saveState();
    loadTargets();
  });
  if (!opening.bounds && !params.get("village")) fetch("/tiles/villages.json").then((r) => r.json()).then((tj) => {
    if (tj.bounds) map.fitBounds([[tj.bounds[0], tj.bounds[1]], [tj.bounds[2], tj.bounds[3]]], { padding: 20, duration: 0 });
  }).catch(() => {});
  applyTexts();
  if (selected) labelsReady.then(() => flyTo(selected));

  // For tests and the curious: the map, and the colour drawn at a place.
  window.riskmap = {
    map, ready, calendarReady, labelsReady, setMonth, openPanel, openKecamatan, flyTo,
    get month() { return month; },
    idle: () => new Promise((resolve) => { map.once("idle", resolve); map.triggerRepaint(); }),
    colourAt(lngLat) {
      const p = map.project(lngLat), gl = map.painter.context.gl, px = new Uint8Array(4);
      const r = window.devicePixelRatio || 1;
      gl.readPixels(Math.round(p.x * r), Math.round(gl.drawingBufferHeight - p.y * r), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
      return Array.from(px);
    },
  };
})();
