// Package web holds riskmap's map page: HTML, script and style written for
// riskmap, and MapLibre GL JS vendored into static/vendor by `make web` from
// the npm registry. The binary embeds it, so the page needs no network
// beyond the service.
package web

import "embed"

// Static is the page and its assets.
//
//go:embed static
var Static embed.FS
