package pushtest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// KoBo answers as KoBoToolbox's v2 API documents the asset files
// (kpi/docs/api/v2/files: list, create with content, delete) and the
// deployment (PATCH with active and version_id).
type KoBo struct {
	mu         sync.Mutex
	Files      map[string]File // uid -> file
	next       int
	Deploys    int
	Fail5xx    int
	writes     int
	LastUpload []byte
}

// File is a media file of the asset.
type File struct {
	Name string
	Body []byte
}

// NewKoBo starts a stand-in for asset aVisit of a KoBoToolbox server that
// takes the token t0k, holding the files given.
func NewKoBo(files map[string]File) (*KoBo, *httptest.Server) {
	if files == nil {
		files = map[string]File{}
	}
	k := &KoBo{Files: files}
	return k, httptest.NewServer(k)
}

// Writes counts the requests that wrote.
func (f *KoBo) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

func (f *KoBo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if v != nil {
			json.NewEncoder(w).Encode(v)
		}
	}
	if r.Header.Get("Authorization") != "Token t0k" {
		answer(401, map[string]string{"detail": "Invalid token."})
		return
	}
	if f.Fail5xx > 0 {
		f.Fail5xx--
		answer(502, nil)
		return
	}
	const base = "/api/v2/assets/aVisit/"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == base+"files/":
		var res []map[string]any
		for uid, fl := range f.Files {
			sum := md5.Sum(fl.Body)
			res = append(res, map[string]any{"uid": uid, "file_type": "form_media", "metadata": map[string]string{
				"filename": fl.Name, "hash": "md5:" + hex.EncodeToString(sum[:]), "mimetype": "text/csv"}})
		}
		answer(200, map[string]any{"count": len(res), "next": nil, "previous": nil, "results": res})
	case r.Method == http.MethodPost && r.URL.Path == base+"files/":
		f.writes++
		if r.FormValue("file_type") != "form_media" || r.FormValue("description") == "" {
			answer(400, map[string]string{"detail": "file_type and description are required"})
			return
		}
		file, hdr, err := r.FormFile("content")
		if err != nil {
			answer(400, map[string]string{"detail": "no content"})
			return
		}
		b, _ := io.ReadAll(file)
		for _, fl := range f.Files {
			if fl.Name == hdr.Filename {
				answer(400, map[string]string{"detail": "form_media files must have unique filename per asset"})
				return
			}
		}
		f.next++
		uid := fmt.Sprintf("af%d", f.next)
		f.Files[uid] = File{Name: hdr.Filename, Body: b}
		f.LastUpload = b
		answer(201, map[string]string{"uid": uid})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, base+"files/"):
		f.writes++
		uid := strings.Trim(strings.TrimPrefix(r.URL.Path, base+"files/"), "/")
		if _, ok := f.Files[uid]; !ok {
			answer(404, map[string]string{"detail": "Not found."})
			return
		}
		delete(f.Files, uid)
		answer(204, nil)
	case r.Method == http.MethodGet && r.URL.Path == base:
		answer(200, map[string]any{"uid": "aVisit", "version_id": "v9", "has_deployment": true})
	case r.Method == http.MethodPatch && r.URL.Path == base+"deployment/":
		f.writes++
		var d struct {
			Active    bool   `json:"active"`
			VersionID string `json:"version_id"`
		}
		json.NewDecoder(r.Body).Decode(&d)
		if !d.Active || d.VersionID != "v9" {
			answer(400, map[string]string{"detail": "version_id must be the asset's"})
			return
		}
		f.Deploys++
		answer(200, map[string]any{"active": true, "version_id": "v9"})
	default:
		answer(404, map[string]string{"detail": "Not found."})
	}
}
