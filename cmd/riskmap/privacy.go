package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kesempatan/riskmap/internal/backup"
	"github.com/kesempatan/riskmap/internal/localdb"
	"github.com/kesempatan/riskmap/internal/postgres"
)

const householdsSynopsis = `households erase --uuid U --reason R [--by NAME]
       riskmap households export --uuid U [--out DIR]

erase   removes the household, its children, scores, masked point and
        follow-ups in one transaction (consent withdrawn, or erasure asked,
        UU 27/2022). What remains is an erasure record with who, when and why
        and a salted hash of the uuid, so importing the same submission again
        is refused. The published figures count the household until the next
        'riskmap score'.
export  writes everything held about the household, for an access request:
        U.json (every row, every table) and U.html (readable, in Bahasa Indonesia).`

func householdsCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "erase" && args[0] != "export") {
		fmt.Fprintf(e.stderr, "Usage: riskmap %s\n", householdsSynopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errors.New("households: erase or export?")
	}
	sub := args[0]
	fs := e.flags("households "+sub, householdsSynopsis)
	uuid := fs.String("uuid", "", "the household's survey uuid (required)")
	reason := fs.String("reason", "", "erase: why (required), e.g. \"consent withdrawn by phone, 2026-11-20\"")
	by := fs.String("by", "", "erase: who asks for or carries out the erasure (default: the system user)")
	out := fs.String("out", ".", "export: directory to write U.json and U.html to")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *uuid == "" {
		return fmt.Errorf("households %s: --uuid is required", sub)
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "erase" {
		who := *by
		if who == "" {
			who = "cli:" + e.getenv("USER")
		}
		village, err := db.EraseHousehold(ctx, postgres.Erasure{UUID: *uuid, By: who, Reason: *reason, Kind: "request"})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "erased household %s (village %s): its answers, children, scores, masked point and follow-ups are gone;\n", *uuid, village)
		fmt.Fprintln(e.stdout, "the erasure is recorded without the uuid. The published figures count it until the next 'riskmap score': run it now.")
		return nil
	}
	rec, err := db.ExportHousehold(ctx, *uuid)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	base := filepath.Join(*out, safeName(*uuid))
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", b, 0o600); err != nil {
		return err
	}
	f, err := os.OpenFile(base+".html", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := writeHouseholdHTML(f, rec); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s.json and %s.html: personal data of one household; hand it over in person or encrypted\n", base, base)
	return nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r < ' ' {
			return '_'
		}
		return r
	}, s)
}

// htmlTables lays out each table's rows as a list of fields and values.
type htmlTable struct {
	Title string
	Rows  []map[string]any
	Cols  []string
}

var tableTitles = map[string]string{
	"household":       "Rumah tangga",
	"child":           "Anak",
	"child_class":     "Klasifikasi pekerjaan anak",
	"household_score": "Skor risiko rumah tangga",
	"household_mask":  "Titik lokasi yang disamarkan (untuk perencana)",
	"household_near":  "Jarak ke lahan tembakau terdekat",
	"follow_up":       "Pendampingan",
}

var householdPage = template.Must(template.New("h").Parse(`<!doctype html>
<html lang="id"><head><meta charset="utf-8"><title>Data rumah tangga {{.UUID}}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top}</style>
</head><body>
<h1>Data yang disimpan tentang rumah tangga {{.UUID}}</h1>
<p>Dibuat {{.At}} atas permintaan akses (UU 27/2022 tentang Pelindungan Data Pribadi). Survei tidak mencatat nama maupun NIK.
Dokumen ini berisi data pribadi: serahkan langsung kepada rumah tangga yang bersangkutan.</p>
<p lang="en"><i>Everything riskmap holds about this household, for an access request.</i></p>
{{range .Tables}}<h2>{{.Title}}</h2>
<table><tr>{{range .Cols}}<th>{{.}}</th>{{end}}</tr>
{{range $r := .Rows}}<tr>{{range $.Cols}}<td>{{index $r .}}</td>{{end}}</tr>{{end}}</table>
{{end}}
<h2>Catatan akses (siapa melihat data rumah tangga ini)</h2>
{{if .Audit}}<table><tr><th>waktu</th><th>kunci</th><th>peran</th><th>permintaan</th></tr>
{{range .Audit}}<tr><td>{{.At}}</td><td>{{if .KeyID}}{{.KeyID}}{{end}}</td><td>{{.Role}}</td><td>{{.Route}}</td></tr>{{end}}</table>
{{else}}<p>Tidak ada akses yang menyebut rumah tangga ini secara langsung.</p>{{end}}
</body></html>
`))

