package cmd

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// runDsys runs a dsys command line in-process against buffers and returns
// stdout, stderr and the exit code.
func runDsys(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runDsysContext(t, context.Background(), stdin, args...)
}

// runDsysContext is runDsys with a context: a cancelled one stands for SIGINT.
func runDsysContext(t testing.TB, ctx context.Context, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(ctx, args, IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), code
}

// isolateConfig gives a test an empty working directory and config home, and
// no DSYS_* variables, so only what the test sets is seen.
func isolateConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", dir+"/xdg")
	t.Setenv("HOME", dir+"/home")
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "DSYS_") && !strings.HasPrefix(name, "DSYS_TEST_") {
			t.Setenv(name, "") // restored after the test
		}
	}
	return dir
}
