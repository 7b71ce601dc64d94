package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// tableDigests fingerprints every table of a database: its rows, in order.
func tableDigests(t *testing.T, url string) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, table := range tables {
		var d string
		q := `SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '') FROM ` + pgx.Identifier{table}.Sanitize() + ` t`
		if err := conn.QueryRow(ctx, q).Scan(&d); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		out[table] = d
	}
	return out
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	_, src := dbtest.NewDemo(t)
	dir := t.TempDir()
	key, file := filepath.Join(dir, "backup.key"), filepath.Join(dir, "riskmap.backup")
	srcEnv := envWith(map[string]string{"DATABASE_URL": src})
	if _, _, err := runCmd(t, srcEnv, "backup", "--new-key", key); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, srcEnv, "backup", "--key-file", key, file)
	if err != nil || !strings.Contains(out, "encrypted") {
		t.Fatalf("backup: %v %s", err, out)
	}
	// The file holds no readable data.
	raw, _ := os.ReadFile(file)
	if strings.Contains(string(raw), "household") || strings.Contains(string(raw), "PGDMP") {
		t.Error("the encrypted backup holds plain text")
	}

	// A changed byte, a wrong key and a truncated file are refused, and the
	// target stays empty.
	target := dbtest.EmptyURL(t)
	tgtEnv := envWith(map[string]string{"DATABASE_URL": target})
	bad := filepath.Join(dir, "bad.backup")
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 1
	os.WriteFile(bad, flipped, 0o600)
	otherKey := filepath.Join(dir, "other.key")
	runCmd(t, srcEnv, "backup", "--new-key", otherKey)
	short := filepath.Join(dir, "short.backup")
	os.WriteFile(short, raw[:len(raw)-100], 0o600)
	for _, c := range []struct{ file, key, want string }{
		{bad, key, "cannot be decrypted"}, {file, otherKey, "cannot be decrypted"}, {short, key, "truncated"},
	} {
		_, _, err := runCmd(t, tgtEnv, "restore", "--key-file", c.key, c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "nothing was restored") {
			t.Errorf("restore %s with %s: %v, want %q", filepath.Base(c.file), filepath.Base(c.key), err, c.want)
		}
		if d := tableDigests(t, target); len(d) > 1 { // spatial_ref_sys at most, from a created extension
			t.Fatalf("a refused restore left %d tables", len(d))
		}
	}

	if _, _, err := runCmd(t, tgtEnv, "restore", "--key-file", key, file); err != nil {
		t.Fatalf("restore: %v", err)
	}
	want, got := tableDigests(t, src), tableDigests(t, target)
	if len(want) < 20 {
		t.Fatalf("only %d tables in the source", len(want))
	}
	for table, d := range want {
		if got[table] != d {
			t.Errorf("table %s differs after the round trip: %s vs %s", table, d, got[table])
		}
	}
	// Restoring over data is refused.
	if _, _, err := runCmd(t, tgtEnv, "restore", "--key-file", key, file); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into a non-empty database: %v", err)
	}
	// The restored database works: its audit chain verifies.
	if out, _, err := runCmd(t, tgtEnv, "audit", "--verify"); err != nil || !strings.Contains(out, "intact") {
		t.Errorf("audit --verify on the restored database: %v %s", err, out)
	}
}

func TestHouseholdsEraseExportAndReads(t *testing.T) {
	db, url := dbtest.NewDemo(t)
	ctx := context.Background()
	env := envWith(map[string]string{"DATABASE_URL": url, "USER": "tester"})
	var uuid, other string
	db.Pool.QueryRow(ctx, `SELECT min(survey_uuid), max(survey_uuid) FROM household WHERE village_code LIKE '35.13.13.%'`).Scan(&uuid, &other)

	// A staff key of Besuk reads households; a planner reads nothing household-level.
	staffKey, staff, err := db.CreateKey(ctx, "Besuk facilitator", "staff", []string{"35.13.13"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = staffKey
	p, err := db.Authenticate(ctx, staffKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Audit(ctx, p, "/collections/households/items", map[string][]string{"limit": {"10"}}, 10); err != nil {
		t.Fatal(err)
	}
	reach := filepath.Join(t.TempDir(), "reach.txt")
	out, _, err := runCmd(t, env, "audit", "--reads", "--from", "2000-01-01", "--households", reach)
	if err != nil || !strings.Contains(out, "Besuk facilitator") || !strings.Contains(out, "35.13.13") {
		t.Fatalf("audit --reads: %v\n%s", err, out)
	}
	listed, _ := os.ReadFile(reach)
	var inBesuk int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM household WHERE village_code LIKE '35.13.13.%'`).Scan(&inBesuk)
	if n := strings.Count(string(listed), "\n"); n != inBesuk || !strings.Contains(string(listed), uuid) {
		t.Errorf("reach file lists %d households, want the %d of Besuk", n, inBesuk)
	}
	_ = staff

	// Export, then erase.
	dir := t.TempDir()
	if _, _, err := runCmd(t, env, "households", "export", "--uuid", uuid, "--out", dir); err != nil {
		t.Fatal(err)
	}
	var rec postgres.HouseholdRecord
	b, _ := os.ReadFile(filepath.Join(dir, uuid+".json"))
	if err := json.Unmarshal(b, &rec); err != nil || rec.SurveyUUID != uuid || len(rec.Tables["child"]) == 0 {
		t.Errorf("export json: %v, %d children", err, len(rec.Tables["child"]))
	}
	page, _ := os.ReadFile(filepath.Join(dir, uuid+".html"))
	if !strings.Contains(string(page), "Data yang disimpan tentang rumah tangga") || !strings.Contains(string(page), "Anak") || strings.Contains(string(page), other) {
		t.Errorf("export html is not the household's page in Bahasa Indonesia")
	}
	if _, _, err := runCmd(t, env, "households", "erase", "--uuid", uuid); err == nil || !strings.Contains(err.Error(), "reason") {
		t.Errorf("erase without a reason: %v", err)
	}
	out, _, err = runCmd(t, env, "households", "erase", "--uuid", uuid, "--reason", "consent withdrawn")
	if err != nil || !strings.Contains(out, "erased household") || !strings.Contains(out, "riskmap score") {
		t.Fatalf("erase: %v %s", err, out)
	}
	var by string
	db.Pool.QueryRow(ctx, `SELECT erased_by FROM erasure`).Scan(&by)
	if by != "cli:tester" {
		t.Errorf("erased_by = %q", by)
	}
	if _, _, err := runCmd(t, env, "households", "export", "--uuid", uuid, "--out", dir); err == nil {
		t.Error("exported an erased household")
	}
	out, _, err = runCmd(t, env, "score")
	if err != nil || !strings.Contains(out, "1 household(s) erased since the previous run are gone from the data") {
		t.Errorf("score after erasure: %v\n%s", err, out)
	}
}
