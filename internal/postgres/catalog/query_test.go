package catalog

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
)

// TestPlaceholdersNumberThemselves: every query the builder makes, with
// every kind of condition at once, uses exactly the placeholders $1..$n for
// its n arguments: none missing, none beyond them (the SQL text may use
// them in any order: the month's is in the select list, added after the
// WHERE clause's).
func TestPlaceholdersNumberThemselves(t *testing.T) {
	byID := map[string]*Collection{}
	for _, c := range Collections() {
		byID[c.ID] = c
	}
	bbox := [4]float64{113.1, -7.9, 113.4, -7.7}
	queries := map[string]*ItemsQuery{
		"villages, everything": {Collection: byID["villages"], BBox: &bbox, Limit: 10, Offset: 0, Month: 8, ID: "35.13.13.2003",
			Filters: map[string]string{"tier": "high"}, After: "35.13.13.2001", Peek: true},
		"villages, an offset":       {Collection: byID["villages"], BBox: &bbox, Limit: 10, Offset: 20},
		"households, a staff scope": {Collection: byID["households"], Limit: 5, Scope: &Scope{Areas: []string{"35.13.13", "35.13.10"}}, After: "x"},
		"households, no scope":      {Collection: byID["households"], Limit: 5},
	}
	ph := regexp.MustCompile(`\$([0-9]+)\b`)
	for name, q := range queries {
		if q.Collection == nil {
			t.Fatalf("%s: no such collection", name)
		}
		check := func(kind, sql string, args []any) {
			seen := map[int]bool{}
			for _, m := range ph.FindAllStringSubmatch(sql, -1) {
				n, _ := strconv.Atoi(m[1])
				if n < 1 || n > len(args) {
					t.Errorf("%s %s: placeholder $%d beyond its %d arguments:\n%s", name, kind, n, len(args), sql)
				}
				seen[n] = true
			}
			if len(seen) != len(args) {
				t.Errorf("%s %s: %d placeholders for %d arguments %v:\n%s", name, kind, len(seen), len(args), args, sql)
			}
		}
		for _, csv := range []bool{false, true} {
			sql, args := q.featureSQL(csv)
			check(fmt.Sprintf("features (csv %v)", csv), sql, args)
		}
		sql, args := q.CountSQL()
		check("count", sql, args)
		if sql, args, ok := q.StartKeySQL(); ok {
			check("start key", sql, args)
		}
	}
}
