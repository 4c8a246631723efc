package cluster_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/dsys-dev/dsys"

// The array engine and the task queue stay apart: no package of queue
// imports compute, and no package of compute but this bridge imports the
// queue, directly or not. Only compute/cluster (and the CLI) hold both.
func TestQueueAndComputeStayApart(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list imports: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}} {{join .Deps \" \"}}",
		module+"/queue/...", module+"/compute/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	under := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := f[0]
		var forbidden string
		switch {
		case under(pkg, module+"/queue"):
			forbidden = module + "/compute"
		case under(pkg, module+"/compute") && !under(pkg, module+"/compute/cluster"):
			forbidden = module + "/queue"
		default:
			continue
		}
		checked++
		for _, dep := range f[1:] {
			if under(dep, forbidden) {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d packages of queue and compute; go list said:\n%s", checked, out)
	}
}
