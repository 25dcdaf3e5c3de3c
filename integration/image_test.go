package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/noded/image/imagetest"
)

// TestImageJob runs a job in an OCI image (a layout the test builds from
// busybox-static) through the CLI, the server and a node daemon: the job
// sees the image's root filesystem, not the host's, as its user.
func TestImageJob(t *testing.T) {
	requireJobHost(t)
	img, err := imagetest.Busybox("integration-image")
	if err != nil {
		t.Skipf("cannot build the busybox test image (busybox-static): %v", err)
	}
	c := newCluster(t)
	ref, err := imagetest.WriteLayout(filepath.Join(c.dir, "layout"), "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	c.startNode("i1", "0-1", "1G")
	id := c.submit(nobody, "--image", ref, "-o", "image.%J", "--", "sh", "-c", `cat /etc/gantry-image; id -u; test -e /usr/bin/python3 && echo host || echo image-only`)
	c.waitState(id, 2*time.Minute, api.StateSucceeded)
	if got := c.output(fmt.Sprintf("image.%d", id)); got != "integration-image\n65534\nimage-only\n" {
		t.Errorf("the job in the image saw %q", got)
	}
	if r := c.gantry("sub", "--image", "bad ref", "--", "true"); r.code == 0 || !strings.Contains(r.stderr, `image "bad ref"`) {
		t.Errorf("a bad image reference: %+v", r)
	}
}
