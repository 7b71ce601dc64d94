package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func keysCmd(ctx context.Context, e *env, args []string) error {
	const synopsis = `keys create|list|revoke

  create --role planner|staff|admin --name "WHO" [--area CODE[,CODE]] [--expires 720h]
      prints a new API key once; only its hash is stored. Staff keys need the
      kecamatan or village codes they work in.
  list            every key: id, role, areas, created, expires, revoked, last used
  revoke ID       revoke a key at once`
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "revoke") {
		fmt.Fprintf(e.stderr, "Usage: riskmap %s\n", synopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errors.New("keys: want create, list or revoke")
	}
	fs := e.flags("keys "+args[0], synopsis)
	role := fs.String("role", "", "planner, staff or admin")
	name := fs.String("name", "", "whose key this is")
	area := fs.String("area", "", "comma-separated kecamatan or village codes (staff)")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h (default: until revoked)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "create":
		var exp *time.Time
		if *expires > 0 {
			t := time.Now().Add(*expires)
			exp = &t
		}
		key, k, err := db.CreateKey(ctx, *name, *role, splitList(*area), exp)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "created key %d (%s, %s%s); it is shown once, store it now:\n", k.ID, k.Role, k.Name, areasText(k.Areas))
		fmt.Fprintln(e.stdout, key)
		return nil
	case "list":
		keys, err := db.Keys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "id\trole\tname\tareas\tcreated\texpires\trevoked\tlast used")
		when := func(t *time.Time) string {
			if t == nil {
				return "-"
			}
			return t.Format("2006-01-02 15:04")
		}
		for _, k := range keys {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Name, strings.Join(k.Areas, ","),
				k.CreatedAt.Format("2006-01-02 15:04"), when(k.ExpiresAt), when(k.RevokedAt), when(k.LastUsedAt))
		}
		return w.Flush()
	default:
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil {
			return fmt.Errorf("keys revoke: %q is not a key id", fs.Arg(0))
		}
		if err := db.RevokeKey(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked key %d\n", id)
		return nil
	}
}

func areasText(areas []string) string {
	if len(areas) == 0 {
		return ""
	}
	return ", areas " + strings.Join(areas, ",")
}

func auditCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("audit", "audit [--since 24h] | audit --verify [--expect-head HEX] | audit --reads --from T --to T [--key ID] [--households FILE]\n\nPrints every recorded response that held household- or child-level data.\n--verify recomputes the log's hash chain and prints its head hash: keep that\nhash outside the database; a later --verify --expect-head HASH proves the log\nstill holds, unchanged, everything up to it.\n--reads lists, per API key, the household-level reads of a period (after a key\nleaks: UU 27/2022 asks for notice within 3 x 24 hours); --households writes\nthe survey uuids within the reach of those keys (their areas), the households\nto consider notifying.")
	since := fs.Duration("since", 24*time.Hour, "how far back")
	verify := fs.Bool("verify", false, "verify the hash chain instead of printing")
	expect := fs.String("expect-head", "", "with --verify: a head hash printed earlier, which must still be in the chain")
	reads := fs.Bool("reads", false, "list household-level reads per key in --from..--to")
	from := fs.String("from", "", "with --reads: start (YYYY-MM-DD or RFC 3339)")
	to := fs.String("to", "", "with --reads: end, exclusive (default now)")
	keyID := fs.Int64("key", 0, "with --reads: one key's id")
	hhFile := fs.String("households", "", "with --reads: write the uuids within the keys' reach to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reads {
		return auditReads(ctx, e, *from, *to, *keyID, *hhFile)
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if *verify {
		c, err := db.VerifyAudit(ctx, *expect)
		if err != nil {
			return err
		}
		if c.Broken != "" {
			return fmt.Errorf("audit log tampered with: %s", c.Broken)
		}
		fmt.Fprintf(e.stdout, "audit log intact: %d rows, head %x\n", c.Rows, c.Head)
		return nil
	}
	entries, err := db.AuditSince(ctx, time.Now().Add(-*since))
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "time\tkey\trole\troute\trecords\tparameters")
	for _, a := range entries {
		key := "-"
		if a.KeyID != nil {
			key = strconv.FormatInt(*a.KeyID, 10)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", a.At.Format(time.RFC3339), key, a.Role, a.Route, a.Records, a.Params)
	}
	return w.Flush()
}

func parseWhen(s string, dflt time.Time) (time.Time, error) {
	if s == "" {
		return dflt, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

func auditReads(ctx context.Context, e *env, fromS, toS string, keyID int64, hhFile string) error {
	from, err := parseWhen(fromS, time.Time{})
	if err != nil || fromS == "" {
		return fmt.Errorf("audit --reads: --from %q: want a date (YYYY-MM-DD) or time (RFC 3339)", fromS)
	}
	to, err := parseWhen(toS, time.Now())
	if err != nil {
		return fmt.Errorf("audit --reads: --to %q: want a date or time", toS)
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	reach, err := db.AuditReads(ctx, from, to, keyID, hhFile != "")
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "key\tname\trole\tareas\treads\trecords\tfirst\tlast\thouseholds in reach")
	seen := map[string]bool{}
	var all []string
	for _, k := range reach {
		areas := strings.Join(k.Areas, ",")
		if areas == "" {
			areas = "all"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%d\n", k.KeyID, k.Name, k.Role, areas, k.Reads, k.Records,
			k.First.Format(time.RFC3339), k.Last.Format(time.RFC3339), len(k.Households))
		for _, h := range k.Households {
			if !seen[h] {
				seen[h] = true
				all = append(all, h)
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if hhFile != "" {
		sort.Strings(all)
		if err := os.WriteFile(hhFile, []byte(strings.Join(all, "\n")+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %d survey uuid(s) within the reach of these keys to %s (the log records each read's parameters and size, not each household: this is an upper bound)\n", len(all), hhFile)
	}
	return nil
}
