package push

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/kesempatan/riskmap/internal/risk"
)

// KoBo identifies a KoBoToolbox form (asset) whose media file carries the
// work list.
type KoBo struct {
	Server string // e.g. https://kf.kobotoolbox.org
	Asset  string // the visit form's asset uid
	Token  string
	File   string // the media file's name, default cases.csv
}

// KoBoStats is what a KoBo push did.
type KoBoStats struct {
	Rows       int
	Unchanged  bool // the server already had this exact file
	Replaced   bool // an older list was deleted first
	Redeployed bool
	Bytes      int
}

// PushKoBo uploads the list as the form's media file when it differs from
// the one there (compared by MD5), replacing the old file, and redeploys the
// form so that phones download it.
func (c *Client) PushKoBo(ctx context.Context, k KoBo, list []byte, rows int) (KoBoStats, error) {
	st := KoBoStats{Rows: rows, Bytes: len(list)}
	if k.File == "" {
		k.File = "cases.csv"
	}
	base := strings.TrimRight(k.Server, "/") + "/api/v2/assets/" + url.PathEscape(k.Asset)
	auth := http.Header{"Authorization": {"Token " + k.Token}, "Accept": {"application/json"}}
	do := func(method, u string, h http.Header, body []byte) (int, []byte, error) {
		hh := auth.Clone()
		for key, v := range h {
			hh[key] = v
		}
		status, b, err := c.request(ctx, method, u, hh, body)
		if err == nil && (status == http.StatusUnauthorized || status == http.StatusForbidden) {
			return status, b, risk.Errorf(risk.EINVALID, "KoBoToolbox refused the token (HTTP %d at %s): check the token file and that the account may edit the form", status, redact(u))
		}
		if err == nil && status == http.StatusNotFound {
			return status, b, risk.Errorf(risk.ENOTFOUND, "KoBoToolbox has no such form (HTTP 404 at %s): check --asset", redact(u))
		}
		return status, b, err
	}
	sum := md5.Sum(list)
	hash := hex.EncodeToString(sum[:])
	var old []string
	next := base + "/files/?file_type=form_media"
	for pages := 0; next != "" && pages < 1000; pages++ {
		status, body, err := do(http.MethodGet, next, nil, nil)
		if err != nil {
			return st, err
		}
		var page struct {
			Next    *string `json:"next"`
			Results []struct {
				UID      string `json:"uid"`
				MD5      string `json:"md5_hash"`
				Metadata struct {
					Filename string `json:"filename"`
					Hash     string `json:"hash"`
				} `json:"metadata"`
			} `json:"results"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &page) != nil {
			return st, fmt.Errorf("KoBoToolbox: listing the form's media: HTTP %d: %s", status, snippet(body))
		}
		for _, f := range page.Results {
			if f.Metadata.Filename != k.File {
				continue
			}
			if strings.TrimPrefix(f.Metadata.Hash, "md5:") == hash || f.MD5 == hash {
				st.Unchanged = true
				continue
			}
			old = append(old, f.UID)
		}
		next = ""
		if page.Next != nil {
			next = *page.Next
		}
	}
	if st.Unchanged && len(old) == 0 {
		return st, nil
	}
	for _, uid := range old {
		status, body, err := do(http.MethodDelete, base+"/files/"+url.PathEscape(uid)+"/", nil, nil)
		if err != nil {
			return st, err
		}
		if status != http.StatusNoContent && status != http.StatusOK && status != http.StatusNotFound {
			return st, fmt.Errorf("KoBoToolbox: deleting the old %s: HTTP %d: %s", k.File, status, snippet(body))
		}
		st.Replaced = true
	}
	if !st.Unchanged {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("description", "riskmap work list (cases due)")
		mw.WriteField("file_type", "form_media")
		mw.WriteField("metadata", fmt.Sprintf(`{"filename": %q}`, k.File))
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="content"; filename=%q`, k.File))
		h.Set("Content-Type", "text/csv")
		w, _ := mw.CreatePart(h)
		w.Write(list)
		mw.Close()
		status, body, err := do(http.MethodPost, base+"/files/", http.Header{"Content-Type": {mw.FormDataContentType()}}, buf.Bytes())
		if err != nil {
			return st, err
		}
		if status != http.StatusCreated && status != http.StatusOK {
			return st, fmt.Errorf("KoBoToolbox: uploading %s: HTTP %d: %s", k.File, status, snippet(body))
		}
	}
	// Media reach the phones with a deployment: redeploy the current version.
	status, body, err := do(http.MethodGet, base+"/", nil, nil)
	if err != nil {
		return st, err
	}
	var asset struct {
		VersionID string `json:"version_id"`
		Deployed  bool   `json:"has_deployment"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &asset) != nil {
		return st, fmt.Errorf("KoBoToolbox: reading the form: HTTP %d: %s", status, snippet(body))
	}
	if !asset.Deployed {
		return st, nil
	}
	status, body, err = do(http.MethodPatch, base+"/deployment/", http.Header{"Content-Type": {"application/json"}},
		jsonBody(map[string]any{"active": true, "version_id": asset.VersionID}))
	if err != nil {
		return st, err
	}
	if status != http.StatusOK {
		return st, fmt.Errorf("KoBoToolbox: redeploying the form so phones fetch the list: HTTP %d: %s", status, snippet(body))
	}
	st.Redeployed = true
	return st, nil
}
