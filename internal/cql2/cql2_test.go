package cql2

import (
	"reflect"
	"strings"
	"testing"
)

func num(f float64) *Value { return &Value{Kind: "number", Num: f} }
func str(s string) *Value  { return &Value{Kind: "string", Str: s} }

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Expr
	}{
		{"score > 60", Compare{">", Operand{Property: "score"}, Operand{Value: num(60)}}},
		{"60 <= score", Compare{"<=", Operand{Value: num(60)}, Operand{Property: "score"}}},
		{`"score" <> -1.5e1`, Compare{"<>", Operand{Property: "score"}, Operand{Value: num(-15)}}},
		{"tier = 'high' AND score >= 30", And{[]Expr{
			Compare{"=", Operand{Property: "tier"}, Operand{Value: str("high")}},
			Compare{">=", Operand{Property: "score"}, Operand{Value: num(30)}}}}},
		{"a = 1 OR b = 2 AND c = 3", Or{[]Expr{
			Compare{"=", Operand{Property: "a"}, Operand{Value: num(1)}},
			And{[]Expr{Compare{"=", Operand{Property: "b"}, Operand{Value: num(2)}}, Compare{"=", Operand{Property: "c"}, Operand{Value: num(3)}}}}}}},
		{"NOT (tier = 'low')", Not{Compare{"=", Operand{Property: "tier"}, Operand{Value: str("low")}}}},
		{"name LIKE 'Alas%'", Like{Operand{Property: "name"}, Operand{Value: str("Alas%")}, false}},
		{"name NOT LIKE 'A_'", Like{Operand{Property: "name"}, Operand{Value: str("A_")}, true}},
		{"name ILIKE 'alas%'", Like{Operand{Property: "name", CaseI: true}, Operand{Value: str("alas%"), CaseI: true}, false}},
		{"CASEI(name) = CASEI('GLAGAH')", Compare{"=", Operand{Property: "name", CaseI: true}, Operand{Value: str("GLAGAH"), CaseI: true}}},
		{"score BETWEEN 30 AND 60", Between{"score", Value{Kind: "number", Num: 30}, Value{Kind: "number", Num: 60}, false}},
		{"tier IN ('high', 'medium')", In{Operand{Property: "tier"}, []Value{{Kind: "string", Str: "high"}, {Kind: "string", Str: "medium"}}, false}},
		{"tier NOT IN ('low')", In{Operand{Property: "tier"}, []Value{{Kind: "string", Str: "low"}}, true}},
		{"(score IS NULL)", IsNull{"score", false}},
		{"score IS NOT NULL", IsNull{"score", true}},
		{"name = 'O''Brien'", Compare{"=", Operand{Property: "name"}, Operand{Value: str("O'Brien")}}},
		{"S_INTERSECTS(geometry, BBOX(113.4, -7.9, 113.6, -7.7))", Intersects{"geometry", "POLYGON((113.4 -7.9,113.6 -7.9,113.6 -7.7,113.4 -7.7,113.4 -7.9))"}},
		{"s_intersects(geometry, POINT(113.5 -7.8))", Intersects{"geometry", "POINT(113.5 -7.8)"}},
		{"S_INTERSECTS(geometry, POLYGON((113 -8, 114 -8, 114 -7, 113 -8)))", Intersects{"geometry", "POLYGON((113 -8,114 -8,114 -7,113 -8))"}},
		{"TRUE", Bool{true}},
		{"(tier = 'high') AND (score > 60)", And{[]Expr{
			Compare{"=", Operand{Property: "tier"}, Operand{Value: str("high")}},
			Compare{">", Operand{Property: "score"}, Operand{Value: num(60)}}}}},
	}
	for _, tc := range cases {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) =\n %#v\nwant\n %#v", tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "ends where a value was expected"},
		{"score >", "ends where a value was expected"},
		{"score > 60 AND", "ends where a value was expected"},
		{"score 60", "expected an operator"},
		{"name = 'open", "unterminated string"},
		{"score > 60)", `unexpected ")"`},
		{"(score > 60", `expected ")"`},
		{"1 = 1", "needs a property"},
		{"score BETWEEN 1 OR 2", "BETWEEN needs AND"},
		{"tier IN 'high'", `expected "("`},
		{"name LIKE 5", "string pattern"},
		{"score IS 5", "NULL"},
		{"S_INTERSECTS(geometry, LINESTRING(1 2, 3 4))", "not supported"},
		{"S_INTERSECTS(geometry, POINT(200 1))", "longitude, latitude"},
		{"S_INTERSECTS(geometry, BBOX(2, 2, 1, 1))", "minLon"},
		{"score > 1; DROP TABLE household", "unexpected character"},
		{strings.Repeat("(", 40) + "score > 1" + strings.Repeat(")", 40), "nests too deeply"},
		{strings.Repeat("NOT ", 40) + "score > 1", "nests too deeply"},
		{strings.Repeat("a = 1 OR ", 250) + "a = 1", "more than 200 conditions"},
		{strings.Repeat("x", MaxLength+1), "longer than"},
	}
	for _, tc := range cases {
		_, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%.40q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// FuzzParse: any input parses or fails with a positioned error; never
// panics, and what parses names only properties that appear in the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"score > 60", "tier IN ('high','medium') AND NOT (name LIKE 'A%')", "S_INTERSECTS(geometry, BBOX(1,2,3,4))",
		"CASEI(name) = 'x' OR score BETWEEN 1 AND 2", "a IS NOT NULL", `"x" <> 'y'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse(%q): error %T is not a *Error", s, err)
			}
			return
		}
		for _, p := range Properties(e) {
			if !strings.Contains(s, p) {
				t.Fatalf("Parse(%q) names property %q that is not in the input", s, p)
			}
		}
	})
}
