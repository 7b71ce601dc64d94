// Package cql2 parses the text encoding of OGC CQL2 (OGC 21-065, the filter
// language of OGC API - Features Part 3) into an expression tree: the
// classes Basic CQL2 (comparisons, AND, OR, NOT, IS NULL), Advanced
// Comparison Operators (LIKE, BETWEEN, IN), case-insensitive comparison
// (CASEI, and GDAL's ILIKE) and Basic Spatial Functions (S_INTERSECTS with
// a point, a bounding box or a polygon in CRS84). It knows nothing of SQL:
// the caller maps property names onto its own columns, so a filter can
// never carry SQL text.
package cql2

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLength and MaxDepth bound what a request may ask.
const (
	MaxLength = 4000
	MaxDepth  = 30
	maxTerms  = 200
)

// Expr is a boolean expression.
type Expr interface{ isExpr() }

// And, Or and Not combine expressions.
type (
	And struct{ Args []Expr }
	Or  struct{ Args []Expr }
	Not struct{ Arg Expr }
)

// Value is a literal: a string, a number or a boolean.
type Value struct {
	Kind string // "string", "number" or "boolean"
	Str  string
	Num  float64
	Bool bool
}

// Operand is one side of a comparison: a property or a literal; CaseI
// wraps a property or string in CASEI().
type Operand struct {
	Property string // set for a property
	Value    *Value // set for a literal
	CaseI    bool
}

// Compare is prop op value, op one of = <> < <= > >=.
type Compare struct {
	Op          string
	Left, Right Operand
}

// Like is prop [NOT] LIKE pattern (% and _ wildcards; \ escapes).
type Like struct {
	Prop    Operand
	Pattern Operand
	Not     bool
}

// Between is prop [NOT] BETWEEN lo AND hi.
type Between struct {
	Prop   string
	Lo, Hi Value
	Not    bool
}

// In is prop [NOT] IN (values).
type In struct {
	Prop   Operand
	Values []Value
	Not    bool
}

// IsNull is prop IS [NOT] NULL.
type IsNull struct {
	Prop string
	Not  bool
}

// Intersects is S_INTERSECTS(prop, geometry); Geometry is WKT in CRS84.
type Intersects struct {
	Prop     string
	Geometry string
}

// Bool is the literal TRUE or FALSE used as a whole condition.
type Bool struct{ Value bool }

func (And) isExpr()        {}
func (Or) isExpr()         {}
func (Not) isExpr()        {}
func (Compare) isExpr()    {}
func (Like) isExpr()       {}
func (Between) isExpr()    {}
func (In) isExpr()         {}
func (IsNull) isExpr()     {}
func (Intersects) isExpr() {}
func (Bool) isExpr()       {}

// Error is a syntax error at a byte offset of the filter.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("at character %d: %s", e.Pos+1, e.Msg) }

type token struct {
	kind string // ident, string, number, op, punct, eof
	text string
	pos  int
}

func lex(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			return nil, &Error{i, "invalid UTF-8"}
		case unicode.IsSpace(r):
			i += w
		case r == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, &Error{i, "unterminated string"}
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, token{"string", b.String(), i})
			i = j + 1
		case r == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, &Error{i, "unterminated quoted property name"}
			}
			out = append(out, token{"ident", s[i+1 : i+1+j], i})
			i += j + 2
		case r >= '0' && r <= '9' || r == '.' || ((r == '-' || r == '+') && i+1 < len(s) && (s[i+1] >= '0' && s[i+1] <= '9' || s[i+1] == '.')):
			// A sign always starts a number: CQL2's basic classes have no arithmetic.
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				((s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			out = append(out, token{"number", s[i:j], i})
			i = j
		case unicode.IsLetter(r) || r == '_':
			j := i + w
			for j < len(s) {
				r2, w2 := utf8.DecodeRuneInString(s[j:])
				if !(unicode.IsLetter(r2) || unicode.IsDigit(r2) || r2 == '_' || r2 == ':' || r2 == '.') {
					break
				}
				j += w2
			}
			out = append(out, token{"ident", s[i:j], i})
			i = j
		case strings.ContainsRune("<>=", r):
			j := i + 1
			if j < len(s) && (s[j] == '=' || (r == '<' && s[j] == '>')) {
				j++
			}
			out = append(out, token{"op", s[i:j], i})
			i = j
		case strings.ContainsRune("(),", r):
			out = append(out, token{"punct", string(r), i})
			i++
		default:
			return nil, &Error{i, fmt.Sprintf("unexpected character %q", r)}
		}
	}
	return append(out, token{"eof", "", len(s)}), nil
}

