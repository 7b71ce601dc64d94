package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/push"
	"github.com/kesempatan/riskmap/internal/push/pushtest"
	"github.com/kesempatan/riskmap/internal/risk"
)

func fastPushes(t *testing.T) {
	old := newPushClient
	newPushClient = func() *push.Client {
		c := push.NewClient()
		c.Backoff = time.Millisecond
		c.Chunk = 25
		return c
	}
	t.Cleanup(func() { newPushClient = old })
}

// TestWorkListRoundTrip follows the work list out to the phones and the
// visits back, against local servers answering as ODK Central and
// KoBoToolbox document: a staff area's push creates one entity per case not
// closed, with no names and nothing of another area, and is audited under
// the staff key; a second push writes nothing; a closure removes its
// entity; a visit submitted from the visit form (case picked from the list,
// case_id computed from it) loads with its case; a pick that disagrees with
// case_id is rejected; KoBo gets the same list as cases.csv.
func TestWorkListRoundTrip(t *testing.T) {
	fastPushes(t)
	db, url := dbtest.NewDemo(t)
	getenv := envWith(map[string]string{"DATABASE_URL": url})
	ctx := context.Background()
	// The kecamatan with the most open cases, and how many each area has.
	var area string
	var open, elsewhere int
	if err := db.Pool.QueryRow(ctx, `SELECT substr(village_code, 1, 8), count(*) FROM child_case
		WHERE status NOT IN ('closed', 'lost') GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1`).Scan(&area, &open); err != nil {
		t.Fatal(err)
	}
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM child_case WHERE status NOT IN ('closed', 'lost') AND village_code NOT LIKE $1 || '.%'`, area).Scan(&elsewhere)
	if open < 5 || elsewhere == 0 {
		t.Fatalf("the demo has %d open cases in %s and %d elsewhere: too few to test", open, area, elsewhere)
	}
	key, _, err := runCmd(t, getenv, "keys", "create", "--role", "staff", "--area", area, "--name", "fasilitator "+area)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := secretFile(t, strings.TrimSpace(key))
	central, srv := pushtest.NewCentral()
	defer srv.Close()
	pw := secretFile(t, "s3cret")
	pushODK := func(a string) (string, error) {
		out, _, err := runCmd(t, getenv, "cases", "push", "odk", "--server", srv.URL, "--project", "7", "--user", "staff@example.org",
			"--password-file", pw, "--area", a, "--key-file", keyFile)
		return out, err
	}

	out, err := pushODK(area)
	if err != nil {
		t.Fatal(err)
	}
	live := central.Live("cases")
	if len(live) != open || !strings.Contains(out, fmt.Sprintf("%d created", open)) {
		t.Fatalf("first push: %d entities for %d open cases of %s; said %q", len(live), open, area, out)
	}
	var names []string
	rows, _ := db.Pool.Query(ctx, `SELECT name FROM village`)
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	for id, e := range live {
		if !strings.HasPrefix(e.Data["village_code"], area+".") {
			t.Errorf("entity %s is of village %s, outside the staff area %s", id, e.Data["village_code"], area)
		}
		if id != risk.CaseEntityID(mustInt(t, e.Data["case_id"])) {
			t.Errorf("entity %s does not carry its case's id", id)
		}
		// The label: village, card, child by ordinal, age and sex, due date. No other words.
		rest := e.Label
		for _, v := range names {
			rest = strings.ReplaceAll(rest, v, "")
		}
		for _, w := range strings.Fields(rest) {
			if !isLabelWord(w) {
				t.Errorf("entity %s label %q carries %q, which is none of village, card, ordinal, age, sex or due date", id, e.Label, w)
			}
		}
	}
	var audited int
	var route string
	var keyID *int64
	if err := db.Pool.QueryRow(ctx, `SELECT route, records, key_id FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&route, &audited, &keyID); err != nil ||
		route != "cli: cases push odk" || audited != open || keyID == nil {
		t.Errorf("audit: %q %d records, key %v (%v); want the push, %d records, under the staff key", route, audited, keyID, err, open)
	}

	writes := central.Writes()
	if out, err = pushODK(area); err != nil || central.Writes() != writes || !strings.Contains(out, "0 created, 0 updated") {
		t.Errorf("second push: %v, %d writes, %q; want nothing written", err, central.Writes()-writes, out)
	}
	if _, err := pushODK(area[:5]); err == nil || !strings.Contains(err.Error(), "may not carry") {
		t.Errorf("a staff key pushing the whole kabupaten: %v", err)
	}

	// A visit from the form: the officer picked an entity; the form computed
	// case_id and programme_id from it.
	var pick *pushtest.Entity
	var pickID string
	for id, e := range live {
		if pick == nil || id < pickID {
			pick, pickID = e, id
		}
	}
	caseID := mustInt(t, pick.Data["case_id"])
	opened := time.Now().Format(time.DateOnly)
	dir := t.TempDir()
	visits := filepath.Join(dir, "kesempatan_visit.csv")
	header := "SubmissionDate,start,end,pick,case_map,case_list,case,case_id,programme_id,case_label,case_due,case_last,visited_on,kind,outcome,child_working,in_school,actions,action_status,meta-instanceID,KEY,SubmitterID,SubmitterName,AttachmentsPresent,AttachmentsExpected,Status,ReviewState,DeviceID,Edits,FormVersion\n"
	row := func(key, entity string, id int64) string {
		return fmt.Sprintf("%sT03:00:00.000Z,%sT09:00:00.000+07:00,%sT09:10:00.000+07:00,list,,%s,%s,%d,%s,%q,%s,,%s,remediation,met,,yes,school_support,planned,uuid:%s,uuid:%s,5,kader,0,0,,,,0,2026120501\n",
			opened, opened, opened, entity, entity, id, pick.Data["programme_id"], pick.Label, pick.Data["due"], opened, key, key)
	}
	if err := os.WriteFile(visits, []byte(header+row("v-1", pickID, caseID)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCmd(t, getenv, "import", "visits", visits); err != nil {
		t.Fatalf("import visits: %v\n%s", err, out)
	}
	var n int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM case_visit WHERE case_id = $1 AND submission_id = 'v-1'`, caseID).Scan(&n)
	if n != 1 {
		t.Errorf("the visit picked from the list did not load with case %d", caseID)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte(header+row("v-2", risk.CaseEntityID(caseID+100000), caseID)), 0o644)
	if _, _, err := runCmd(t, getenv, "import", "visits", bad); err == nil || !strings.Contains(err.Error(), "case") || !strings.Contains(err.Error(), "disagree") {
		t.Errorf("a pick that is not case_id's case: %v", err)
	}

	// Visits pulled straight from the servers, as the phones sent them.
	var second *pushtest.Entity
	var secondID string
	for id, e := range live {
		if id != pickID && (second == nil || id < secondID) {
			second, secondID = e, id
		}
	}
	visit := func(entity *pushtest.Entity, id string) map[string]any {
		return map[string]any{"pick": "map", "case_map": id, "case": id, "case_id": entity.Data["case_id"], "programme_id": entity.Data["programme_id"],
			"case_label": entity.Label, "visited_on": opened, "kind": "remediation", "outcome": "met", "in_school": "yes",
			"actions": "awareness", "action_status": "planned"}
	}
	odkVisit := visit(second, secondID)
	odkVisit["__id"] = "uuid:o-visit-1"
	odkVisit["__system"] = map[string]any{"submissionDate": opened + "T04:00:00.000Z"}
	odk := httptest.NewServer(&odkServer{form: "kesempatan_visit", subs: []map[string]any{odkVisit}})
	defer odk.Close()
	fastPulls(t)
	for i, want := range []string{"pulled 1 visit(s)", "no new submissions"} {
		out, _, err := runCmd(t, getenv, "import", "odk", "--visits", "--server", odk.URL, "--project", "7", "--form", "kesempatan_visit",
			"--user", "staff@example.org", "--password-file", secretFile(t, "pa55"))
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("ODK visit pull %d: %v %q, want %q", i+1, err, out, want)
		}
	}
	koboVisit := visit(second, secondID)
	koboVisit["_id"], koboVisit["_uuid"], koboVisit["_submission_time"] = 1, "k-visit-1", opened+"T04:00:00"
	kv := httptest.NewServer(&koboServer{subs: []map[string]any{koboVisit}})
	defer kv.Close()
	if out, _, err := runCmd(t, getenv, "import", "kobo", "--visits", "--server", kv.URL, "--asset", "aBcD", "--token-file", secretFile(t, "s3cret")); err != nil || !strings.Contains(out, "pulled 1 visit(s)") {
		t.Errorf("KoBo visit pull: %v %q", err, out)
	}
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM case_visit WHERE case_id = $1 AND submission_id IN ('o-visit-1', 'k-visit-1')`, mustInt(t, second.Data["case_id"])).Scan(&n)
	if n != 2 {
		t.Errorf("%d of the 2 pulled visits loaded with case %s", n, second.Data["case_id"])
	}

	// The visits moved the cases on: the next push updates their entities. Then a
	// case closes: the push removes its entity.
	out, err = pushODK(area)
	if err != nil || !strings.Contains(out, "2 updated") || central.Live("cases")[pickID].Data["last_visit"] != opened {
		t.Errorf("push after a visit: %v %q; entity %v", err, out, central.Live("cases")[pickID].Data)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE child_case SET status = 'closed', next_due = NULL WHERE id = $1`, caseID); err != nil {
		t.Fatal(err)
	}
	out, err = pushODK(area)
	if err != nil || !strings.Contains(out, "1 removed") || central.Live("cases")[pickID] != nil || len(central.Live("cases")) != open-1 {
		t.Errorf("push after a closure: %v %q; %d live", err, out, len(central.Live("cases")))
	}

	// KoBoToolbox: the same list as the form's media file.
	kobo, ksrv := pushtest.NewKoBo(nil)
	defer ksrv.Close()
	tok := secretFile(t, "t0k")
	for i, want := range []string{"uploaded cases.csv with", "nothing written"} {
		out, _, err := runCmd(t, getenv, "cases", "push", "kobo", "--server", ksrv.URL, "--asset", "aVisit", "--token-file", tok, "--area", area)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("kobo push %d: %v %q, want %q", i+1, err, out, want)
		}
	}
	if lines := strings.Count(string(kobo.LastUpload), "\n"); lines != open {
		t.Errorf("cases.csv has %d lines, want a header and %d cases", lines, open-1)
	}
	var last json.RawMessage
	db.Pool.QueryRow(ctx, `SELECT params FROM audit_log WHERE route = 'cli: cases push kobo' ORDER BY id DESC LIMIT 1`).Scan(&last)
	if !strings.Contains(string(last), area) {
		t.Errorf("the KoBo push is not audited with its area: %s", last)
	}
}

func mustInt(t *testing.T, s string) int64 {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

// isLabelWord: a word an entity label may hold besides the village's name.
func isLabelWord(w string) bool {
	switch w {
	case "·", "anak", "tempo", "jatuh", "tanpa", "kartu", "th,", "L)", "P)":
		return true
	}
	if strings.HasPrefix(w, "ke-") || strings.HasPrefix(w, "(") {
		return true
	}
	return risk.CheckProgrammeID(w) == nil && w != "" || isDate(w)
}

func isDate(w string) bool {
	_, err := time.Parse(time.DateOnly, w)
	return err == nil
}
