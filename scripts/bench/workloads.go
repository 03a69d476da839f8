package main

import (
	"encoding/json"
	"errors"
	"fmt"
)

// workload is one scripted scenario; run measures its phases with m.
type workload struct {
	name string
	run  func(c *client, repo string, seed uint64, m *meter) error
}

// errUnsupported marks a phase the target does not serve: noted, not fatal.
var errUnsupported = errors.New("not supported by this registry")

func workloads() []workload {
	return []workload{
		{"small-images", smallImages},
		{"big-image", bigImage},
		{"chunked-blob", chunkedBlob},
		{"referrers", referrers},
		{"tags", tags},
		{"sites", sites},
	}
}

func phaseSmallPush() string { return fmt.Sprintf("push of a small image (%d images)", *flagImages) }
func phaseSmallPull() string { return fmt.Sprintf("pull of a small image (%d images)", *flagImages) }

// smallImages pushes N images of a config and one 2 KiB layer, each under a
// tag of its own, then pulls each by tag.
func smallImages(c *client, repo string, seed uint64, m *meter) error {
	n := *flagImages
	ims := make([]image, n)
	for i := range ims {
		ims[i] = makeImage(seed*1_000_003+uint64(i), 2048)
	}
	if err := m.phase(phaseSmallPush(), n, 1, func(i int) error {
		return c.pushImage(repo, fmt.Sprintf("v%d", i), ims[i])
	}); err != nil {
		return err
	}
	return m.phase(phaseSmallPull(), n, 1, func(i int) error {
		return c.pullImage(repo, fmt.Sprintf("v%d", i))
	})
}

// bigImage pushes and pulls one image of -big-layers layers totalling
// -big-mib MiB, each layer pushed monolithically.
func bigImage(c *client, repo string, seed uint64, m *meter) error {
	layers := make([]int, *flagBigLayers)
	for i := range layers {
		layers[i] = (*flagBigMiB << 20) / len(layers)
	}
	im := makeImage(seed, layers...)
	label := fmt.Sprintf("%d MiB image, %d layers", *flagBigMiB, *flagBigLayers)
	if err := m.phase("push of a "+label, 1, 1, func(int) error { return c.pushImage(repo, "big", im) }); err != nil {
		return err
	}
	return m.phase("pull of a "+label, 1, 1, func(int) error { return c.pullImage(repo, "big") })
}

// chunkedBlob pushes one blob of -chunked-mib MiB in PATCHes of -chunk-mib.
func chunkedBlob(c *client, repo string, seed uint64, m *meter) error {
	b := randomBytes(seed, *flagChunkMiB<<20)
	return m.phase(fmt.Sprintf("chunked push of a %d MiB blob in %d MiB PATCHes", *flagChunkMiB, *flagChunk), 1, 1,
		func(int) error { return c.pushChunked(repo, b, *flagChunk<<20) })
}

// referrers pushes -referrers artifacts whose subject is one image, by
// digest, then lists them.
func referrers(c *client, repo string, seed uint64, m *meter) error {
	subject := makeImage(seed, 1024)
	empty := []byte("{}")
	if err := m.untimed(func() error {
		if err := c.pushImage(repo, "subject", subject); err != nil {
			return err
		}
		return c.pushBlob(repo, empty)
	}); err != nil {
		return err
	}
	sd := desc(mtManifest, subject.manifest)
	n := *flagReferrers
	const at = "application/vnd.example.sbom.v1"
	if err := m.phase(fmt.Sprintf("push of a referrer (%d on one subject)", n), n, *flagJobs, func(i int) error {
		a := manifest{SchemaVersion: 2, MediaType: mtManifest, ArtifactType: at,
			Config: desc(mtEmpty, empty), Layers: []descriptor{desc(mtEmpty, empty)}, Subject: &sd,
			Annotations: map[string]string{"bench.index": fmt.Sprint(i), "bench.seed": fmt.Sprint(seed)}}
		b, _ := json.Marshal(a)
		return c.putManifest(repo, digestOf(b), b)
	}); err != nil {
		return err
	}
	err := m.phase(fmt.Sprintf("referrers list (%d referrers)", n), 1, 1, func(int) error {
		got := 0
		_, err := c.pages("/v2/"+repo+"/referrers/"+sd.Digest, func(b []byte) error {
			var idx struct{ Manifests []descriptor }
			if err := json.Unmarshal(b, &idx); err != nil {
				return err
			}
			got += len(idx.Manifests)
			return nil
		})
		if err == nil && got != n {
			err = fmt.Errorf("listed %d referrers, want %d", got, n)
		}
		return err
	})
	if errors.Is(err, errUnsupported) {
		m.res.note(fmt.Sprintf("%s: GET /v2/<name>/referrers/<digest> answers 404: no referrers API (clients fall back to the tag schema)", m.target))
		return nil
	}
	return err
}

// tags pushes one image and gives it -tags tags (one manifest PUT each) in
// the first run, and lists them, following Link pages, in every run. The
// pushes run once: at 10,000 tags, three runs of them on every target
// would take longer than everything else together, and one run already
// measures 10,000 operations.
func tags(c *client, repo string, seed uint64, m *meter) error {
	repo = "bench/tags"
	n := *flagTags
	if m.run == 1 {
		im := makeImage(seed, 1024)
		if err := m.untimed(func() error { return c.pushImage(repo, "base", im) }); err != nil {
			return err
		}
		if err := m.phase(fmt.Sprintf("tag push (manifest PUT by tag, %d tags, first run only)", n), n, *flagJobs, func(i int) error {
			return c.putManifest(repo, fmt.Sprintf("t%05d", i), im.manifest)
		}); err != nil {
			return err
		}
	}
	return m.phase(fmt.Sprintf("tag list (%d tags, all pages)", n+1), 1, 1, func(int) error {
		got := 0
		_, err := c.pages("/v2/"+repo+"/tags/list", func(b []byte) error {
			var tl struct{ Tags []string }
			if err := json.Unmarshal(b, &tl); err != nil {
				return err
			}
			got += len(tl.Tags)
			return nil
		})
		if err == nil && got != n+1 {
			err = fmt.Errorf("listed %d tags, want %d", got, n+1)
		}
		return err
	})
}
