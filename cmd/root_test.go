package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dsys-dev/dsys/config"
)

func TestExitCodeMapping(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	cases := []struct {
		name        string
		err         error
		interrupted bool
		want        int
	}{
		{"nil", nil, false, ExitOK},
		{"plain failure", errors.New("boom"), false, ExitFailure},
		{"usage", usageErrorf("bad flag"), false, ExitUsage},
		{"config error", fmt.Errorf("wrapped: %w", &config.Error{Key: "k", Msg: "m"}), false, ExitUsage},
		{"explicit unavailable", withExitCode(ExitUnavailable, errors.New("no broker")), false, ExitUnavailable},
		{"deadline", fmt.Errorf("recv: %w", context.DeadlineExceeded), false, ExitUnavailable},
		{"io deadline", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), false, ExitUnavailable},
		{"dial refused", fmt.Errorf("connect: %w", dialErr), false, ExitUnavailable},
		{"cancelled by signal", fmt.Errorf("serve: %w", context.Canceled), true, ExitInterrupted},
		{"any error after signal", errors.New("broken pipe"), true, ExitInterrupted},
		{"classified error after signal keeps its code", usageErrorf("bad"), true, ExitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := exitCode(c.err, c.interrupted); got != c.want {
				t.Errorf("exitCode(%v, %v) = %d, want %d", c.err, c.interrupted, got, c.want)
			}
		})
	}
}

func TestUsageErrorsExit2WithOneLine(t *testing.T) {
	isolateConfig(t)
	cases := [][]string{
		{"bogus"},
		{"--no-such-flag"},
		{"config", "show", "extra-arg"},
		{"zmq", "no-such-subcommand"},
		{"-o", "yaml", "version"},
		{"completion", "powershell"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, code := runDsys(t, "", args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, ExitUsage, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(errOut, "dsys: ") || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting with 'dsys: '", errOut)
			}
		})
	}
}

func TestJSONErrorOutput(t *testing.T) {
	isolateConfig(t)
	out, errOut, code := runDsys(t, "", "-o", "json", "config", "show", "extra")
	if code != ExitUsage || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	var got struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(errOut), &got); err != nil {
		t.Fatalf("stderr %q is not one JSON object: %v", errOut, err)
	}
	if !strings.Contains(got.Error, "unknown command") && !strings.Contains(got.Error, "accepts 0 arg") {
		t.Errorf("error %q does not say what was wrong", got.Error)
	}
	if got.ExitCode != ExitUsage {
		t.Errorf("exit_code %d, want %d", got.ExitCode, ExitUsage)
	}
}

func TestInterruptedRunExits130(t *testing.T) {
	isolateConfig(t)
	var out, errOut strings.Builder
	app := &App{IO: IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, output: "text"}
	root := newRootCmd(app)
	root.AddCommand(&cobra.Command{Use: "wait", RunE: func(c *cobra.Command, _ []string) error {
		<-c.Context().Done() // a long-running command stopped by the signal
		return fmt.Errorf("wait: %w", c.Context().Err())
	}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as SIGINT does
	if code := execute(ctx, app, root, []string{"wait"}); code != ExitInterrupted {
		t.Fatalf("exit %d, want %d", code, ExitInterrupted)
	}
	if !strings.HasPrefix(errOut.String(), "dsys: interrupted") || out.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", out.String(), errOut.String())
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runDsys(t, "", "version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var b buildInfo
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("version -o json: %v: %q", err, out)
	}
	if b.Version == "" || b.Commit == "" || !strings.HasPrefix(b.Go, "go") {
		t.Errorf("incomplete build info %+v", b)
	}
	out, _, _ = runDsys(t, "", "version")
	if !strings.HasPrefix(out, "dsys ") || !strings.Contains(out, b.Go) {
		t.Errorf("version prints %q", out)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, errOut, code := runDsys(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, "dsys") || len(out) < 500 {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), errOut)
		}
	}
}