var keywords = map[string]bool{"AND": true, "OR": true, "NOT": true, "LIKE": true, "ILIKE": true, "BETWEEN": true, "IN": true,
	"IS": true, "NULL": true, "TRUE": true, "FALSE": true}

func isKeyword(s string) bool { return keywords[strings.ToUpper(s)] }

type parser struct {
	toks  []token
	i     int
	depth int
	terms int
}

// Parse parses a CQL2-text filter.
func Parse(s string) (Expr, error) {
	if len(s) > MaxLength {
		return nil, &Error{0, fmt.Sprintf("the filter is longer than %d characters", MaxLength)}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, &Error{t.pos, fmt.Sprintf("unexpected %q after a complete condition", t.text)}
	}
	return e, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == "ident" && strings.EqualFold(t.text, w)
}

func (p *parser) expectPunct(c string) error {
	t := p.next()
	if t.kind != "punct" || t.text != c {
		return &Error{t.pos, fmt.Sprintf("expected %q, found %q", c, t.text)}
	}
	return nil
}

func (p *parser) or() (Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > MaxDepth {
		return nil, &Error{p.peek().pos, "the filter nests too deeply"}
	}
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	args := []Expr{left}
	for p.isWord("OR") {
		p.next()
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		args = append(args, right)
	}
	if len(args) == 1 {
		return left, nil
	}
	return Or{args}, nil
}

func (p *parser) and() (Expr, error) {
	left, err := p.not()
	if err != nil {
		return nil, err
	}
	args := []Expr{left}
	for p.isWord("AND") {
		p.next()
		right, err := p.not()
		if err != nil {
			return nil, err
		}
		args = append(args, right)
	}
	if len(args) == 1 {
		return left, nil
	}
	return And{args}, nil
}

func (p *parser) not() (Expr, error) {
	if p.isWord("NOT") {
		p.next()
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > MaxDepth {
			return nil, &Error{p.peek().pos, "the filter nests too deeply"}
		}
		e, err := p.not()
		if err != nil {
			return nil, err
		}
		return Not{e}, nil
	}
	return p.primary()
}

