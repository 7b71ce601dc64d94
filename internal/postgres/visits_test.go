package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// TestImportVisitsLayouts loads exports of the case visit form in the
// layouts the tools write: KoBoToolbox's CSV with XML names (";"), with
// Bahasa labels for questions and answers and a 0/1 column per action, its
// XLSX, and ODK Central's CSV (KEY, SubmissionDate, meta columns). Each
// loads every visit; a second import of the same file adds nothing; a bad
// row is rejected with its file, row, column and reason and loads nothing.
func TestImportVisitsLayouts(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.NewDemo(t)
	ctx := context.Background()
	m, _ := risk.DefaultModel()
	var ids []int64
	var cards []string
	rows, err := db.Pool.Query(ctx, `SELECT k.id, coalesce(h.programme_id, '') FROM child_case k JOIN household h ON h.id = k.household_id ORDER BY k.id LIMIT 9`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var card string
		rows.Scan(&id, &card)
		ids, cards = append(ids, id), append(cards, card)
	}
	rows.Close()
	if len(ids) < 9 {
		t.Fatalf("the scored demo has %d cases", len(ids))
	}
	today := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kobo := write("kobo.csv", fmt.Sprintf(`"start";"end";"case_id";"programme_id";"visited_on";"kind";"outcome";"child_working";"in_school";"actions";"action_status";"_id";"_uuid";"_submission_time";"_validation_status";"_index"
"2026-07-01T09:00:00.000+07:00";"2026-07-01T09:12:00.000+07:00";"%d";"%s";"2026-07-01";"remediation";"met";"";"yes";"school_support awareness";"planned";"1";"k-1";"2026-07-01T02:20:00";"";"1"
"2026-08-01T09:00:00.000+07:00";"2026-08-01T09:12:00.000+07:00";"%d";"";"2026-08-01";"remediation";"not_found";"";"";"";"";"2";"k-2";"2026-08-01T02:20:00";"";"2"
"2026-09-01T09:00:00.000+07:00";"2026-09-01T09:12:00.000+07:00";"%d";"";"2026-09-01";"follow_up";"met";"no";"yes";"";"";"3";"k-3";"2026-09-01T02:20:00";"";"3"
`, ids[0], cards[0], ids[1], ids[2]))
	labels := write("kobo-labels.csv", fmt.Sprintf(`Nomor kasus,Nomor kartu rumah tangga program,Tanggal kunjungan,Jenis kunjungan,Hasil kunjungan,Apakah anak masih bekerja dalam pekerjaan terburuk atau pekerja anak?,Apakah anak bersekolah?,Tindakan remediasi,"Tindakan remediasi/Bantuan sekolah (seragam, buku, biaya)",Tindakan remediasi/Kelas jembatan / kejar paket,Tindakan remediasi/Dukungan penghidupan keluarga,Status tindakan,_uuid,_submission_time,_index
%d,,2026-07-02,Remediasi (rencana atau pemberian dukungan),Bertemu rumah tangga dan anak,,Ya,"Bantuan sekolah (seragam, buku, biaya) Kelas jembatan / kejar paket",1,1,0,Sudah diberikan,l-1,2026-07-02T03:00:00,1
%d,,2026-07-03,Tindak lanjut enam bulanan,Bertemu rumah tangga dan anak,Tidak,Tidak,,0,0,0,,l-2,2026-07-03T03:00:00,2
%d,,2026-07-04,Remediasi (rencana atau pemberian dukungan),Rumah tangga sudah pindah,,,,0,0,0,,l-3,2026-07-04T03:00:00,3
`, ids[3], ids[4], ids[5]))
	odk := write("odk.csv", fmt.Sprintf(`SubmissionDate,start,end,case_id,programme_id,visited_on,kind,outcome,child_working,in_school,actions,action_status,meta-instanceID,KEY,SubmitterID,SubmitterName,AttachmentsPresent,AttachmentsExpected,Status,ReviewState,DeviceID,Edits,FormVersion
2026-07-05T03:00:00.000Z,2026-07-05T09:00:00.000+07:00,2026-07-05T09:10:00.000+07:00,%d,,2026-07-05,remediation,met,,yes,livelihood referral_health,delivered,uuid:o-1,uuid:o-1,5,enumerator,0,0,,,,0,2026112701
2026-07-06T03:00:00.000Z,2026-07-06T09:00:00.000+07:00,2026-07-06T09:10:00.000+07:00,%d,,2026-07-06,follow_up,met,yes,no,,,uuid:o-2,uuid:o-2,5,enumerator,0,0,,,,0,2026112701
`, ids[6], ids[7]))
	xlsx := filepath.Join(dir, "kobo.xlsx")
	x := excelize.NewFile()
	sheet := x.GetSheetName(0)
	for r, row := range [][]any{
		{"start", "end", "case_id", "programme_id", "visited_on", "kind", "outcome", "child_working", "in_school", "actions", "action_status", "_id", "_uuid", "_submission_time", "_index"},
		{"2026-07-07T09:00:00", "2026-07-07T09:10:00", float64(ids[8]), "", "2026-07-07", "remediation", "met", "", "yes", "bridge_class", "planned", 9, "x-1", "2026-07-07T03:00:00", 1},
	} {
		for c, v := range row {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			x.SetCellValue(sheet, cell, v)
		}
	}
	if err := x.SaveAs(xlsx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		want int
	}{{kobo, 3}, {labels, 3}, {odk, 2}, {xlsx, 1}} {
		for attempt := 1; attempt <= 2; attempt++ {
			vr, err := ingest.OpenVisits(c.file)
			if err != nil {
				t.Fatalf("%s: %v", c.file, err)
			}
			sum, err := db.ImportVisits(ctx, vr, m.Cases, postgres.ImportOptions{}, today)
			vr.Close()
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(c.file), err)
			}
			if attempt == 1 && sum.Inserted != c.want || attempt == 2 && (sum.Inserted != 0 || sum.Skipped != c.want) {
				t.Errorf("%s import %d: %d inserted, %d skipped; want %d new the first time, all skipped the second", filepath.Base(c.file), attempt, sum.Inserted, sum.Skipped, c.want)
			}
		}
	}
	// What the labels file said, as stored.
	var actions []string
	var status string
	db.Pool.QueryRow(ctx, `SELECT actions, action_status FROM case_visit WHERE submission_id = 'l-1'`).Scan(&actions, &status)
	if strings.Join(actions, " ") != "school_support bridge_class" || status != "delivered" {
		t.Errorf("the labels export's first visit: actions %v, %s", actions, status)
	}
	var st string
	db.Pool.QueryRow(ctx, `SELECT status FROM child_case WHERE id = $1`, ids[5]).Scan(&st)
	if st != risk.CaseLost {
		t.Errorf("a household that moved: case %s, want lost", st)
	}
	db.Pool.QueryRow(ctx, `SELECT status FROM child_case WHERE id = $1`, ids[0]).Scan(&st)
	if st != risk.CaseRemediationPlanned {
		t.Errorf("after planned remediation, a not-found visit and a check out of work: %s", st)
	}

	// Bad rows: named, and nothing of the file loads.
	var before int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM case_visit`).Scan(&before)
	bad := write("bad.csv", fmt.Sprintf(`case_id;programme_id;visited_on;kind;outcome;child_working;in_school;actions;action_status;_uuid;_index
