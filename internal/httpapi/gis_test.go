package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestFilterCQL2: filter= selects exactly what PostGIS selects for the same
// condition, and every bad filter is a 400 that says what is wrong.
func TestFilterCQL2(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	base := srv.URL + "/collections/villages/items?limit=1000&filter="
	cases := []struct {
		filter string
		sql    string // the same condition over area_public and village, for the count
	}{
		{"score > 40", "s.score > 40"},
		{"score > 40 AND tier IN ('high', 'medium')", "s.score > 40 AND s.tier IN ('high', 'medium')"},
		{"tier = 'medium' OR NOT (score BETWEEN 20 AND 50)", "s.tier = 'medium' OR NOT coalesce(s.score BETWEEN 20 AND 50, false)"},
		{"name LIKE 'Ala%'", "v.name LIKE 'Ala%'"},
		{"CASEI(name) = CASEI('GLAGAH')", "lower(v.name) = 'glagah'"},
		{"name ILIKE 'glag%'", "lower(v.name) LIKE 'glag%'"},
		{"score IS NULL", "s.score IS NULL"},
		{"kecamatan_code = '35.13.13' AND households >= 10", "v.kecamatan_code = '35.13.13' AND s.households >= 10"},
		{"S_INTERSECTS(geometry, BBOX(113.49, -7.83, 113.52, -7.80))", "ST_Intersects(v.geom, ST_MakeEnvelope(113.49, -7.83, 113.52, -7.80, 4326))"},
		{"S_INTERSECTS(geometry, POINT(113.4998 -7.8094))", "ST_Intersects(v.geom, 'SRID=4326;POINT(113.4998 -7.8094)'::geometry)"},
	}
	for _, tc := range cases {
		var want int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM village v LEFT JOIN area_public s ON s.level = 'desa' AND s.code = v.code WHERE `+tc.sql).Scan(&want); err != nil {
			t.Fatal(err)
		}
		fc := items(t, base+url.QueryEscape(tc.filter))
		if fc.NumberMatched != want || len(fc.Features) != want {
			t.Errorf("filter %q: %d matched, %d returned; PostGIS says %d", tc.filter, fc.NumberMatched, len(fc.Features), want)
		}
		if want == 0 && !strings.Contains(tc.filter, "IS NULL") {
			t.Errorf("filter %q matches nothing in the demo: the case tests nothing", tc.filter)
		}
	}
	// GDAL 3.6 sends the draft's filter-lang=cql-text; the syntax is the same.
	fc := items(t, base+url.QueryEscape("(score > 40) AND (tier = 'high')")+"&filter-lang=cql-text")
	for _, f := range fc.Features {
		if f.Properties["tier"] != "high" || f.Properties["score"].(float64) <= 40 {
			t.Errorf("cql-text filter returned %v", f.Properties)
		}
	}
	bad := []struct{ filter, want string }{
		{"score >", "not CQL2 text"},
		{"scor > 1", `is not a queryable of collection villages`},
		{"tier = 'High'", `is not a value of tier`},
		{"score = 'high'", "score is a number"},
		{"components = 1", "is a object and cannot be filtered"},
		{"name > 1; DROP TABLE village", "unexpected character"},
		{"S_INTERSECTS(name, POINT(1 1))", "S_INTERSECTS applies to the geometry"},
	}
	for _, b := range bad {
		resp, body := get(t, base+url.QueryEscape(b.filter))
		if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(body), b.want) || !strings.Contains(string(body), `"parameter":"filter"`) {
			t.Errorf("filter %q: %d %s, want a 400 problem about filter saying %q", b.filter, resp.StatusCode, body, b.want)
		}
	}
	if resp, body := get(t, base+"score%3E1&filter-lang=cql2-json"); resp.StatusCode != 400 || !strings.Contains(string(body), "filter-lang") {
		t.Errorf("cql2-json: %d %s", resp.StatusCode, body)
	}
	var n int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM village`).Scan(&n)
	if n == 0 {
		t.Fatal("the villages are gone")
	}
}

