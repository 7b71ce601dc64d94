// Package migrations holds riskmap's numbered SQL migrations, embedded so the
// binary can migrate a database without the source tree.
package migrations

import "embed"

// FS holds the migration files, named NNN_description.sql, applied in order.
//
//go:embed *.sql
var FS embed.FS
