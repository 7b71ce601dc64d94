package catalog

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kesempatan/riskmap/internal/cql2"
	"github.com/kesempatan/riskmap/internal/risk"
)

// GeometryQueryable is the name of a collection's geometry in filters.
const GeometryQueryable = "geometry"

// Filter is a compiled CQL2 filter: SQL over the collection's own property
// expressions, with every literal passed as a parameter.
type Filter func(arg func(any) string) string

// CompileFilter checks a parsed CQL2 expression against a collection (its
// properties exist, are not nested, and are compared with values of their
// type; enum values are known) and returns its SQL.
func CompileFilter(c *Collection, e cql2.Expr) (Filter, error) {
	// Validate everything first, so a Filter cannot fail later.
	if err := checkFilter(c, e); err != nil {
		return nil, err
	}
	return func(arg func(any) string) string { return filterSQL(c, e, arg) }, nil
}

func invalid(format string, args ...any) error {
	return risk.Errorf(risk.EINVALID, format, args...)
}

func filterProperty(c *Collection, name string) (Property, error) {
	p, ok := c.Property(name)
	if !ok {
		var names []string
		for _, p := range c.Properties {
			if !p.Nested() {
				names = append(names, p.Name)
			}
		}
		return p, invalid("%q is not a queryable of collection %s (see /collections/%s/queryables): %s", name, c.ID, c.ID, strings.Join(names, ", "))
	}
	if p.Nested() {
		return p, invalid("property %s is a %s and cannot be filtered on", name, p.Type)
	}
	return p, nil
}

func numeric(p Property) bool { return p.Type == "number" || p.Type == "integer" }

func checkValue(p Property, v cql2.Value, op string) error {
	switch {
	case numeric(p) && v.Kind != "number":
		return invalid("property %s is a number: compare it with a number, not %s", p.Name, describe(v))
	case p.Type == "string" && v.Kind != "string":
		return invalid("property %s is text: compare it with 'quoted text', not %s", p.Name, describe(v))
	case p.Type == "boolean" && v.Kind != "boolean":
		return invalid("property %s is TRUE or FALSE, not %s", p.Name, describe(v))
	case p.Enum != nil && (op == "=" || op == "<>" || op == "IN") && !slices.Contains(p.Enum, v.Str):
		return invalid("%q is not a value of %s: %s (values are lower case; CASEI() compares without case)", v.Str, p.Name, strings.Join(p.Enum, ", "))
	}
	return nil
}

func describe(v cql2.Value) string {
	switch v.Kind {
	case "string":
		return fmt.Sprintf("the text '%s'", v.Str)
	case "number":
		return fmt.Sprintf("the number %g", v.Num)
	}
	return fmt.Sprintf("the boolean %v", v.Bool)
}

func checkFilter(c *Collection, e cql2.Expr) error {
	switch x := e.(type) {
	case cql2.And:
		for _, a := range x.Args {
			if err := checkFilter(c, a); err != nil {
				return err
			}
		}
	case cql2.Or:
		for _, a := range x.Args {
			if err := checkFilter(c, a); err != nil {
				return err
			}
		}
	case cql2.Not:
		return checkFilter(c, x.Arg)
	case cql2.Compare:
		if x.Left.Property != "" && x.Right.Property != "" {
			return invalid("comparing two properties (%s, %s) is not supported", x.Left.Property, x.Right.Property)
		}
		prop, val := x.Left, x.Right
		if prop.Property == "" {
			prop, val = val, prop
		}
		p, err := filterProperty(c, prop.Property)
		if err != nil {
			return err
		}
		if prop.CaseI || val.CaseI {
			if p.Type != "string" {
				return invalid("CASEI applies to text; %s is a %s", p.Name, p.Type)
			}
			return checkValue(Property{Name: p.Name, Type: "string"}, *val.Value, "")
		}
		return checkValue(p, *val.Value, x.Op)
	case cql2.Like:
		p, err := filterProperty(c, x.Prop.Property)
		if err != nil {
			return err
		}
		if p.Type != "string" {
			return invalid("LIKE applies to text; %s is a %s", p.Name, p.Type)
		}
	case cql2.Between:
		p, err := filterProperty(c, x.Prop)
		if err != nil {
			return err
		}
		if !numeric(p) {
			return invalid("BETWEEN applies to numbers; %s is a %s", p.Name, p.Type)
		}
	case cql2.In:
		p, err := filterProperty(c, x.Prop.Property)
		if err != nil {
			return err
		}
		for _, v := range x.Values {
			if x.Prop.CaseI {
				if p.Type != "string" || v.Kind != "string" {
					return invalid("CASEI applies to text")
				}
				continue
			}
			if err := checkValue(p, v, "IN"); err != nil {
				return err
			}
		}
	case cql2.IsNull:
		if _, err := filterProperty(c, x.Prop); err != nil {
			return err
		}
	case cql2.Intersects:
		if x.Prop != GeometryQueryable && x.Prop != "geom" {
			return invalid("S_INTERSECTS applies to the geometry (call it %s), not %q", GeometryQueryable, x.Prop)
		}
	case cql2.Bool:
	default:
		return invalid("unsupported filter")
	}
	return nil
}

