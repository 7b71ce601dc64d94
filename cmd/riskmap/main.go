// Command riskmap maps child-labour risk across tobacco-growing villages:
// it imports boundaries and household surveys into PostGIS and serves
// GeoJSON layers to browsers and GIS tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "riskmap:", err)
		os.Exit(1)
	}
}