%d;;2026-07-08;remediation;met;;;awareness;planned;b-1;1
999999;;2026-07-08;remediation;met;;;;;b-2;2
%d;KSP-999999;2026-07-08;remediation;met;;;;;b-3;3
%d;;2026-07-08;follow_up;met;;;;;b-4;4
%d;;2030-01-01;remediation;not_found;;;;;b-5;5
%d;;2020-01-01;remediation;not_found;;;;;b-6;6
%d;3513010101010001;2026-07-08;remediation;not_found;;;;;b-7;7
`, ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]))
	vr, err := ingest.OpenVisits(bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ImportVisits(ctx, vr, m.Cases, postgres.ImportOptions{}, today)
	vr.Close()
	var ps ingest.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("bad rows: %v", err)
	}
	want := map[int]string{3: "case_id", 4: "programme_id", 5: "child_working", 6: "visited_on", 7: "visited_on", 8: "programme_id"}
	for _, p := range ps {
		if want[p.Row] != p.Column {
			t.Errorf("row %d rejected on %s (%s), want %s", p.Row, p.Column, p.Reason, want[p.Row])
		}
		delete(want, p.Row)
	}
	if len(want) > 0 {
		t.Errorf("rows not rejected: %v (%v)", want, ps)
	}
	var after int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM case_visit`).Scan(&after)
	if after != before {
		t.Errorf("a file with bad rows loaded %d visits", after-before)
	}
	if !strings.Contains(ps.Error(), "bad.csv") {
		t.Errorf("the problems do not name the file: %v", ps)
	}
}