func filterSQL(c *Collection, e cql2.Expr, arg func(any) string) string {
	join := func(args []cql2.Expr, op string) string {
		parts := make([]string, len(args))
		for i, a := range args {
			parts[i] = filterSQL(c, a, arg)
		}
		return "(" + strings.Join(parts, " "+op+" ") + ")"
	}
	column := func(name string, caseI bool) (string, Property) {
		p, _ := c.Property(name)
		switch {
		case caseI:
			return "lower((" + p.Expr + ")::text)", p
		case numeric(p):
			return "(" + p.Expr + ")::float8", p
		case p.Type == "boolean":
			return "(" + p.Expr + ")::boolean", p
		}
		return "(" + p.Expr + ")::text", p
	}
	value := func(v cql2.Value, caseI bool) string {
		switch v.Kind {
		case "number":
			return arg(v.Num) + "::float8"
		case "boolean":
			return arg(v.Bool) + "::boolean"
		}
		if caseI {
			return "lower(" + arg(v.Str) + "::text)"
		}
		return arg(v.Str) + "::text"
	}
	switch x := e.(type) {
	case cql2.And:
		return join(x.Args, "AND")
	case cql2.Or:
		return join(x.Args, "OR")
	case cql2.Not:
		return "(NOT coalesce(" + filterSQL(c, x.Arg, arg) + ", false))"
	case cql2.Compare:
		op, prop, val := x.Op, x.Left, x.Right
		if prop.Property == "" { // value op property: flip
			prop, val = val, prop
			op = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}[op]
		}
		ci := prop.CaseI || val.CaseI
		col, _ := column(prop.Property, ci)
		return "(" + col + " " + op + " " + value(*val.Value, ci) + ")"
	case cql2.Like:
		ci := x.Prop.CaseI || x.Pattern.CaseI
		col, _ := column(x.Prop.Property, ci)
		not := ""
		if x.Not {
			not = "NOT "
		}
		return "(" + col + " " + not + "LIKE " + value(*x.Pattern.Value, ci) + ")"
	case cql2.Between:
		col, _ := column(x.Prop, false)
		not := ""
		if x.Not {
			not = "NOT "
		}
		return "(" + col + " " + not + "BETWEEN " + value(x.Lo, false) + " AND " + value(x.Hi, false) + ")"
	case cql2.In:
		col, p := column(x.Prop.Property, x.Prop.CaseI)
		var list string
		if numeric(p) && !x.Prop.CaseI {
			nums := make([]float64, len(x.Values))
			for i, v := range x.Values {
				nums[i] = v.Num
			}
			list = arg(nums) + "::float8[]"
		} else {
			strs := make([]string, len(x.Values))
			for i, v := range x.Values {
				strs[i] = v.Str
				if x.Prop.CaseI {
					strs[i] = strings.ToLower(v.Str)
				}
			}
			list = arg(strs) + "::text[]"
		}
		if x.Not {
			return "(" + col + " <> ALL (" + list + "))"
		}
		return "(" + col + " = ANY (" + list + "))"
	case cql2.IsNull:
		p, _ := c.Property(x.Prop)
		if x.Not {
			return "((" + p.Expr + ") IS NOT NULL)"
		}
		return "((" + p.Expr + ") IS NULL)"
	case cql2.Intersects:
		g := "ST_GeomFromText(" + arg(x.Geometry) + "::text, 4326)"
		return "(" + c.Geom + " && " + g + " AND ST_Intersects(" + c.Geom + ", " + g + "))"
	case cql2.Bool:
		if x.Value {
			return "true"
		}
		return "false"
	}
	return "false"
}
