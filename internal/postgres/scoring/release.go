package scoring

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// A release is one publication (docs/methodology.md, "Releases over time").
// The public and planners see a village's survey only through its basis
// (release_basis): the village's counts taken at the release that last
// refreshed it. A basis is refreshed only when a batch of at least
// publication.change_min_households households and change_min_children
// children changed in the village since (arrived, left or answered
// differently): one erasure, one late submission, moves nothing. Parents are
// sums of their villages' bases, so any difference an attacker can form
// between two releases is the work of such a batch.

// Refreshed is one basis a release took anew, and the size of the batch of
// changes that allowed it.
type Refreshed struct {
	Round      string `json:"round,omitempty"`
	Area       string `json:"area"`
	Households int    `json:"households,omitempty"`
	Children   int    `json:"children,omitempty"`
	Cases      int    `json:"cases,omitempty"`
	// Rebase: no household changed, the basis was counted again under a new
	// model or new tobacco fields.
	Rebase bool `json:"rebase,omitempty"`
}

// Held is what a release left as it was: bases with changes still under the
// threshold, and bases counted under an earlier model that cannot be counted
// again without revealing those changes.
type Held struct {
	Bases      int `json:"bases"`       // bases with 1..threshold-1 changes waiting
	Households int `json:"households"`  // households changed in them
	Stale      int `json:"stale_bases"` // bases on an earlier basis_key
	Cases      int `json:"case_bases"`  // kecamatan pipelines with changes waiting
}

// releaseState is what the scoring run's release steps decided.
type releaseState struct {
	key       string
	refreshed []Refreshed
	held      Held
}

