package push

import (
	"context"
	"testing"

	"github.com/kesempatan/riskmap/internal/push/pushtest"
)

// BenchmarkPushCentral pushes a kabupaten's work list (3,000 open cases, the
// size of Jember's in make run) to the Central stand-in: the first push
// (dataset, properties, bulk creates) and a push with nothing changed (the
// entity feed read, nothing written). It reports the requests each made;
// the stand-in answers on loopback, so the time is riskmap's own work plus
// the HTTP round trips, not a real server's.
func BenchmarkPushCentral(b *testing.B) {
	ctx := context.Background()
	es := entities(testCases(3000, "35.09.18.2001"))
	for _, kind := range []string{"first", "unchanged"} {
		b.Run(kind, func(b *testing.B) {
			var st Stats
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				f, srv := pushtest.NewCentral()
				f.PageSize = 1000
				c := testClient()
				c.Chunk = 500
				o := Central{Server: srv.URL, Project: 7, Email: f.Email, Password: f.Password}
				if kind == "unchanged" {
					if _, err := c.PushCentral(ctx, o, []string{"35.09"}, es); err != nil {
						b.Fatal(err)
					}
				}
				w := f.Writes()
				b.StartTimer()
				var err error
				if st, err = c.PushCentral(ctx, o, []string{"35.09"}, es); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if kind == "unchanged" && (f.Writes() != w || st.Unchanged != 3000) {
					b.Fatalf("a push with nothing changed wrote %d requests", f.Writes()-w)
				}
				srv.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(st.Writes), "writes/push")
			b.ReportMetric(float64(st.Created+st.Updated), "entities-written/push")
		})
	}
}
