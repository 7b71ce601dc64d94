package catalog

import "strconv"

// sqlArgs are a query's arguments, numbered as they are added: add
// returns the placeholder ($n) of the value it appends. Every query of the
// catalogue (items, counts, extents, pages, tiles' filters, exports) takes
// its values through one, so no value is ever written into SQL text and no
// placeholder is numbered by hand.
type sqlArgs []any

// add appends v and returns its placeholder.
func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}