// basisKey names what the bases' counts depend on besides the households:
// the model's child rule and household scoring, and the tobacco fields
// households are scored against (proximity_state).
func basisKey(ctx context.Context, tx pgx.Tx, m *risk.Model) (string, error) {
	b, err := json.Marshal(struct {
		Child     any `json:"child_rule"`
		Household any `json:"household"`
	}{m.ChildRule, m.Household})
	if err != nil {
		return "", err
	}
	var fields string
	if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT key FROM proximity_state), '')`).Scan(&fields); err != nil {
		return "", err
	}
	sum := md5.Sum(append(b, []byte("|"+fields)...))
	return hex.EncodeToString(sum[:]), nil
}

// refreshBases finds, for every round and village, the batch of changes
// since its basis was taken, and takes anew the bases whose batch reaches
// the thresholds (or that nothing changed in since, under a new basis key).
func refreshBases(ctx context.Context, tx pgx.Tx, m *risk.Model, st *releaseState) error {
	key, err := basisKey(ctx, tx, m)
	if err != nil {
		return err
	}
	st.key = key
	rule := m.Publication
	err = execAll(ctx, tx, []statement{
		// A round published for the first time: the villages surveyed
		// with too few households for a basis show insufficient_data
		// from now on (release_surveyed, migration 020); later arrivals
		// below a batch wait like every other change.
		{`INSERT INTO release_surveyed (round_id, village_code)
			SELECT DISTINCT h.round_id, h.village_code FROM household h
			WHERE NOT EXISTS (SELECT 1 FROM release_basis b WHERE b.round_id = h.round_id)
			  AND NOT EXISTS (SELECT 1 FROM release_surveyed s WHERE s.round_id = h.round_id)
			ON CONFLICT DO NOTHING`, nil},
		{`CREATE TEMP TABLE member_now ON COMMIT DROP AS
			SELECT h.round_id, h.village_code, h.id AS household_id, h.data_version, coalesce(k.n, 0)::int AS children
			FROM household h LEFT JOIN household_kids k ON k.household_id = h.id`, nil},
		// Changed: in the basis but not here now (left, or moved), here now
		// but not in the basis (arrived), or here with other answers.
		{`CREATE TEMP TABLE basis_batch ON COMMIT DROP AS
			WITH moves AS (
				SELECT coalesce(b.round_id, n.round_id) AS round_id, coalesce(b.village_code, n.village_code) AS village_code,
					CASE WHEN b.household_id IS NULL THEN n.children WHEN n.household_id IS NULL THEN b.children
					     ELSE greatest(b.children, n.children) END AS children
				FROM release_member b
				FULL JOIN member_now n ON n.household_id = b.household_id AND n.round_id = b.round_id AND n.village_code = b.village_code
				WHERE b.household_id IS NULL OR n.household_id IS NULL OR b.data_version <> n.data_version)
			SELECT round_id, village_code, sum(h)::int AS households, sum(c)::int AS children FROM (
				SELECT round_id, village_code, 1 AS h, children AS c FROM moves
				UNION ALL SELECT round_id, village_code, households, children FROM release_departed) x
			GROUP BY 1, 2`, nil},
		{`CREATE TEMP TABLE basis_refresh ON COMMIT DROP AS
			SELECT k.round_id, k.village_code, coalesce(c.households, 0) AS households, coalesce(c.children, 0) AS children,
				coalesce(c.households, 0) = 0 AS rebase
			FROM (SELECT round_id, village_code FROM basis_batch UNION SELECT round_id, village_code FROM release_basis) k
			LEFT JOIN basis_batch c USING (round_id, village_code)
			LEFT JOIN release_basis b USING (round_id, village_code)
			WHERE (coalesce(c.households, 0) >= $1 AND coalesce(c.children, 0) >= $2)
			   OR (coalesce(c.households, 0) = 0 AND b.basis_key IS DISTINCT FROM $3 AND b.round_id IS NOT NULL)`,
			[]any{rule.ChangeMinHouseholds, rule.ChangeMinChildren, key}},
	})
	if err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE c.households > 0 AND r.round_id IS NULL), coalesce(sum(c.households) FILTER (WHERE r.round_id IS NULL), 0),
			(SELECT count(*) FROM release_basis b WHERE b.basis_key <> $1
				AND NOT EXISTS (SELECT 1 FROM basis_refresh r WHERE r.round_id = b.round_id AND r.village_code = b.village_code))
		FROM basis_batch c LEFT JOIN basis_refresh r USING (round_id, village_code)`, key).
		Scan(&st.held.Bases, &st.held.Households, &st.held.Stale); err != nil {
		return err
	}
	refreshed, err := collectRefreshed(ctx, tx, `SELECT round_id AS round, 'desa:' || village_code AS area, households, children, rebase
		FROM basis_refresh ORDER BY round_id, village_code`)
	if err != nil {
		return err
	}
	st.refreshed = append(st.refreshed, refreshed...)
	if len(st.refreshed) == 0 {
		return nil
	}
	return execAll(ctx, tx, []statement{
		{`ANALYZE basis_refresh`, nil},
		{`SELECT set_config('riskmap.release_refresh', 'on', true)`, nil},
		{`DELETE FROM release_member m USING basis_refresh r WHERE m.round_id = r.round_id AND m.village_code = r.village_code`, nil},
		{`INSERT INTO release_member (round_id, village_code, household_id, data_version, children)
			SELECT n.round_id, n.village_code, n.household_id, n.data_version, n.children
			FROM member_now n JOIN basis_refresh r USING (round_id, village_code)`, nil},
		{`DELETE FROM release_departed d USING basis_refresh r WHERE d.round_id = r.round_id AND d.village_code = r.village_code`, nil},
		{`DELETE FROM release_basis b USING basis_refresh r WHERE b.round_id = r.round_id AND b.village_code = r.village_code`, nil},
		{`SELECT set_config('riskmap.release_refresh', '', true)`, nil},
		// Sums over each refreshed village's households, from the run's
		// per-household tables (household_kids: children aged
		// min_work_age..max_child_age, by class).
		{`INSERT INTO release_basis (round_id, village_code, release_id, basis_key, households, children, hazardous, child_labour,
				light_work, not_working, labourer_households, poor_households, score_n, score_sum, score_ss,
				kid_households, kid_y, kid_n, kid_yy, kid_yn, kid_nn)
			SELECT h.round_id, h.village_code, 0, $1, count(*), coalesce(sum(k.n), 0), coalesce(sum(k.n_hazardous), 0),
				coalesce(sum(k.n_child_labour), 0), coalesce(sum(k.n_light_work), 0),
				coalesce(sum(k.n - k.n_hazardous - k.n_child_labour - k.n_light_work), 0),
				count(*) FILTER (WHERE h.livelihoods && $2::text[]), count(*) FILTER (WHERE h.poverty_programmes && $3::text[]),
				count(s.score), coalesce(sum(s.score), 0), coalesce(sum(s.score::float8 ^ 2), 0),
				count(*) FILTER (WHERE k.n > 0), coalesce(sum(k.y) FILTER (WHERE k.n > 0), 0), coalesce(sum(k.n) FILTER (WHERE k.n > 0), 0),
				coalesce(sum(k.y * k.y) FILTER (WHERE k.n > 0), 0), coalesce(sum(k.y * k.n) FILTER (WHERE k.n > 0), 0),
				coalesce(sum(k.n * k.n) FILTER (WHERE k.n > 0), 0)
			FROM household h
			JOIN basis_refresh r ON r.round_id = h.round_id AND r.village_code = h.village_code
			LEFT JOIN household_kids k ON k.household_id = h.id
			LEFT JOIN household_score_next s ON s.household_id = h.id
			GROUP BY h.round_id, h.village_code`,
			[]any{key, m.Household.LabourLivelihoods, m.Household.PovertyProgrammes}},
	})
}

