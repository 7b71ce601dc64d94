package push

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/push/pushtest"
	"github.com/kesempatan/riskmap/internal/risk"
)

func testCases(n int, village string) []Case {
	var out []Case
	due := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		out = append(out, Case{ID: int64(i), Status: "open", Due: &due, VillageCode: village, Village: "Alasnyiur",
			ProgrammeID: fmt.Sprintf("PKH-%05d", i), Ordinal: 1 + i%3, Age: 10 + i%7, Sex: []string{"male", "female"}[i%2],
			Lon: 113.5 + float64(i)/1000, Lat: -7.8})
	}
	return out
}

func entities(cs []Case) []Entity {
	out := make([]Entity, len(cs))
	for i, c := range cs {
		out[i] = CaseEntity(c)
	}
	return out
}

func testClient() *Client {
	return &Client{HTTP: http.DefaultClient, Retries: 2, Backoff: time.Millisecond, Chunk: 10}
}

func TestPushCentralSync(t *testing.T) {
	f, srv := pushtest.NewCentral()
	defer srv.Close()
	ctx := context.Background()
	c := testClient()
	o := Central{Server: srv.URL, Project: 7, Email: "staff@example.org", Password: "s3cret"}
	area := []string{"35.13.13"}
	cs := testCases(23, "35.13.13.2003")

	// Another staff area's entity is in the same dataset: no push of ours may touch it.
	f.Datasets["cases"] = &pushtest.Dataset{Props: slices.Clone(Properties), Entities: map[string]*pushtest.Entity{
		"other": {Label: "Other area", Data: map[string]string{"village_code": "35.13.10.2006", "case_id": "999"}, Version: 1}}, Order: []string{"other"}}

	st, err := c.PushCentral(ctx, o, area, entities(cs))
	if err != nil {
		t.Fatal(err)
	}
	if st.Created != 23 || st.Updated != 0 || st.Deleted != 0 || st.Writes != 3 {
		t.Errorf("first push: %+v, want 23 created in 3 bulk requests of 10", st)
	}
	live := f.Live("cases")
	if len(live) != 24 {
		t.Fatalf("%d entities on the server, want 23 and the other area's", len(live))
	}
	for id, e := range live {
		if id == "other" {
			continue
		}
		want := CaseEntity(cs[mustAtoi(t, e.Data["case_id"])-1])
		if id != want.UUID || e.Label != want.Label || e.Data["programme_id"] != want.Data["programme_id"] || e.Data["geometry"] == "" {
			t.Errorf("entity %s = %q %v, want %+v", id, e.Label, e.Data, want)
		}
		for _, v := range append([]string{e.Label}, mapValues(e.Data)...) {
			if strings.Contains(strings.ToLower(v), "nik") {
				t.Errorf("entity %s carries %q", id, v)
			}
		}
	}

	// Nothing changed: nothing written.
	st, err = c.PushCentral(ctx, o, area, entities(cs))
	if err != nil {
		t.Fatal(err)
	}
	if st.Writes != 0 || st.Unchanged != 23 {
		t.Errorf("second push with nothing changed: %+v, want no writes", st)
	}

	// A due date moved, a case closed (it leaves the list): one update, one delete.
	later := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	cs[4].Due = &later
	closed := cs[9]
	cs = append(cs[:9], cs[10:]...)
	st, err = c.PushCentral(ctx, o, area, entities(cs))
	if err != nil {
		t.Fatal(err)
	}
	if st.Updated != 1 || st.Deleted != 1 || st.Created != 0 || st.Writes != 2 {
		t.Errorf("after a due date and a closure: %+v, want 1 update and 1 delete", st)
	}
	live = f.Live("cases")
	if _, ok := live[risk.CaseEntityID(closed.ID)]; ok {
		t.Error("the closed case's entity is still on the list")
	}
	if e := live[risk.CaseEntityID(cs[4].ID)]; e == nil || e.Data["due"] != "2027-01-15" || !strings.Contains(e.Label, "2027-01-15") {
		t.Errorf("the moved due date did not reach the entity: %+v", e)
	}
	if live["other"] == nil {
		t.Error("the push deleted another area's entity")
	}

	// The case opens again (its id is held by a deleted entity): restored.
	cs = append(cs, closed)
	st, err = c.PushCentral(ctx, o, area, entities(cs))
	if err != nil {
		t.Fatal(err)
	}
	if st.Created != 1 || len(f.Live("cases")) != 24 {
		t.Errorf("re-opened case: %+v, %d live", st, len(f.Live("cases")))
	}

	// A visit sent from a phone and not pulled yet: the phone's visit fields stay.
	id := risk.CaseEntityID(cs[0].ID)
	f.Do(func() {
		f.Datasets["cases"].Entities[id].Data["last_visit"] = "2026-12-03"
		f.Datasets["cases"].Entities[id].Data["last_kind"] = "follow_up"
	})
	st, err = c.PushCentral(ctx, o, area, entities(cs))
	if err != nil {
		t.Fatal(err)
	}
	if st.Kept != 1 || st.Writes != 0 || f.Live("cases")[id].Data["last_kind"] != "follow_up" {
		t.Errorf("phone's newer visit: %+v, entity %v", st, f.Live("cases")[id].Data)
	}

	// A phone updates the entity between our read and our write: 409, re-read, retry.
	cs[1].Due = &later
	f.Do(func() {
		f.BumpBeforePatch = risk.CaseEntityID(cs[1].ID)
	})
	st, err = c.PushCentral(ctx, o, area, entities(cs))
	if err != nil {
		t.Fatal(err)
	}
	if e := f.Live("cases")[risk.CaseEntityID(cs[1].ID)]; st.Updated != 1 || e.Data["due"] != "2027-01-15" || e.Data["last_visit"] != "2099-01-01" {
		t.Errorf("update after a conflict: %+v, entity %v (the phone's visit must stay)", st, e.Data)
	}
}