func writeHouseholdHTML(f *os.File, rec postgres.HouseholdRecord) error {
	var tables []htmlTable
	add := func(name string, raws []json.RawMessage) error {
		t := htmlTable{Title: tableTitles[name]}
		if t.Title == "" {
			t.Title = name
		}
		seen := map[string]bool{}
		for _, raw := range raws {
			var row map[string]any
			if err := json.Unmarshal(raw, &row); err != nil {
				return err
			}
			for k := range row {
				if !seen[k] {
					seen[k] = true
					t.Cols = append(t.Cols, k)
				}
			}
			t.Rows = append(t.Rows, row)
		}
		sort.Strings(t.Cols)
		tables = append(tables, t)
		return nil
	}
	if err := add("household", []json.RawMessage{rec.Household}); err != nil {
		return err
	}
	names := make([]string, 0, len(rec.Tables))
	for n := range rec.Tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := add(n, rec.Tables[n]); err != nil {
			return err
		}
	}
	return householdPage.Execute(f, map[string]any{"UUID": rec.SurveyUUID, "At": rec.ExportedAt.Format("2006-01-02 15:04 MST"),
		"Tables": tables, "Audit": rec.Audit})
}

func retentionCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("retention", "retention --dry-run | --apply [--as-of YYYY-MM-DD] [--model FILE]\n\nLists (--dry-run) or erases (--apply) every household whose last contact (the\nsurvey, or a follow-up) is older than the model's retention period\n(retention.months_after_last_contact). Households under an open follow-up are\nkept. Each erasure is recorded as erase_household records it. Schedule --apply\nmonthly (cron or a systemd timer), then run 'riskmap score'.")
	dry := fs.Bool("dry-run", false, "list what would be erased")
	apply := fs.Bool("apply", false, "erase it")
	asOf := fs.String("as-of", "", "the date to count from (default today)")
	modelFile := fs.String("model", "", "model file (default: the built-in model)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dry == *apply {
		return errors.New("retention: say --dry-run or --apply")
	}
	m, err := loadModel(*modelFile)
	if err != nil {
		return err
	}
	at := time.Now()
	if *asOf != "" {
		if at, err = time.Parse("2006-01-02", *asOf); err != nil {
			return fmt.Errorf("retention: --as-of %q is not a date (YYYY-MM-DD)", *asOf)
		}
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	months := m.Retention.MonthsAfterLastContact
	due, err := db.RetentionDue(ctx, months, at)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "survey_uuid\tvillage\tlast contact")
	for _, d := range due {
		if *apply {
			reason := fmt.Sprintf("retention: last contact %s, more than %d months before %s", d.LastContact.Format("2006-01-02"), months, at.Format("2006-01-02"))
			if _, err := db.EraseHousehold(ctx, postgres.Erasure{UUID: d.SurveyUUID, By: "retention", Reason: reason, Kind: "retention"}); err != nil {
				w.Flush()
				return fmt.Errorf("retention: %s: %w", d.SurveyUUID, err)
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", d.SurveyUUID, d.VillageCode, d.LastContact.Format("2006-01-02"))
	}
	w.Flush()
	verb := "would be erased"
	if *apply {
		verb = "erased"
	}
	fmt.Fprintf(e.stdout, "%d household(s) %s (retention %d months after the last contact, as of %s)\n", len(due), verb, months, at.Format("2006-01-02"))
	return nil
}

func backupCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("backup", "backup [--key-file K] FILE | backup --new-key K\n\nWrites the whole database (pg_dump custom format) to FILE, encrypted with the\nkey in K when given (AES-256-GCM; without the key file the backup cannot be\nread). --new-key writes a new random key to K (mode 0600). Keep keys apart from\nbackups. docs/operations.md has the restore drill.")
	keyFile := fs.String("key-file", "", "encrypt with this key (see --new-key)")
	newKey := fs.String("new-key", "", "write a new key to this file and stop")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *newKey != "" {
		if err := backup.NewKey(*newKey); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote a new backup key to %s: keep a copy somewhere other than the backups\n", *newKey)
		return nil
	}
	if fs.NArg() != 1 {
		return errors.New("backup: want one FILE")
	}
	var key []byte
	if *keyFile != "" {
		var err error
		if key, err = backup.ReadKey(*keyFile); err != nil {
			return err
		}
	}
	pgDump, err := localdb.Tool("pg_dump")
	if err != nil {
		return err
	}
	file := fs.Arg(0)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := backup.Dump(ctx, pgDump, e.databaseURL(), f, key); err != nil {
		f.Close()
		os.Remove(file)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	st, _ := os.Stat(file)
	enc := "not encrypted"
	if key != nil {
		enc = "encrypted"
	}
	fmt.Fprintf(e.stdout, "wrote %s (%d bytes, %s)\n", file, st.Size(), enc)
	return nil
}

func restoreCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("restore", "restore [--key-file K] FILE\n\nRestores a backup written by 'riskmap backup' into the database of DATABASE_URL,\nwhich must be empty (createdb NAME first), in one transaction.")
	keyFile := fs.String("key-file", "", "the key the backup was encrypted with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("restore: want one FILE")
	}
	var key []byte
	if *keyFile != "" {
		var err error
		if key, err = backup.ReadKey(*keyFile); err != nil {
			return err
		}
	}
	pgRestore, err := localdb.Tool("pg_restore")
	if err != nil {
		return err
	}
	url := e.databaseURL()
	if err := postgres.PrepareRestore(ctx, url); err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := backup.Restore(ctx, pgRestore, url, f, key); err != nil {
		return fmt.Errorf("restore %s: %w (nothing was restored)", fs.Arg(0), err)
	}
	fmt.Fprintf(e.stdout, "restored %s\n", fs.Arg(0))
	return nil
}
