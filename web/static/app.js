// riskmap's map page: villages coloured by seasonal risk, a month slider,
// village panels, search and the ranking of villages to visit. Everything
// comes from this service; a basemap is drawn only if the server names one.
"use strict";
(function () {
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December"];
  // ColorBrewer YlOrRd: sequential and safe for colour-blind readers.
  const RAMP = [0, "#ffffb2", 25, "#fecc5c", 50, "#fd8d3c", 75, "#f03b20", 100, "#bd0026"];
  const NO_DATA = "#c8c8c8";
  const origin = window.location.origin;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  // An API key (kept for this browser tab only) goes with every request.
  let apiKey = sessionStorage.getItem("riskmap-key") || "";
  const authHeaders = () => (apiKey ? { Authorization: "Bearer " + apiKey } : {});
  const getJSON = (path) => fetch(path, { headers: { Accept: "application/json", ...authHeaders() } }).then((r) => {
    if (!r.ok) throw new Error(path + ": " + r.status);
    return r.json();
  });

  maplibregl.setWorkerUrl("/static/vendor/maplibre-gl-csp-worker.js");
  const params = new URLSearchParams(window.location.search);
  let month = Number(params.get("month")) || new Date().getMonth() + 1;
  $("month").value = month;
  const basemap = params.get("basemap") || document.body.dataset.basemap || "";
  const tiles = (layer, withMonth) => [origin + "/tiles/" + layer + "/{z}/{x}/{y}.mvt" + (withMonth ? "?month=" + month : "")];

  const style = {
    version: 8,
    sources: {
      villages: { type: "vector", tiles: tiles("villages", true), minzoom: 7, maxzoom: 16 },
      kecamatan: { type: "vector", tiles: tiles("kecamatan"), minzoom: 6, maxzoom: 14 },
      kabupaten: { type: "vector", tiles: tiles("kabupaten"), minzoom: 0, maxzoom: 14 },
      plantations: { type: "vector", tiles: tiles("plantations"), minzoom: 11, maxzoom: 16 },
      hotspots: { type: "vector", tiles: tiles("hotspots"), minzoom: 7, maxzoom: 16 },
    },
    layers: [{ id: "background", type: "background", paint: { "background-color": "#f4f4f1" } }],
  };
  if (basemap) {
    style.sources.basemap = { type: "raster", tiles: [basemap], tileSize: 256 };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  style.layers.push(
    { id: "villages-fill", type: "fill", source: "villages", "source-layer": "villages",
      paint: { "fill-opacity": 0.8, "fill-color": ["case", ["==", ["get", "seasonal_score"], null], NO_DATA,
        ["interpolate", ["linear"], ["get", "seasonal_score"], ...RAMP]] } },
    { id: "villages-line", type: "line", source: "villages", "source-layer": "villages",
      paint: { "line-color": "#777", "line-width": 0.5 } },
    { id: "plantations", type: "fill", source: "plantations", "source-layer": "plantations",
      paint: { "fill-color": "#3f7f3f", "fill-opacity": 0.7 } },
    { id: "kecamatan-line", type: "line", source: "kecamatan", "source-layer": "kecamatan",
      paint: { "line-color": "#333", "line-width": 1.5 } },
    { id: "kabupaten-line", type: "line", source: "kabupaten", "source-layer": "kabupaten",
      paint: { "line-color": "#000", "line-width": 2.5 } },
    { id: "hotspots", type: "line", source: "hotspots", "source-layer": "hotspots",
      layout: { visibility: "none" },
      filter: ["in", ["get", "class"], ["literal", ["hot_99", "hot_95", "cold_99", "cold_95"]]],
      paint: { "line-width": 3, "line-color": ["case", ["in", "hot", ["get", "class"]], "#d7301f", "#2b8cbe"] } },
  );

  const map = new maplibregl.Map({
    container: "map", style, center: [113.5, -7.8], zoom: 11, hash: false,
    transformRequest: (url) => (url.startsWith(origin) ? { url, headers: authHeaders() } : { url }),
    attributionControl: false, canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  map.addControl(new maplibregl.NavigationControl(), "top-right");

  let calendar = null;
  function showMonth() {
    $("month-name").textContent = MONTHS[month - 1];
    const v = calendar && calendar.varieties[calendar.default_variety];
    $("labour-index").textContent = v ? "(labour index " + v[month - 1] + ", " + calendar.default_variety + ")" : "";
  }
  function setMonth(m) {
    month = m;
    $("month").value = m;
    showMonth();
    map.getSource("villages").setTiles(tiles("villages", true));
    loadTargets();
  }
  $("month").addEventListener("input", (e) => setMonth(Number(e.target.value)));
  $("key").value = apiKey;
  $("keyform").addEventListener("submit", (e) => {
    e.preventDefault();
    apiKey = $("key").value.trim();
    if (apiKey) sessionStorage.setItem("riskmap-key", apiKey); else sessionStorage.removeItem("riskmap-key");
    for (const id of ["villages", "kecamatan", "kabupaten", "plantations", "hotspots"]) {
      map.getSource(id).setTiles(tiles(id, id === "villages"));
    }
    loadTargets();
  });
  $("hotspots").addEventListener("change", (e) => map.setLayoutProperty("hotspots", "visibility", e.target.checked ? "visible" : "none"));
  $("fields").addEventListener("change", (e) => map.setLayoutProperty("plantations", "visibility", e.target.checked ? "visible" : "none"));

  // Search: the village list comes once; the geometry of the one found gives its bounds.
  let villages = [];
  getJSON("/collections/villages/items?limit=10000&properties=code,name,kecamatan").then((fc) => {
    villages = fc.features.map((f) => f.properties);
    $("village-names").innerHTML = villages.map((v) => '<option value="' + esc(v.name) + '">' + esc(v.code + " " + v.kecamatan) + "</option>").join("");
  });
  function bounds(geom) {
    const b = new maplibregl.LngLatBounds();
    const walk = (c) => (typeof c[0] === "number" ? b.extend(c) : c.forEach(walk));
    walk(geom.coordinates);
    return b;
  }
  function flyTo(code) {
    return getJSON("/collections/villages/items/" + encodeURIComponent(code)).then((f) => {
      map.fitBounds(bounds(f.geometry), { padding: 60, maxZoom: 14, duration: 600 });
      return openPanel(code);
    });
  }
  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("q").value.trim().toLowerCase();
    const v = villages.find((v) => v.code === q || v.name.toLowerCase() === q) ||
      villages.find((v) => v.name.toLowerCase().includes(q));
    if (v) flyTo(v.code);
  });

  // The village panel.
  function chart(values) {
    if (!values) return "";
    const w = 300, h = 80, top = Math.max(1, ...values);
    const pts = values.map((v, i) => (10 + i * (w - 20) / 11).toFixed(1) + "," + (h - 15 - (v / top) * (h - 25)).toFixed(1)).join(" ");
    const marks = values.map((v, i) => '<text x="' + (10 + i * (w - 20) / 11).toFixed(1) + '" y="' + (h - 2) + '" font-size="9" text-anchor="middle">' + MONTHS[i][0] + "</text>").join("");
    return '<svg role="img" aria-label="Seasonal risk by month" viewBox="0 0 ' + w + " " + h + '" width="100%"><polyline fill="none" stroke="#bd0026" stroke-width="2" points="' + pts + '"/>' +
      '<circle r="4" fill="#bd0026" cx="' + (10 + (month - 1) * (w - 20) / 11).toFixed(1) + '" cy="' + (h - 15 - (values[month - 1] / top) * (h - 25)).toFixed(1) + '"/>' + marks + "</svg>";
  }
  function openPanel(code) {
    return getJSON("/villages/" + encodeURIComponent(code) + "/profile").then((p) => {
      const comp = Object.entries(p.components || {}).sort((a, b) => b[1] - a[1])
        .map(([k, v]) => "<tr><td>" + esc(k.replaceAll("_", " ")) + "</td><td>" + Number(v).toFixed(1) + "</td></tr>").join("");
      const cls = p.classification || {};
      // Published counts are rounded to 5 ("about"); counts withheld to
      // protect small ones say so; villages under the minimum sample show none.
      const n = (v) => (v == null ? "(withheld)" : "about " + v);
      const inst = (p.institutions || []).map((i) => esc(i.kind.replace("_", " ")) + (i.established ? " (" + esc(i.established.slice(0, 4)) + ")" : "")).join(", ") || "none recorded";
      $("panel-body").innerHTML = "<h2>" + esc(p.name) + "</h2><p>" + esc(p.code) + " · Kecamatan " + esc(p.kecamatan) + "</p>" +
        "<p><strong>Tier: " + esc(p.tier) + "</strong>" + (p.score != null ? " · score " + Number(p.score).toFixed(1) : "") +
        (p.monthly ? " · " + MONTHS[month - 1] + " " + Number(p.monthly[month - 1]).toFixed(1) : "") + "</p>" +
        (p.status === "insufficient_data" ? "<p>Too few households surveyed to publish figures for this village (fewer than 10 households or 20 children); they count toward the kecamatan.</p>" :
        p.tier !== "no_data" ? "<p>" + n(p.households) + " households surveyed, " + n(p.children) + " children aged 5-17: " +
          n(cls.hazardous) + " in hazardous work, " + n(cls.child_labour) + " in child labour, " + n(cls.light_work) + " in light work.</p>" : "<p>No household surveyed.</p>") +
        chart(p.monthly) + (comp ? "<table><caption>Score components</caption>" + comp + "</table>" : "") +
        "<p>Institutions: " + inst + "</p>" + (p.hotspot ? "<p>Hotspot analysis: " + esc(p.hotspot.class.replace("_", " ")) + "</p>" : "");
      $("panel").hidden = false;
      $("panel").dataset.code = code;
      return p;
    });
  }
  $("close").addEventListener("click", () => { $("panel").hidden = true; });
  map.on("click", "villages-fill", (e) => { if (e.features.length) openPanel(e.features[0].properties.code); });
  map.on("mouseenter", "villages-fill", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "villages-fill", () => { map.getCanvas().style.cursor = ""; });

  // Ranking of villages for the month and area.
  function loadTargets() {
    const area = $("area").value;
    return getJSON("/targets/villages?month=" + month + "&limit=15" + (area ? "&area=" + encodeURIComponent(area) : "")).then((t) => {
      $("targets").innerHTML = t.targets.map((v) => '<li><button type="button" data-code="' + esc(v.code) + '">' + esc(v.name) +
        "</button> " + Number(v.seasonal_score).toFixed(1) + " <small>" + esc(v.reasons.slice(0, 2).join("; ")) + "</small></li>").join("");
    });
  }
  $("targets").addEventListener("click", (e) => { const b = e.target.closest("button"); if (b) flyTo(b.dataset.code); });
  $("area").addEventListener("change", loadTargets);
  getJSON("/aggregates/kecamatan").then((ks) => {
    $("area").insertAdjacentHTML("beforeend", ks.map((k) => '<option value="' + esc(k.code) + '">' + esc(k.name || k.code) + "</option>").join(""));
  });
  const calendarReady = getJSON("/calendar").then((c) => { calendar = c; showMonth(); }).catch(() => showMonth());
  showMonth();
  loadTargets();

  // For tests and the curious: the map, and the colour drawn at a place.
  const ready = new Promise((resolve) => map.once("idle", resolve));
  window.riskmap = {
    map, ready, calendarReady, setMonth, openPanel, flyTo,
    idle: () => new Promise((resolve) => { if (map.loaded() && !map.isMoving()) map.once("idle", resolve); else map.once("idle", resolve); map.triggerRepaint(); }),
    colourAt(lngLat) {
      const p = map.project(lngLat), gl = map.painter.context.gl, px = new Uint8Array(4);
      const r = window.devicePixelRatio || 1;
      gl.readPixels(Math.round(p.x * r), Math.round(gl.drawingBufferHeight - p.y * r), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
      return Array.from(px);
    },
  };
})();