// TestQueryables: a JSON Schema per collection, with types and the values
// of enumerated properties, and no nested property.
func TestQueryables(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t)
	resp, body := get(t, srv.URL+"/collections/villages/queryables", "Accept", "application/schema+json")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/schema+json" {
		t.Fatalf("queryables: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var q struct {
		Schema     string                    `json:"$schema"`
		Type       string                    `json:"type"`
		Properties map[string]map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(body, &q); err != nil {
		t.Fatal(err)
	}
	if q.Type != "object" || !strings.Contains(q.Schema, "json-schema.org") {
		t.Errorf("not a JSON Schema: %s", body)
	}
	if q.Properties["score"]["type"] != "number" || q.Properties["name"]["type"] != "string" || q.Properties["geometry"] == nil {
		t.Errorf("score, name or geometry missing or mistyped: %v", q.Properties)
	}
	if enum, _ := q.Properties["tier"]["enum"].([]any); len(enum) != 6 {
		t.Errorf("tier enum = %v", q.Properties["tier"]["enum"])
	}
	for _, nested := range []string{"components", "monthly"} {
		if q.Properties[nested] != nil {
			t.Errorf("nested property %s offered as a queryable", nested)
		}
	}
	// Declared where clients look: conformance and the collection's links.
	_, conf := get(t, srv.URL+"/conformance")
	for _, c := range []string{"ogcapi-features-3/1.0/conf/filter", "cql2/1.0/conf/cql2-text", "ogcapi-features-3/1.0/conf/queryables", "ogcapi-features-2/1.0/conf/crs"} {
		if !strings.Contains(string(conf), c) {
			t.Errorf("conformance lacks %s", c)
		}
	}
	_, coll := get(t, srv.URL+"/collections/villages")
	if !strings.Contains(string(coll), `/collections/villages/queryables","rel":"http://www.opengis.net/def/rel/ogc/1.0/queryables"`) {
		t.Errorf("the collection does not link its queryables: %s", coll)
	}
}

