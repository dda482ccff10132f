package manage

import (
	"embed"
	"io/fs"
	"net/http"
)

// ui holds the web UI: plain HTML, CSS and JavaScript written by hand, no
// build step and nothing fetched from elsewhere.
//
//go:embed ui
var ui embed.FS

// uiHandler serves the UI's files at /.
func uiHandler() http.Handler {
	sub, _ := fs.Sub(ui, "ui")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// UIAssetBytes is the size of the embedded UI files.
func UIAssetBytes() int64 {
	var n int64
	_ = fs.WalkDir(ui, "ui", func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// openAPI describes the API (OpenAPI 3); TestOpenAPIMatchesRoutes holds
// it to the routes served.
//
//go:embed openapi.yaml
var openAPI []byte

// serveOpenAPI serves the API's OpenAPI description.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ *caller) error {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	_, err := w.Write(openAPI)
	return err
}
