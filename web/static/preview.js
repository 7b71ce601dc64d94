// A small map of the features a riskmap HTML page lists: the page's own
// GeoJSON, drawn with the bundled MapLibre, no basemap (nothing leaves the
// service).
(function () {
  "use strict";
  const el = document.getElementById("preview");
  if (!el || !window.maplibregl) return;
  maplibregl.setWorkerUrl("/static/vendor/maplibre-gl-csp-worker.js");
  const map = new maplibregl.Map({
    container: el,
    style: { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#f4f1ea" } }] },
    attributionControl: false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  fetch(el.dataset.src, { headers: { Accept: "application/geo+json" } })
    .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
    .then((data) => {
      const features = data.type === "Feature" ? [data] : data.features || [];
      const b = new maplibregl.LngLatBounds();
      const walk = (c) => (typeof c[0] === "number" ? b.extend(c) : c.forEach(walk));
      features.forEach((f) => f.geometry && walk(f.geometry.coordinates));
      const draw = () => {
        map.addSource("page", { type: "geojson", data: { type: "FeatureCollection", features } });
        const color = ["match", ["get", "tier"], "high", "#bd0026", "medium", "#fd8d3c", "low", "#fed976", "#9e9e9e"];
        map.addLayer({ id: "fill", type: "fill", source: "page", filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": color, "fill-opacity": 0.6 } });
        map.addLayer({ id: "line", type: "line", source: "page", paint: { "line-color": "#555", "line-width": 0.8 } });
        map.addLayer({ id: "pts", type: "circle", source: "page", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 4, "circle-color": color } });
        if (!b.isEmpty()) map.fitBounds(b, { padding: 20, duration: 0, maxZoom: 15 });
        el.dataset.drawn = String(features.length);
      };
      map.loaded() ? draw() : map.on("load", draw);
    })
    .catch(() => { el.textContent = "(no preview)"; });
})();