func firstCoord(t *testing.T, body []byte) (float64, float64) {
	t.Helper()
	var fc struct {
		Features []struct {
			Geometry struct {
				Coordinates json.RawMessage `json:"coordinates"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(body, &fc); err != nil || len(fc.Features) == 0 {
		t.Fatalf("no features: %v %.200s", err, body)
	}
	s := strings.TrimLeft(string(fc.Features[0].Geometry.Coordinates), "[")
	var x, y float64
	parts := strings.SplitN(s, ",", 3)
	json.Unmarshal([]byte(parts[0]), &x)
	json.Unmarshal([]byte(strings.TrimRight(parts[1], "]")), &y)
	return x, y
}

// TestCRS: Part 2. EPSG:4326 is latitude first, UTM 49S in metres, and a
// bbox in any of them selects the same villages.
func TestCRS(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t)
	u := srv.URL + "/collections/villages/items?sortby=code&limit=5"
	_, b84 := get(t, u)
	lon, lat := firstCoord(t, b84)
	resp, b4326 := get(t, u+"&crs="+url.QueryEscape("http://www.opengis.net/def/crs/EPSG/0/4326"))
	if resp.Header.Get("Content-Crs") != "<http://www.opengis.net/def/crs/EPSG/0/4326>" {
		t.Errorf("Content-Crs = %q", resp.Header.Get("Content-Crs"))
	}
	if a, b := firstCoord(t, b4326); a != lat || b != lon {
		t.Errorf("EPSG:4326 first position %v %v, want %v %v (latitude first)", a, b, lat, lon)
	}
	resp, butm := get(t, u+"&crs="+url.QueryEscape("http://www.opengis.net/def/crs/EPSG/0/32749"))
	e, n := firstCoord(t, butm)
	if resp.Header.Get("Content-Crs") != "<http://www.opengis.net/def/crs/EPSG/0/32749>" || e < 166000 || e > 834000 || n < 9000000 || n > 10000000 {
		t.Errorf("UTM 49S first position %v %v (%s)", e, n, resp.Header.Get("Content-Crs"))
	}
	if _, b := get(t, srv.URL+"/collections/villages?f=json"); !strings.Contains(string(b), "EPSG/0/32749") || !strings.Contains(string(b), `"storageCrs"`) {
		t.Error("the collection does not list its CRS")
	}
	// One box, three ways.
	ids := func(q string) string {
		fc := items(t, srv.URL+"/collections/villages/items?limit=1000&properties=code&"+q)
		var out []string
		for _, f := range fc.Features {
			out = append(out, f.ID)
		}
		return strings.Join(out, ",")
	}
	want := ids("bbox=113.49,-7.83,113.52,-7.80")
	if want == "" {
		t.Fatal("the box holds no village")
	}
	if got := ids("bbox=-7.83,113.49,-7.80,113.52&bbox-crs=" + url.QueryEscape("http://www.opengis.net/def/crs/EPSG/0/4326")); got != want {
		t.Errorf("bbox in EPSG:4326 order selects %s, want %s", got, want)
	}
	// The same box in UTM 49S, a little inside (a projected box is not a lon/lat box).
	x0, y0 := utm49s(113.4905, -7.8295)
	x1, y1 := utm49s(113.5195, -7.8005)
	got := ids("bbox=" + strings.Join([]string{f0(x0), f0(y0), f0(x1), f0(y1)}, ",") + "&bbox-crs=EPSG:32749")
	if got == "" || len(strings.Split(got, ",")) > len(strings.Split(want, ",")) {
		t.Errorf("bbox in UTM selects %q, want a subset of %q", got, want)
	}
	for _, bad := range []string{"crs=EPSG:3857", "bbox-crs=EPSG:4326", "crs=http://example.org/crs"} {
		if resp, body := get(t, srv.URL+"/collections/villages/items?"+bad); resp.StatusCode != 400 || !strings.Contains(string(body), "parameter") {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, body)
		}
	}
}

func f0(f float64) string { return strings.TrimRight(strings.TrimRight(strconvF(f), "0"), ".") }

func strconvF(f float64) string { b, _ := json.Marshal(math.Round(f*100) / 100); return string(b) }

// utm49s projects lon/lat onto UTM zone 49 south (WGS 84), by the usual series.
func utm49s(lon, lat float64) (float64, float64) {
	const a, f, k0 = 6378137.0, 1 / 298.257223563, 0.9996
	e2 := f * (2 - f)
	ep2 := e2 / (1 - e2)
	phi, lam := lat*math.Pi/180, (lon-111)*math.Pi/180
	n := a / math.Sqrt(1-e2*math.Sin(phi)*math.Sin(phi))
	tt := math.Tan(phi) * math.Tan(phi)
	c := ep2 * math.Cos(phi) * math.Cos(phi)
	aa := math.Cos(phi) * lam
	m := a * ((1-e2/4-3*e2*e2/64-5*e2*e2*e2/256)*phi - (3*e2/8+3*e2*e2/32+45*e2*e2*e2/1024)*math.Sin(2*phi) +
		(15*e2*e2/256+45*e2*e2*e2/1024)*math.Sin(4*phi) - (35*e2*e2*e2/3072)*math.Sin(6*phi))
	x := k0*n*(aa+(1-tt+c)*aa*aa*aa/6+(5-18*tt+tt*tt+72*c-58*ep2)*math.Pow(aa, 5)/120) + 500000
	y := k0*(m+n*math.Tan(phi)*(aa*aa/2+(5-tt+9*c+4*c*c)*math.Pow(aa, 4)/24+(61-58*tt+tt*tt+600*c-330*ep2)*math.Pow(aa, 6)/720)) + 10000000
	return x, y
}

// TestHEADAndBasicAuth: HEAD answers like GET without a body; a key sent
// as the Basic password works as a Bearer key does.
func TestHEADAndBasicAuth(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	staff, _, err := db.CreateKey(context.Background(), "Besuk facilitator", "staff", []string{"35.13.13"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/collections", "/collections/villages/items?limit=2", "/api", "/collections/villages/queryables", "/tiles/villages.json", "/map"} {
		req, _ := http.NewRequest(http.MethodHead, srv.URL+p, nil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		sent, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		g, _ := get(t, srv.URL+p)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != g.Header.Get("Content-Type") || len(sent) > 0 {
			t.Errorf("HEAD %s = %d %q (%d bytes of body); GET gives %q", p, resp.StatusCode, resp.Header.Get("Content-Type"), len(sent), g.Header.Get("Content-Type"))
		}
	}
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	resp, body := get(t, srv.URL+"/collections/households/items?limit=3", "Authorization", basic("qgis", staff))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"numberReturned":3`) {
		t.Errorf("Basic with the key as password: %d %.200s", resp.StatusCode, body)
	}
	resp, _ = get(t, srv.URL+"/collections/households/items?limit=3", "Authorization", basic("qgis", "not-a-key-at-all"))
	ch := resp.Header.Values("WWW-Authenticate")
	if resp.StatusCode != 401 || len(ch) != 2 || !strings.HasPrefix(ch[1], "Basic") {
		t.Errorf("wrong Basic password: %d, challenges %q", resp.StatusCode, ch)
	}
}

// TestTileSetBounds: the vector tiles say where the data is (TileJSON and
// the OGC API - Tiles tileset), so clients do not zoom to the world.
func TestTileSetBounds(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t)
	for _, u := range []string{"/tiles/villages.json", "/tiles/villages.tileset.json"} {
		resp, body := get(t, srv.URL+u)
		var d struct {
			Bounds      []float64 `json:"bounds"`
			BoundingBox struct {
				LowerLeft, UpperRight []float64
			} `json:"boundingBox"`
			TileMatrixSetURI string `json:"tileMatrixSetURI"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &d) != nil {
			t.Fatalf("%s: %d %s", u, resp.StatusCode, body)
		}
		b := d.Bounds
		if b == nil && d.BoundingBox.LowerLeft != nil {
			b = append(d.BoundingBox.LowerLeft, d.BoundingBox.UpperRight...)
		}
		if len(b) != 4 || b[0] < 112 || b[2] > 115 || b[1] < -9 || b[3] > -7 {
			t.Errorf("%s: bounds %v are not East Java's", u, b)
		}
		if strings.Contains(u, "tileset") && !strings.Contains(d.TileMatrixSetURI, "WebMercatorQuad") {
			t.Errorf("tileset names no tile matrix set: %s", body)
		}
	}
}