func TestPushCentralFailures(t *testing.T) {
	ctx := context.Background()
	area := []string{"35.13.13"}
	cs := testCases(25, "35.13.13.2003")

	t.Run("wrong password", func(t *testing.T) {
		_, srv := pushtest.NewCentral()
		defer srv.Close()
		_, err := testClient().PushCentral(ctx, Central{Server: srv.URL, Project: 7, Email: "staff@example.org", Password: "nope"}, area, entities(cs))
		if err == nil || !strings.Contains(err.Error(), "refused the login") || !strings.Contains(err.Error(), "401") {
			t.Errorf("err = %v, want a refused login naming HTTP 401", err)
		}
	})
	t.Run("5xx then success", func(t *testing.T) {
		f, srv := pushtest.NewCentral()
		defer srv.Close()
		f.Fail5xx = 2
		st, err := testClient().PushCentral(ctx, Central{Server: srv.URL, Project: 7, Email: "staff@example.org", Password: "s3cret"}, area, entities(cs))
		if err != nil || st.Created != 25 || len(f.Live("cases")) != 25 {
			t.Errorf("after two 503s: %+v, %v, %d live", st, err, len(f.Live("cases")))
		}
	})
	t.Run("cut in the middle, then resumed", func(t *testing.T) {
		f, srv := pushtest.NewCentral()
		defer srv.Close()
		o := Central{Server: srv.URL, Project: 7, Email: "staff@example.org", Password: "s3cret"}
		// Dataset, 15 properties, then one bulk of 10: the second bulk fails.
		f.DieAfterWrites = 1 + len(Properties) + 1
		_, err := testClient().PushCentral(ctx, o, area, entities(cs))
		if err == nil || !strings.Contains(err.Error(), "next push finishes") {
			t.Fatalf("err = %v, want the push to fail and say the next one finishes it", err)
		}
		if n := len(f.Live("cases")); n != 10 {
			t.Fatalf("%d entities after the cut, want the first bulk of 10", n)
		}
		f.Do(func() {
			f.DieAfterWrites = 0
		})
		st, err := testClient().PushCentral(ctx, o, area, entities(cs))
		if err != nil || st.Created != 15 || st.Unchanged != 10 || len(f.Live("cases")) != 25 {
			t.Errorf("resumed push: %+v, %v, %d live; want the 15 missing created", st, err, len(f.Live("cases")))
		}
	})
	t.Run("bulk conflict on an id already there", func(t *testing.T) {
		f, srv := pushtest.NewCentral()
		defer srv.Close()
		o := Central{Server: srv.URL, Project: 7, Email: "staff@example.org", Password: "s3cret"}
		// The server wrote a previous bulk but its answer was lost, and the
		// feed (read before) did not show it: simulate with a hidden entity.
		f.Datasets["cases"] = &pushtest.Dataset{Props: slices.Clone(Properties), Entities: map[string]*pushtest.Entity{
			risk.CaseEntityID(3): {Label: "stale", Data: map[string]string{"village_code": "35.13.13.2003"}, Version: 1, Deleted: true}}}
		st, err := testClient().PushCentral(ctx, o, area, entities(cs))
		if err != nil || st.Created != 25 || len(f.Live("cases")) != 25 || f.Live("cases")[risk.CaseEntityID(3)].Label != CaseEntity(cs[2]).Label {
			t.Errorf("after a 409: %+v, %v, %d live", st, err, len(f.Live("cases")))
		}
	})
}

func TestCaseEntityIDIsStableAndDistinct(t *testing.T) {
	seen := map[string]int64{}
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for id := int64(1); id <= 20000; id++ {
		u := risk.CaseEntityID(id)
		if !re.MatchString(u) {
			t.Fatalf("risk.CaseEntityID(%d) = %q is not a version 5 UUID", id, u)
		}
		if other, dup := seen[u]; dup {
			t.Fatalf("cases %d and %d share %s", id, other, u)
		}
		seen[u] = id
	}
	// Python's uuid.uuid5 (RFC 4122) over the same namespace and names: the
	// ids must never change, or every entity on the phones is orphaned.
	for id, want := range map[int64]string{1: "3309f085-5043-5832-85ce-2fc45f60fdc9", 1077: "74deaf4f-2886-561f-a345-7129b4db1068"} {
		if got := risk.CaseEntityID(id); got != want {
			t.Errorf("CaseEntityID(%d) = %s, want %s (uuid.uuid5 of namespace 6b1f3e52-9a0c-4d8e-b127-5f604493c20d, name riskmap-case:%d)", id, got, want, id)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