func (p *parser) primary() (Expr, error) {
	if p.terms++; p.terms > maxTerms {
		return nil, &Error{p.peek().pos, fmt.Sprintf("the filter has more than %d conditions", maxTerms)}
	}
	t := p.peek()
	if t.kind == "punct" && t.text == "(" {
		p.next()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		return e, p.expectPunct(")")
	}
	if p.isWord("S_INTERSECTS") || p.isWord("INTERSECTS") {
		return p.intersects()
	}
	if (p.isWord("TRUE") || p.isWord("FALSE")) && p.toks[p.i+1].kind != "op" {
		p.next()
		return Bool{strings.EqualFold(t.text, "TRUE")}, nil
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	negate := false
	if p.isWord("NOT") {
		p.next()
		negate = true
	}
	op := p.next()
	switch {
	case op.kind == "op":
		if negate {
			return nil, &Error{op.pos, "NOT before a comparison operator"}
		}
		right, err := p.operand()
		if err != nil {
			return nil, err
		}
		if op.text == "==" {
			op.text = "="
		}
		if left.Property == "" && right.Property == "" {
			return nil, &Error{op.pos, "a comparison needs a property on one side"}
		}
		return Compare{op.text, left, right}, nil
	case op.kind == "ident" && (strings.EqualFold(op.text, "LIKE") || strings.EqualFold(op.text, "ILIKE")):
		pat, err := p.operand()
		if err != nil {
			return nil, err
		}
		if pat.Value == nil || pat.Value.Kind != "string" || left.Property == "" {
			return nil, &Error{op.pos, "LIKE needs a property and a string pattern"}
		}
		if strings.EqualFold(op.text, "ILIKE") {
			left.CaseI, pat.CaseI = true, true
		}
		return Like{left, pat, negate}, nil
	case op.kind == "ident" && strings.EqualFold(op.text, "BETWEEN"):
		lo, err := p.literal()
		if err != nil {
			return nil, err
		}
		if !p.isWord("AND") {
			return nil, &Error{p.peek().pos, "BETWEEN needs AND"}
		}
		p.next()
		hi, err := p.literal()
		if err != nil {
			return nil, err
		}
		if left.Property == "" || lo.Kind != "number" || hi.Kind != "number" {
			return nil, &Error{op.pos, "BETWEEN needs a property and two numbers"}
		}
		return Between{left.Property, lo, hi, negate}, nil
	case op.kind == "ident" && strings.EqualFold(op.text, "IN"):
		if err := p.expectPunct("("); err != nil {
			return nil, err
		}
		var vals []Value
		for {
			v, err := p.literal()
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
			if len(vals) > maxTerms {
				return nil, &Error{op.pos, "IN lists too many values"}
			}
			t := p.next()
			if t.kind == "punct" && t.text == ")" {
				break
			}
			if t.kind != "punct" || t.text != "," {
				return nil, &Error{t.pos, fmt.Sprintf("expected \",\" or \")\" in the IN list, found %q", t.text)}
			}
		}
		if left.Property == "" {
			return nil, &Error{op.pos, "IN needs a property"}
		}
		return In{left, vals, negate}, nil
	case op.kind == "ident" && strings.EqualFold(op.text, "IS"):
		not := false
		if p.isWord("NOT") {
			p.next()
			not = true
		}
		if !p.isWord("NULL") {
			return nil, &Error{p.peek().pos, "IS must be followed by NULL or NOT NULL"}
		}
		p.next()
		if negate || left.Property == "" || left.CaseI {
			return nil, &Error{op.pos, "IS NULL needs a property"}
		}
		return IsNull{left.Property, not}, nil
	}
	return nil, &Error{op.pos, fmt.Sprintf("expected an operator (=, <>, <, <=, >, >=, LIKE, BETWEEN, IN, IS NULL), found %q", op.text)}
}

// operand is a property, a literal or CASEI(property or string).
func (p *parser) operand() (Operand, error) {
	t := p.peek()
	if t.kind == "ident" && strings.EqualFold(t.text, "CASEI") && p.toks[p.i+1].kind == "punct" && p.toks[p.i+1].text == "(" {
		p.next()
		p.next()
		inner, err := p.operand()
		if err != nil {
			return Operand{}, err
		}
		if inner.Value != nil && inner.Value.Kind != "string" {
			return Operand{}, &Error{t.pos, "CASEI takes a property or a string"}
		}
		inner.CaseI = true
		return inner, p.expectPunct(")")
	}
	if t.kind == "ident" && !isKeyword(t.text) {
		p.next()
		return Operand{Property: t.text}, nil
	}
	v, err := p.literal()
	if err != nil {
		return Operand{}, err
	}
	return Operand{Value: &v}, nil
}

func (p *parser) literal() (Value, error) {
	t := p.next()
	switch {
	case t.kind == "string":
		return Value{Kind: "string", Str: t.text}, nil
	case t.kind == "number":
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return Value{}, &Error{t.pos, fmt.Sprintf("%q is not a number", t.text)}
		}
		return Value{Kind: "number", Num: f}, nil
	case t.kind == "ident" && (strings.EqualFold(t.text, "TRUE") || strings.EqualFold(t.text, "FALSE")):
		return Value{Kind: "boolean", Bool: strings.EqualFold(t.text, "TRUE")}, nil
	}
	if t.kind == "eof" {
		return Value{}, &Error{t.pos, "the filter ends where a value was expected"}
	}
	return Value{}, &Error{t.pos, fmt.Sprintf("expected a value ('text', a number, TRUE or FALSE), found %q", t.text)}
}