// collectRefreshed reads bases taken anew, by column name.
func collectRefreshed(ctx context.Context, tx pgx.Tx, sql string) ([]Refreshed, error) {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByNameLax[Refreshed])
}

// basis is one round's published basis, in the shape the publisher takes.
type basis struct {
	areas   []risk.AreaCounts
	mean    map[string]*float64 // area -> its basis' mean household score, rounded to score_step
	within  float64             // pooled within-village variance of household scores
	cluster risk.ClusterSums
	// surveyedOnly: areas with households surveyed in the round when it was
	// first published but none in any basis yet (a first batch under the
	// threshold): shown as insufficient_data, as a village under the
	// minimum sample is. Taken once (release_surveyed), never from the
	// live households: a late arrival must not move a release.
	surveyedOnly map[string]bool
}

// readBasis reads one round's bases for every village, and sums them to
// kecamatan and kabupaten.
func readBasis(ctx context.Context, tx pgx.Tx, m *risk.Model, round string) (*basis, error) {
	rows, err := tx.Query(ctx, `
		SELECT v.code, v.kecamatan_code, k.kabupaten_code, b.round_id IS NOT NULL,
			EXISTS (SELECT 1 FROM release_surveyed s WHERE s.village_code = v.code AND s.round_id = $1),
			coalesce(b.households, 0), coalesce(b.labourer_households, 0), coalesce(b.poor_households, 0),
			coalesce(b.children, 0), coalesce(b.hazardous, 0), coalesce(b.child_labour, 0), coalesce(b.light_work, 0),
			coalesce(b.not_working, 0), coalesce(b.score_n, 0), coalesce(b.score_sum, 0), coalesce(b.score_ss, 0),
			coalesce(b.kid_households, 0), coalesce(b.kid_y, 0), coalesce(b.kid_n, 0), coalesce(b.kid_yy, 0),
			coalesce(b.kid_yn, 0), coalesce(b.kid_nn, 0)
		FROM village v JOIN kecamatan k ON k.code = v.kecamatan_code
		LEFT JOIN release_basis b ON b.round_id = $1 AND b.village_code = v.code
		ORDER BY v.code`, round)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &basis{mean: map[string]*float64{}, surveyedOnly: map[string]bool{}}
	type sums struct{ n, sum float64 }
	scores := map[string]*sums{}
	parents := map[string]*risk.AreaCounts{}
	var order []string
	measures := []string{"households", "labourer_households", "poor_households", "children", "hazardous", "child_labour", "light_work", "not_working"}
	var ssWithin, nWithin, groups float64
	for rows.Next() {
		var code, kec, kab string
		var has, surveyed bool
		var n [8]int
		var sn int
		var ssum, sss float64
		var kh int
		var ky, kn, kyy, kyn, knn float64
		if err := rows.Scan(&code, &kec, &kab, &has, &surveyed, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7],
			&sn, &ssum, &sss, &kh, &ky, &kn, &kyy, &kyn, &knn); err != nil {
			return nil, err
		}
		v := risk.AreaID(risk.LevelDesa, code)
		a := risk.AreaCounts{Area: v, Parent: risk.AreaID(risk.LevelKecamatan, kec), Leaf: true, Counts: map[string]int{}}
		for i, ms := range measures {
			a.Counts[ms] = n[i]
		}
		out.areas = append(out.areas, a)
		if surveyed && (!has || n[0] == 0) {
			out.surveyedOnly[v] = true
		}
		out.cluster.Households += n[0]
		out.cluster.HouseholdsWithKid += kh
		out.cluster.Y, out.cluster.N, out.cluster.YY, out.cluster.YN, out.cluster.NN = out.cluster.Y+ky, out.cluster.N+kn, out.cluster.YY+kyy, out.cluster.YN+kyn, out.cluster.NN+knn
		if sn > 0 {
			ssWithin += sss - ssum*ssum/float64(sn)
			nWithin += float64(sn)
			groups++
		}
		for _, area := range []string{v, risk.AreaID(risk.LevelKecamatan, kec), risk.AreaID(risk.LevelKabupaten, kab)} {
			s := scores[area]
			if s == nil {
				s = &sums{}
				scores[area] = s
			}
			s.n, s.sum = s.n+float64(sn), s.sum+ssum
		}
		for _, p := range [][2]string{{risk.AreaID(risk.LevelKecamatan, kec), risk.AreaID(risk.LevelKabupaten, kab)}, {risk.AreaID(risk.LevelKabupaten, kab), ""}} {
			pa, ok := parents[p[0]]
			if !ok {
				pa = &risk.AreaCounts{Area: p[0], Parent: p[1], Counts: map[string]int{}}
				parents[p[0]] = pa
				order = append(order, p[0])
			}
			for i, ms := range measures {
				pa.Counts[ms] += n[i]
			}
			if surveyed && out.surveyedOnly[v] {
				out.surveyedOnly[p[0]] = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, p := range order {
		out.areas = append(out.areas, *parents[p])
	}
	for _, a := range out.areas {
		if a.Counts["households"] > 0 {
			delete(out.surveyedOnly, a.Area) // a parent with any basis shows its figures
		}
	}
	step := m.Publication.ScoreStep
	for area, s := range scores {
		if s.n > 0 {
			x := risk.RoundTo(s.sum/s.n, step)
			out.mean[area] = &x
		}
	}
	if nWithin > groups {
		out.within = ssWithin / (nWithin - groups)
	}
	return out, nil
}

// inputs returns the publication's inputs with every survey-derived figure
// taken from the bases: the mean household score, and which villages of a
// parent count as surveyed.
func (b *basis) inputs(in map[string]risk.AreaInput) map[string]risk.AreaInput {
	out := make(map[string]risk.AreaInput, len(in))
	for area, ai := range in {
		ai.MeanScore = b.mean[area]
		out[area] = ai
	}
	coverage(out, b.areas)
	return out
}

// figures applies the one status the publisher cannot see from the basis:
// surveyed, but not yet in any basis.
func (b *basis) figures(figs map[string]risk.Figures) {
	for area := range b.surveyedOnly {
		f := figs[area]
		if f.Status == "no_data" {
			f.Status = "insufficient_data"
			figs[area] = f
		}
	}
}

// refreshCaseBases is refreshBases for the case pipeline, by kecamatan:
// cases opened, whose status changed, or that left (erased with their
// household) since the kecamatan's basis was taken.
func refreshCaseBases(ctx context.Context, tx pgx.Tx, m *risk.Model, st *releaseState) error {
	err := execAll(ctx, tx, []statement{
		{`CREATE TEMP TABLE case_now ON COMMIT DROP AS
			SELECT c.id AS case_id, c.household_id, v.kecamatan_code, c.status
			FROM child_case c JOIN village v ON v.code = c.village_code`, nil},
		{`ANALYZE case_now`, nil},
		{`CREATE TEMP TABLE case_batch ON COMMIT DROP AS
			SELECT kecamatan_code, sum(n)::int AS cases FROM (
				SELECT coalesce(b.kecamatan_code, n.kecamatan_code) AS kecamatan_code, 1 AS n
				FROM release_case_member b FULL JOIN case_now n ON n.case_id = b.case_id AND n.kecamatan_code = b.kecamatan_code
				WHERE b.case_id IS NULL OR n.case_id IS NULL OR b.status <> n.status
				UNION ALL SELECT kecamatan_code, cases FROM release_case_departed) x
			GROUP BY 1`, nil},
		{`CREATE TEMP TABLE case_refresh ON COMMIT DROP AS
			SELECT kecamatan_code, cases FROM case_batch WHERE cases >= $1`, []any{m.Publication.ChangeMinChildren}},
		{`ANALYZE case_refresh`, nil},
	})
	if err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM case_batch c WHERE c.cases > 0
		AND NOT EXISTS (SELECT 1 FROM case_refresh r WHERE r.kecamatan_code = c.kecamatan_code)`).Scan(&st.held.Cases); err != nil {
		return err
	}
	refreshed, err := collectRefreshed(ctx, tx, `SELECT 'kecamatan:' || kecamatan_code AS area, cases FROM case_refresh ORDER BY kecamatan_code`)
	if err != nil {
		return err
	}
	st.refreshed = append(st.refreshed, refreshed...)
	return execAll(ctx, tx, []statement{
		{`SELECT set_config('riskmap.release_refresh', 'on', true)`, nil},
		{`DELETE FROM release_case_member m USING case_refresh r WHERE m.kecamatan_code = r.kecamatan_code`, nil},
		{`INSERT INTO release_case_member (case_id, household_id, kecamatan_code, status)
			SELECT n.case_id, n.household_id, n.kecamatan_code, n.status FROM case_now n JOIN case_refresh r USING (kecamatan_code)`, nil},
		{`DELETE FROM release_case_departed d USING case_refresh r WHERE d.kecamatan_code = r.kecamatan_code`, nil},
		{`DELETE FROM release_case_basis b USING case_refresh r WHERE b.kecamatan_code = r.kecamatan_code`, nil},
		{`SELECT set_config('riskmap.release_refresh', '', true)`, nil},
		// Counted for every kecamatan in one pass: a count per kecamatan
		// scanned every case once per kecamatan (hours at national size).
		{`INSERT INTO release_case_basis (kecamatan_code, release_id, counts)
			SELECT r.kecamatan_code, 0, coalesce(s.counts, '{}')
			FROM case_refresh r LEFT JOIN (
				SELECT kecamatan_code, jsonb_object_agg(status, n) AS counts
				FROM (SELECT kecamatan_code, status, count(*) AS n FROM case_now GROUP BY 1, 2) c
				GROUP BY kecamatan_code) s USING (kecamatan_code)`, nil},
	})
}

// publishPipeline builds pipeline_public from the kecamatan bases: the
// pipeline rule (risk.PublishTable) over kecamatan and their kabupaten sums.
func publishPipeline(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	rows, err := tx.Query(ctx, `
		SELECT k.code, k.kabupaten_code, coalesce(b.counts, '{}')
		FROM kecamatan k LEFT JOIN release_case_basis b ON b.kecamatan_code = k.code
		ORDER BY k.code`)
	if err != nil {
		return err
	}
	var areas []risk.AreaCounts
	kabs := map[string]*risk.AreaCounts{}
	var order []string
	for rows.Next() {
		var kec, kab string
		var counts map[string]int
		if err := rows.Scan(&kec, &kab, &counts); err != nil {
			rows.Close()
			return err
		}
		a := risk.AreaCounts{Area: risk.AreaID(risk.LevelKecamatan, kec), Parent: risk.AreaID(risk.LevelKabupaten, kab), Counts: map[string]int{}}
		p, ok := kabs[a.Parent]
		if !ok {
			p = &risk.AreaCounts{Area: a.Parent, Counts: map[string]int{}}
			kabs[a.Parent] = p
			order = append(order, a.Parent)
		}
		for s, n := range counts {
			a.Counts[s] += n
			a.Counts[risk.PipelineTotal] += n
			p.Counts[s] += n
			p.Counts[risk.PipelineTotal] += n
		}
		areas = append(areas, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range order {
		areas = append(areas, *kabs[k])
	}
	pub, err := risk.PublishTable(areas, risk.PipelineMeasures, risk.PipelineTotal, m.Publication.MinChildren, m.Publication)
	if err != nil {
		return err
	}
	var levels, codes, parents, statuses, counts []string
	for _, a := range areas {
		level, code, _ := risk.SplitAreaID(a.Area)
		_, parent, _ := risk.SplitAreaID(a.Parent)
		p := pub[a.Area]
		status := "published"
		if !p.Eligible {
			status = "insufficient_data"
		}
		c := map[string]*int{}
		for _, ms := range append(append([]string{}, risk.PipelineMeasures...), risk.PipelineTotal) {
			c[ms] = p.Values[ms]
		}
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		levels, codes, parents, statuses, counts = append(levels, level), append(codes, code), append(parents, parent), append(statuses, status), append(counts, string(b))
	}
	if _, err := tx.Exec(ctx, `DELETE FROM pipeline_public`); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO pipeline_public (level, code, parent_code, status, counts)
		SELECT l, c, nullif(p, ''), s, n::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(l, c, p, s, n)`,
		levels, codes, parents, statuses, counts)
	return err
}

// The published tables a release covers, with the order that makes their
// hash canonical. Every public and planner surface reads these (and the
// masked points, which carry no survey answer).
var releaseTables = []struct{ name, row, order string }{
	{"area_public", "t", "level, code"},
	{"round_area", "t", "round_id, level, code"},
	{"round_summary", "(round_id, households, children, design_effect, panel_overlap, panel_correlation)", "round_id"}, // not the run's id
	{"hotspot", "t", "village_code"},
	{"pipeline_public", "t", "level, code"},
}

// Release is one row of the ledger.
type Release struct {
	ID           int64             `json:"id"`
	PublishedAt  time.Time         `json:"published_at"`
	ScoreRun     int64             `json:"score_run"`
	LastRun      int64             `json:"last_run"`
	Runs         int               `json:"runs"`
	DataVersion  int64             `json:"data_version"`
	Round        string            `json:"round,omitempty"`
	ModelVersion string            `json:"model_version"`
	BasisKey     string            `json:"basis_key"`
	Rule         json.RawMessage   `json:"rule"`
	Tables       map[string]string `json:"tables"`
	Hash         string            `json:"hash"`
	Refreshed    []Refreshed       `json:"refreshed"`
	ChangedAreas []string          `json:"changed_areas"`
	Held         Held              `json:"held"`
	Synthetic    bool              `json:"synthetic"`
}

// publishedHash returns the md5 of every published table's rows in their
// canonical order, and one hash over them all.
func publishedHash(ctx context.Context, tx pgx.Tx) (map[string]string, string, error) {
	tables := map[string]string{}
	var names []string
	for _, t := range releaseTables {
		var h string
		// Identifiers from the constant list above.
		if err := tx.QueryRow(ctx, `SELECT md5(coalesce(string_agg(`+t.row+`::text, E'\n' ORDER BY `+t.order+`), '')) FROM `+t.name+` t`).Scan(&h); err != nil {
			return nil, "", fmt.Errorf("hash %s: %w", t.name, err)
		}
		tables[t.name] = h
		names = append(names, t.name)
	}
	sort.Strings(names)
	var all strings.Builder
	for _, n := range names {
		all.WriteString(n + "=" + tables[n] + "\n")
	}
	sum := md5.Sum([]byte(all.String()))
	return tables, hex.EncodeToString(sum[:]), nil
}

// movedArea is one area whose published counts differ between two
// releases: in area_public, one round's round_area, or the pipeline.
type movedArea struct{ tbl, round, area string }

// movedAreas lists what moved from release prev to release cur, as an
// attacker who kept both reads it (release_area).
func movedAreas(ctx context.Context, tx pgx.Tx, cur, prev int64) ([]movedArea, error) {
	rows, err := tx.Query(ctx, `
		SELECT n.tbl, n.round_id, n.level || ':' || n.code
		FROM release_area n
		LEFT JOIN release_area o ON o.release_id = $2 AND o.tbl = n.tbl AND o.round_id = n.round_id AND o.level = n.level AND o.code = n.code
		WHERE n.release_id = $1 AND o.counts IS DISTINCT FROM n.counts
		ORDER BY 1, 2, 3`, cur, prev)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (movedArea, error) {
		var m movedArea
		err := r.Scan(&m.tbl, &m.round, &m.area)
		return m, err
	})
}

