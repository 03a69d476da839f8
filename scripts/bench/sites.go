package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// siteFile is one file of the bench's site: its path in the site, media
// type and bytes.
type siteFile struct {
	path, mediaType string
	body            []byte
}

// makeSite returns a small site as oras pushes one file per layer (each
// layer titled with its path, docs/sites.md): a page, its stylesheet and
// its image, bytes of its own per seed.
func makeSite(seed uint64) ([]siteFile, image) {
	files := []siteFile{
		{"index.html", "text/html", fmt.Appendf(nil,
			`<!doctype html><html><head><link rel="stylesheet" href="style.css"></head><body><img src="img/logo.png"><p>%x</p></body></html>`,
			randomBytes(seed, 1024))},
		{"style.css", "text/css", fmt.Appendf(nil, "body{margin:0}/*%x*/\n", randomBytes(seed+1, 512))},
		{"img/logo.png", "image/png", randomBytes(seed+2, 4096)},
	}
	im := image{config: []byte("{}")}
	m := manifest{SchemaVersion: 2, MediaType: mtManifest, ArtifactType: "application/vnd.example.site.v1",
		Config: desc(mtEmpty, im.config)}
	for _, f := range files {
		d := desc(f.mediaType, f.body)
		d.Annotations = map[string]string{"org.opencontainers.image.title": f.path}
		m.Layers = append(m.Layers, d)
		im.layers = append(im.layers, f.body)
	}
	im.manifest, _ = json.Marshal(m)
	return files, im
}

func phaseSiteView() string {
	return fmt.Sprintf("site page view: page + stylesheet + image (%d views, warm)", *flagImages)
}

// sites pushes a small site, views it once untimed (a process's first view
// reads what it then caches), then views it -images times as a browser
// does: the page, then its stylesheet and image together, each checked.
func sites(c *client, repo string, seed uint64, m *meter) error {
	files, im := makeSite(seed)
	tag := fmt.Sprintf("site%d", seed)
	view := func() error {
		get := func(f siteFile) error {
			resp, b, err := c.do(http.MethodGet, "/sites/"+repo+"/@"+tag+"/"+f.path, nil, nil)
			if err != nil {
				return err
			}
			if resp.StatusCode == http.StatusNotFound {
				return errUnsupported
			}
			if err := expect(resp, b, "site GET "+f.path, http.StatusOK); err != nil {
				return err
			}
			if !bytes.Equal(b, f.body) {
				return fmt.Errorf("site GET %s: got %d bytes that differ from the %d pushed", f.path, len(b), len(f.body))
			}
			return nil
		}
		if err := get(files[0]); err != nil {
			return err
		}
		return parallel(len(files)-1, *flagJobs, func(i int) error { return get(files[i+1]) })
	}
	err := m.untimed(func() error {
		if err := c.pushImage(repo, tag, im); err != nil {
			return err
		}
		return view()
	})
	if err == nil {
		err = m.phase(phaseSiteView(), *flagImages, 1, func(int) error { return view() })
	}
	if errors.Is(err, errUnsupported) {
		m.res.note(m.target + ": GET /sites/… answers 404: no sites")
		return nil
	}
	return err
}