// intersects reads S_INTERSECTS(prop, BBOX(...) | POINT(...) | POLYGON(...)).
func (p *parser) intersects() (Expr, error) {
	start := p.next()
	if err := p.expectPunct("("); err != nil {
		return nil, err
	}
	prop := p.next()
	if prop.kind != "ident" {
		return nil, &Error{prop.pos, "S_INTERSECTS needs the geometry property first"}
	}
	if err := p.expectPunct(","); err != nil {
		return nil, err
	}
	g := p.next()
	if g.kind != "ident" {
		return nil, &Error{g.pos, "expected BBOX, POINT or POLYGON"}
	}
	var wkt string
	switch strings.ToUpper(g.text) {
	case "BBOX":
		nums, err := p.numberList()
		if err != nil {
			return nil, err
		}
		if len(nums) != 4 || nums[0] > nums[2] || nums[1] > nums[3] {
			return nil, &Error{g.pos, "BBOX takes minLon, minLat, maxLon, maxLat"}
		}
		wkt = fmt.Sprintf("POLYGON((%g %g,%g %g,%g %g,%g %g,%g %g))", nums[0], nums[1], nums[2], nums[1], nums[2], nums[3], nums[0], nums[3], nums[0], nums[1])
	case "POINT":
		pts, err := p.coords(false)
		if err != nil {
			return nil, err
		}
		if len(pts) != 1 {
			return nil, &Error{g.pos, "POINT takes one position"}
		}
		wkt = fmt.Sprintf("POINT(%g %g)", pts[0][0], pts[0][1])
	case "POLYGON":
		if err := p.expectPunct("("); err != nil {
			return nil, err
		}
		pts, err := p.coords(false)
		if err != nil {
			return nil, err
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		if len(pts) < 4 || pts[0] != pts[len(pts)-1] {
			return nil, &Error{g.pos, "a POLYGON ring needs at least 4 positions, the last equal to the first"}
		}
		var b strings.Builder
		b.WriteString("POLYGON((")
		for i, pt := range pts {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%g %g", pt[0], pt[1])
		}
		b.WriteString("))")
		wkt = b.String()
	default:
		return nil, &Error{g.pos, fmt.Sprintf("geometry %s is not supported: use BBOX, POINT or POLYGON", g.text)}
	}
	if err := p.expectPunct(")"); err != nil {
		return nil, err
	}
	_ = start
	return Intersects{prop.text, wkt}, nil
}

// numberList reads (n, n, ...).
func (p *parser) numberList() ([]float64, error) {
	if err := p.expectPunct("("); err != nil {
		return nil, err
	}
	var out []float64
	for {
		v, err := p.literal()
		if err != nil {
			return nil, err
		}
		if v.Kind != "number" {
			return nil, &Error{p.toks[p.i-1].pos, "expected a number"}
		}
		out = append(out, v.Num)
		t := p.next()
		if t.kind == "punct" && t.text == ")" {
			return out, nil
		}
		if t.kind != "punct" || t.text != "," || len(out) > 8 {
			return nil, &Error{t.pos, "expected \",\" or \")\""}
		}
	}
}

// coords reads (x y, x y, ...) in CRS84, checked to be in range.
func (p *parser) coords(_ bool) ([][2]float64, error) {
	if err := p.expectPunct("("); err != nil {
		return nil, err
	}
	var out [][2]float64
	for {
		var pt [2]float64
		for k := 0; k < 2; k++ {
			v, err := p.literal()
			if err != nil {
				return nil, err
			}
			if v.Kind != "number" {
				return nil, &Error{p.toks[p.i-1].pos, "expected a coordinate"}
			}
			pt[k] = v.Num
		}
		if pt[0] < -180 || pt[0] > 180 || pt[1] < -90 || pt[1] > 90 {
			return nil, &Error{p.toks[p.i-1].pos, "coordinates are longitude, latitude (CRS84)"}
		}
		out = append(out, pt)
		if len(out) > 1000 {
			return nil, &Error{p.toks[p.i-1].pos, "too many positions"}
		}
		t := p.next()
		if t.kind == "punct" && t.text == ")" {
			return out, nil
		}
		if t.kind != "punct" || t.text != "," {
			return nil, &Error{t.pos, "expected \",\" or \")\" between positions"}
		}
	}
}

// Properties returns every property name the expression uses.
func Properties(e Expr) []string {
	var out []string
	add := func(o Operand) {
		if o.Property != "" {
			out = append(out, o.Property)
		}
	}
	var walk func(Expr)
	walk = func(e Expr) {
		switch x := e.(type) {
		case And:
			for _, a := range x.Args {
				walk(a)
			}
		case Or:
			for _, a := range x.Args {
				walk(a)
			}
		case Not:
			walk(x.Arg)
		case Compare:
			add(x.Left)
			add(x.Right)
		case Like:
			add(x.Prop)
		case Between:
			out = append(out, x.Prop)
		case In:
			add(x.Prop)
		case IsNull:
			out = append(out, x.Prop)
		case Intersects:
			out = append(out, x.Prop)
		}
	}
	walk(e)
	return out
}
