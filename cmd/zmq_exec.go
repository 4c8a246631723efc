package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/dsys-dev/dsys/msg"
)

// execArgv builds the argv of --exec: the flag's value (split into words,
// honouring single and double quotes — never through a shell) followed by
// the command's positional arguments.
func execArgv(flag string, args []string) ([]string, error) {
	words, err := splitWords(flag)
	if err != nil {
		return nil, usageErrorf("--exec: %v", err)
	}
	argv := append(words, args...)
	if len(argv) == 0 {
		return nil, usageErrorf("--exec: empty command")
	}
	return argv, nil
}

// splitWords splits s on blanks, keeping quoted runs together.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// runExec runs argv with the message on its stdin (frames joined by
// newlines) and returns its stdout, one trailing newline removed. The
// command's stderr goes to errOut.
func runExec(ctx context.Context, argv []string, m msg.Msg, errOut io.Writer) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(bytes.Join(m, []byte("\n")))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = errOut
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%s exited with status %d", argv[0], ee.ExitCode())
		}
		return nil, fmt.Errorf("running %s: %w", argv[0], err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}
