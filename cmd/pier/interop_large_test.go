package main

// The large-layer scenarios of the interop suite: crane, oras and skopeo
// each push an image with a 60 MB layer (random bytes, made once) to the
// local Lambda path with an upload endpoint (startUploadPath: auth on,
// PIER_UPLOAD_URL set to a second pier serve --backend aws on the same
// storage), behind each front door (HTTP API, REST API, function URL),
// and pull it back byte-exact. The layer's bytes go to the endpoint, and
// no request over Lambda's payload limit reaches the function (the local
// front doors refuse those with 413). Docker's run of the same is
// lambda-upload-endpoint/docker-large-layer (interop_docker_test.go).
//
//	make interop   # runs them with the rest of the suite

import (
	"strings"
	"testing"
	"time"
)

func TestInteropLargeLayers(t *testing.T) {
	skipUnlessInterop(t)
	tools := interopClients(t)
	im := newSizedAuthImage(t, largeLayer)
	for _, kind := range []string{"http", "rest", "url"} {
		name := map[string]string{"http": "lambda", "rest": "lambda-rest", "url": "lambda-url"}[kind] + "-upload-endpoint"
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u := startUploadPath(t, kind)
			for _, client := range []string{"crane", "oras", "skopeo"} {
				t.Run(client+"-large-layer", func(t *testing.T) {
					start := time.Now()
					interopLargeLayer(t, tools, u, authClientNamed(client), im)
					t.Logf("%s/%s-large-layer: %s", name, client, time.Since(start).Round(time.Millisecond))
				})
			}
		})
	}
}

// interopLargeLayer logs in to u's Lambda path with cl, pushes im (its
// 60 MB layer) to large/<client>, checks where the bytes went, and pulls
// the image back from the Lambda path, byte for byte.
//
// oras (oras-go) refuses an upload Location on a host other than the
// registry's, so with an upload endpoint it cannot push through the
// Lambda path at all (small blobs neither): the scenario shows the
// refusal, then pushes to the upload endpoint's own host (a whole
// registry on the same storage, same users), and pulls back from the
// Lambda path.
func interopLargeLayer(t *testing.T, tools clients, u *uploadPath, cl authClient, im authImage) {
	c := newClientEnv(t, tools)
	c.fronts = []*front{u.lambda, u.upload}
	im.write(t, c)
	login := func(host string) {
		r := c.exec(t, strings.NewReader(uploadPassword+"\n"), cl.name, cl.login(host, uploadUser)...)
		if r.err != nil {
			r.fatalf(t, "login to %s as %s failed", host, uploadUser)
		}
	}
	login(u.lambda.host)
	ref := u.lambda.host + "/large/" + cl.name + ":v1"
	lm, um := u.marks()
	var push *result
	if cl.name == "oras" {
		r := c.fails(t, cl.name, cl.push(ref)...)
		outputSays(t, r, "is on a different host than the registry")
		login(u.upload.host)
		lm, um = u.marks()
		push = c.run(t, cl.name, cl.push(u.upload.host+"/large/"+cl.name+":v1")...)
		cl.check(t, c, c.run(t, cl.name, cl.pull(ref)...), im)
	} else {
		push = cl.pushPull(t, c, ref, im)
	}
	u.checkLargePush(t, lm, um, largeLayer)
	if t.Failed() {
		push.errorf(t, "the push whose exchanges are above")
	}
}