// TestBoundFlagsNameKeys walks the whole command tree: every flag bound to a
// config key names a key that exists, so a typo cannot silently unbind it.
func TestBoundFlagsNameKeys(t *testing.T) {
	known := map[string]bool{}
	for _, k := range config.Keys() {
		known[k.Name] = true
	}
	root := newRootCmd(&App{})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if k := f.Annotations[annotConfigKey]; len(k) > 0 && !known[k[0]] {
				t.Errorf("%s --%s is bound to unknown key %q", c.CommandPath(), f.Name, k[0])
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// TestHelpNeedsNoConfig: help, groups, version and completion work over a
// config file that does not parse.
func TestHelpNeedsNoConfig(t *testing.T) {
	isolateConfig(t)
	if err := os.WriteFile("dsys.yaml", []byte("{{{"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"help"}, {"help", "queue"}, {"queue"}, {"--help"}, {"version"}, {"--version"}, {"completion", "bash"}} {
		if _, errOut, code := runDsys(t, "", args...); code != 0 {
			t.Errorf("dsys %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
		}
	}
	if _, errOut, code := runDsys(t, "", "config", "show"); code != ExitUsage || !strings.Contains(errOut, "dsys.yaml") {
		t.Errorf("config show over a broken file: exit %d, stderr %q", code, errOut)
	}
}

func TestGroupWithoutSubcommandPrintsHelp(t *testing.T) {
	isolateConfig(t)
	out, _, code := runDsys(t, "", "config")
	if code != 0 || !strings.Contains(out, "show") || !strings.Contains(out, "init") {
		t.Errorf("exit %d, stdout %q", code, out)
	}
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	out, _, code := runDsys(t, "", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"0    success", "1    runtime failure", "2    usage", "3    timeout", "130  interrupted", "141  stdout was closed"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestGroupShortListsEverySubcommand: the one-line summaries that `dsys --help`
// shows for zmq, queue and compute name each of their subcommands, so a
// command added to a group cannot go missing from the overview.
func TestGroupShortListsEverySubcommand(t *testing.T) {
	root := newRootCmd(&App{})
	for _, group := range []string{"zmq", "queue", "compute"} {
		g, _, err := root.Find([]string{group})
		if err != nil || g.Name() != group {
			t.Fatalf("group %s not found: %v", group, err)
		}
		_, list, ok := strings.Cut(g.Short, ": ")
		if !ok {
			t.Fatalf("%s: short %q has no list of subcommands", group, g.Short)
		}
		listed := map[string]bool{}
		for _, name := range strings.Split(list, ", ") {
			listed[name] = true
		}
		for _, sub := range g.Commands() {
			if !sub.IsAvailableCommand() {
				continue
			}
			if !listed[sub.Name()] {
				t.Errorf("dsys %s: short %q does not list %q", group, g.Short, sub.Name())
			}
		}
	}
}

func TestHelpShowsJSONErrorObject(t *testing.T) {
	out, _, code := runDsys(t, "", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if want := `{"error": "...", "exit_code": N}`; !strings.Contains(out, want) {
		t.Errorf("help lacks %s", want)
	}
}

// TestTypoSuggestions: an unknown command or flag, at any depth, names the
// nearest one in one clean line; a bad flag value says what was expected,
// not strconv's or time's words.
func TestTypoSuggestions(t *testing.T) {
	isolateConfig(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"queue", "sumbit"}, `dsys: unknown command "sumbit" for "dsys queue" (did you mean submit?)`},
		{[]string{"qeue"}, `dsys: unknown command "qeue" for "dsys" (did you mean queue?)`},
		{[]string{"compute", "maen"}, `dsys: unknown command "maen" for "dsys compute" (did you mean mean?)`},
		{[]string{"config", "shwo"}, `dsys: unknown command "shwo" for "dsys config" (did you mean show?)`},
		{[]string{"zmq", "pull", "--tiemout", "1s"}, `dsys: unknown flag --tiemout (did you mean --timeout?)`},
		{[]string{"queue", "submit", "--wiat", "add"}, `dsys: unknown flag --wiat (did you mean --wait?)`},
		{[]string{"--outptu", "json", "version"}, `dsys: unknown flag --outptu (did you mean --output?)`},
		{[]string{"queue", "frobnicate"}, `dsys: unknown command "frobnicate" for "dsys queue" (see 'dsys queue --help')`},
		{[]string{"zmq", "pull", "--frobnicate"}, `dsys: unknown flag --frobnicate (see 'dsys zmq pull --help')`},
		{[]string{"zmq", "pull", "--count", "many"}, `dsys: --count: expected an integer, got "many"`},
		{[]string{"zmq", "pull", "--timeout", "5"}, `dsys: --timeout: expected a duration such as 5s, 1m30s or 250ms, got "5"`},
		{[]string{"queue", "submit", "--wait=maybe", "add"}, `dsys: --wait: expected true or false, got "maybe"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			out, errOut, code := runDsys(t, "", c.args...)
			if code != ExitUsage || out != "" {
				t.Errorf("exit %d, stdout %q", code, out)
			}
			if errOut != c.want+"\n" {
				t.Errorf("stderr\n%q, want\n%q", errOut, c.want+"\n")
			}
		})
	}
}

func TestDashDashVersion(t *testing.T) {
	isolateConfig(t)
	want, _, _ := runDsys(t, "", "version")
	out, errOut, code := runDsys(t, "", "--version")
	if code != 0 || out != want || errOut != "" {
		t.Errorf("--version: exit %d, stdout %q (want %q), stderr %q", code, out, want, errOut)
	}
	out, _, _ = runDsys(t, "", "--version", "-o", "json")
	var b buildInfo
	if err := json.Unmarshal([]byte(out), &b); err != nil || b.Version == "" {
		t.Errorf("--version -o json: %q (%v)", out, err)
	}
}

// TestUsageErrorsAsJSON: under -o json (or DSYS_OUTPUT=json, or output:
// json in the config file) cobra's own usage errors — unknown flag or
// command, bad argument count — are one {"error","exit_code"} object too.
func TestUsageErrorsAsJSON(t *testing.T) {
	cases := []struct {
		name string
		env  string
		file string
		args []string
	}{
		{"unknown flag after -o", "", "", []string{"-o", "json", "--bogus"}},
		{"unknown flag before -o", "", "", []string{"--bogus", "-o", "json"}},
		{"unknown command", "", "", []string{"-o", "json", "bogus"}},
		{"unknown nested command", "", "", []string{"zmq", "bogus", "-o", "json"}},
		{"unknown flag of a subcommand", "", "", []string{"zmq", "pull", "-ojson", "--tiemout", "1s"}},
		{"argument count", "", "", []string{"--output=json", "config", "show", "extra"}},
		{"bad flag value", "", "", []string{"-o", "json", "zmq", "pull", "--count", "many"}},
		{"DSYS_OUTPUT", "json", "", []string{"bogus"}},
		{"config file", "", "output: json\n", []string{"config", "show", "extra"}},
		{"broken config", "json", "compute: {wokers: 1}\n", []string{"config", "show"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isolateConfig(t)
			if c.env != "" {
				t.Setenv("DSYS_OUTPUT", c.env)
			}
			if c.file != "" {
				if err := os.WriteFile("dsys.yaml", []byte(c.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, errOut, code := runDsys(t, "", c.args...)
			if code != ExitUsage || out != "" {
				t.Fatalf("exit %d, stdout %q; stderr %q", code, out, errOut)
			}
			var got struct {
				Error    *string `json:"error"`
				ExitCode int     `json:"exit_code"`
			}
			dec := json.NewDecoder(strings.NewReader(errOut))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil || got.Error == nil || dec.More() {
				t.Fatalf("stderr %q is not one {error, exit_code} object: %v", errOut, err)
			}
			if got.ExitCode != ExitUsage || *got.Error == "" {
				t.Errorf("got %q, exit_code %d", *got.Error, got.ExitCode)
			}
		})
	}
}

// TestOutputAndQuietAreConfigKeys: -o and -q are the keys output and quiet,
// settable in the environment and the file like any other.
func TestOutputAndQuietAreConfigKeys(t *testing.T) {
	isolateConfig(t)
	t.Setenv("DSYS_OUTPUT", "json")
	out, errOut, code := runDsys(t, "", "config", "show")
	var shown map[string]struct {
		Value  any    `json:"value"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(out), &shown); code != 0 || err != nil {
		t.Fatalf("DSYS_OUTPUT=json config show: exit %d, %v: %q %q", code, err, out, errOut)
	}
	if s := shown["output"]; s.Value != "json" || s.Source != "DSYS_OUTPUT" {
		t.Errorf("output shown as %+v", s)
	}
	if s := shown["quiet"]; s.Value != false || s.Source != "default" {
		t.Errorf("quiet shown as %+v", s)
	}
	if out, _, _ := runDsys(t, "", "-o", "text", "version"); !strings.HasPrefix(out, "dsys ") {
		t.Errorf("-o text beats DSYS_OUTPUT: got %q", out)
	}
	t.Setenv("DSYS_OUTPUT", "")

	// quiet: true in the file silences the status log of config init.
	if _, errOut, _ := runDsys(t, "", "config", "init", "a.yaml"); !strings.Contains(errOut, "wrote config file") {
		t.Fatalf("config init logs %q", errOut)
	}
	if err := os.WriteFile("dsys.yaml", []byte("quiet: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runDsys(t, "", "config", "init", "b.yaml"); code != 0 || errOut != "" {
		t.Errorf("quiet: true: exit %d, stderr %q", code, errOut)
	}
	t.Setenv("DSYS_OUTPUT", "yaml")
	if _, errOut, code := runDsys(t, "", "version"); code != ExitUsage || !strings.Contains(errOut, `DSYS_OUTPUT: key "output": expected text or json`) {
		t.Errorf("DSYS_OUTPUT=yaml: exit %d, stderr %q", code, errOut)
	}
}

// TestCompletionOfOutputValues: -o completes its two values (cobra's
// __complete protocol: one value per line, then the directive).
func TestCompletionOfOutputValues(t *testing.T) {
	isolateConfig(t)
	out, _, code := runDsys(t, "", "__complete", "zmq", "pull", "-o", "")
	if code != 0 || !strings.HasPrefix(out, "text\njson\n:") {
		t.Errorf("exit %d, completions %q", code, out)
	}
	// A broken config file does not break completion.
	if err := os.WriteFile("dsys.yaml", []byte("{{{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := runDsys(t, "", "__complete", "--log-level", ""); !strings.HasPrefix(out, "debug\ninfo\nwarn\nerror\n:") {
		t.Errorf("with a broken config: %q", out)
	}
}

// TestREADMEExitCodes: the README's exit-code table lists the codes dsys
// --help documents, no more and no fewer.
func TestREADMEExitCodes(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "**Exit codes**:")
	if !ok {
		t.Fatal("README has no **Exit codes**: table")
	}
	var readme []string
	for _, l := range strings.Split(table, "\n")[1:] {
		l = strings.TrimSpace(l)
		if l == "" && len(readme) > 0 {
			break
		}
		if f := strings.Split(l, "|"); len(f) > 2 && strings.TrimSpace(f[1]) != "code" && !strings.HasPrefix(strings.TrimSpace(f[1]), "---") {
			readme = append(readme, strings.TrimSpace(f[1]))
		}
	}
	var help []string
	for _, l := range strings.Split(exitCodesHelp, "\n")[1:] {
		help = append(help, strings.Fields(l)[0])
	}
	if strings.Join(readme, " ") != strings.Join(help, " ") {
		t.Errorf("README lists exit codes %q, dsys --help %q", readme, help)
	}
	for _, want := range []string{"SIGTERM", "141 | stdout was closed"} {
		if !strings.Contains(table, want) {
			t.Errorf("README's exit codes do not mention %q", want)
		}
	}
}
