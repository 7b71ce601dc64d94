package push

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/push/pushtest"
	"github.com/kesempatan/riskmap/internal/risk"
)

func TestPushKoBo(t *testing.T) {
	f, srv := pushtest.NewKoBo(map[string]pushtest.File{"afOther": {Name: "villages.csv", Body: []byte("x")}})
	defer srv.Close()
	ctx := context.Background()
	c := testClient()
	k := KoBo{Server: srv.URL, Asset: "aVisit", Token: "t0k"}
	cs := testCases(12, "35.13.13.2003")
	list := CSV(entities(cs))

	f.Fail5xx = 1
	st, err := c.PushKoBo(ctx, k, list, len(cs))
	if err != nil || st.Unchanged || !st.Redeployed || f.Deploys != 1 {
		t.Fatalf("first push: %+v, %v, %d deploys", st, err, f.Deploys)
	}
	rows, err := csv.NewReader(strings.NewReader(string(f.LastUpload))).ReadAll()
	if err != nil || len(rows) != 13 || rows[0][0] != "name" || rows[0][1] != "label" || rows[1][0] != risk.CaseEntityID(1) {
		t.Fatalf("uploaded list: %v rows, %v; header %v", len(rows), err, rows[0])
	}
	writes := f.Writes()
	st, err = c.PushKoBo(ctx, k, list, len(cs))
	if err != nil || !st.Unchanged || f.Writes() != writes {
		t.Errorf("second push with the same list: %+v, %v, %d writes; want none", st, err, f.Writes()-writes)
	}
	later := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	cs[0].Due = &later
	st, err = c.PushKoBo(ctx, k, CSV(entities(cs)), len(cs))
	if err != nil || !st.Replaced || st.Unchanged || f.Deploys != 2 || len(f.Files) != 2 || !strings.Contains(string(f.LastUpload), "2027-02-01") {
		t.Errorf("changed list: %+v, %v, %d deploys, %d files", st, err, f.Deploys, len(f.Files))
	}
	if _, ok := f.Files["afOther"]; !ok {
		t.Error("the push deleted another media file of the form")
	}
	_, err = c.PushKoBo(ctx, KoBo{Server: srv.URL, Asset: "aVisit", Token: "bad"}, list, len(cs))
	if err == nil || !strings.Contains(err.Error(), "refused the token") {
		t.Errorf("bad token: %v", err)
	}
}