// recordRelease hashes the published tables and writes the ledger: a new
// release when anything published differs from the latest release, else
// the latest release again. It returns the release's id.
func recordRelease(ctx context.Context, tx pgx.Tx, m *risk.Model, run *ScoreRun, st *releaseState) (int64, bool, error) {
	tables, hash, err := publishedHash(ctx, tx)
	if err != nil {
		return 0, false, err
	}
	var latest int64
	var latestHash string
	err = tx.QueryRow(ctx, `SELECT id, hash FROM release ORDER BY id DESC LIMIT 1`).Scan(&latest, &latestHash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, err
	}
	if latest > 0 && latestHash == hash {
		_, err := tx.Exec(ctx, `UPDATE release SET last_run_id = $2, runs = runs + 1 WHERE id = $1`, latest, run.ID)
		// Bases refreshed with nothing published changed keep the release
		// that publishes them.
		if err == nil {
			err = execAll(ctx, tx, []statement{
				{`UPDATE release_basis SET release_id = $1 WHERE release_id = 0`, []any{latest}},
				{`UPDATE release_case_basis SET release_id = $1 WHERE release_id = 0`, []any{latest}}})
		}
		return latest, false, err
	}
	id := latest + 1
	rule, err := json.Marshal(m.Publication)
	if err != nil {
		return 0, false, err
	}
	refreshed, err := json.Marshal(append([]Refreshed{}, st.refreshed...))
	if err != nil {
		return 0, false, err
	}
	held, err := json.Marshal(st.held)
	if err != nil {
		return 0, false, err
	}
	tb, err := json.Marshal(tables)
	if err != nil {
		return 0, false, err
	}
	var roundArg any
	if run.Round != "" {
		roundArg = run.Round
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO release (id, score_run_id, last_run_id, data_version, round_id, model_version, basis_key, rule, tables, hash, refreshed, held, synthetic)
		VALUES ($1, $2, $2, (SELECT last_value FROM household_data_version), $3, $4, $5, $6, $7, $8, $9, $10,
			EXISTS (SELECT 1 FROM import_run WHERE kind = 'survey' AND synthetic))`,
		id, run.ID, roundArg, m.Version, st.key, rule, tb, hash, refreshed, held); err != nil {
		return 0, false, err
	}
	err = execAll(ctx, tx, []statement{
		{`UPDATE release_basis SET release_id = $1 WHERE release_id = 0`, []any{id}},
		{`UPDATE release_case_basis SET release_id = $1 WHERE release_id = 0`, []any{id}},
		// What anyone who keeps the releases has: every published count.
		{`INSERT INTO release_area (release_id, tbl, round_id, level, code, counts)
			SELECT $1::bigint, 'area_public', '', level, code, jsonb_build_object('status', status, 'households', households,
				'children', children, 'hazardous', hazardous, 'child_labour', child_labour, 'light_work', light_work,
				'not_working', not_working, 'labourer_households', labourer_households, 'poor_households', poor_households)
			FROM area_public
			UNION ALL
			SELECT $1::bigint, 'round_area', round_id, level, code, jsonb_build_object('status', status, 'households', households,
				'children', children, 'hazardous', hazardous, 'child_labour', child_labour)
			FROM round_area
			UNION ALL
			SELECT $1::bigint, 'pipeline_public', '', level, code, counts || jsonb_build_object('status', status) FROM pipeline_public`, []any{id}},
	})
	if err != nil {
		return 0, false, err
	}
	moved, err := movedAreas(ctx, tx, id, latest)
	if err != nil {
		return 0, false, err
	}
	changed := []string{}
	for _, a := range moved {
		if a.tbl == "area_public" {
			changed = append(changed, a.area)
		}
	}
	_, err = tx.Exec(ctx, `UPDATE release SET changed_areas = $2 WHERE id = $1`, id, changed)
	return id, true, err
}

// Releases lists the ledger, the newest first.
func (st *Store) Releases(ctx context.Context, limit int) ([]Release, error) {
	rows, err := st.db.Reader().Query(ctx, `
		SELECT id, published_at, score_run_id, last_run_id, runs, data_version, coalesce(round_id, ''), model_version, basis_key,
			rule, tables, hash, refreshed, changed_areas, held, synthetic
		FROM release ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, core.Wrap(err)
	}
	defer rows.Close()
	var out []Release
	for rows.Next() {
		var r Release
		if err := rows.Scan(&r.ID, &r.PublishedAt, &r.ScoreRun, &r.LastRun, &r.Runs, &r.DataVersion, &r.Round, &r.ModelVersion,
			&r.BasisKey, &r.Rule, &r.Tables, &r.Hash, &r.Refreshed, &r.ChangedAreas, &r.Held, &r.Synthetic); err != nil {
			return nil, core.Wrap(err)
		}
		out = append(out, r)
	}
	return out, core.Wrap(rows.Err())
}

// CurrentRelease returns the id of the release being served (0: none yet).
func (st *Store) CurrentRelease(ctx context.Context) (int64, error) {
	var id int64
	err := st.db.Reader().QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM release`).Scan(&id)
	return id, core.Wrap(err)
}
