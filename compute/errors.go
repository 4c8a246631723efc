package compute

import (
	"errors"
	"fmt"

	"github.com/dsys-dev/dsys/compute/npy"
)

// ErrInput marks errors caused by the input (malformed numbers, truncated
// or unsupported files, impossible shapes, empty input where a value is
// required): the caller's fault, not the machine's. The CLI maps it to exit
// status 2. Test with errors.Is.
var ErrInput = errors.New("compute: bad input")

// inputError is a one-line description of what is wrong and where.
type inputError struct {
	msg string
	err error // the underlying error, if any
}

func (e *inputError) Error() string        { return "compute: " + e.msg }
func (e *inputError) Is(target error) bool { return target == ErrInput }
func (e *inputError) Unwrap() error        { return e.err }

// inputErr formats an input error: "compute: <msg>", matching ErrInput.
func inputErr(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// inputErrWrap is inputErr for an error that callers may still want to
// inspect with errors.Is (os.ErrNotExist, npy.ErrFormat).
func inputErrWrap(err error, format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...), err: err}
}

// errNoMap says that files cannot be memory-mapped here: read them instead.
var errNoMap = errors.New("compute: memory mapping is not supported on this OS")

// inputMsg is what an error says without its package prefix: the message of
// an npy.FormatError or an inputError, for an error naming the file first.
func inputMsg(err error) string {
	var fe *npy.FormatError
	if errors.As(err, &fe) {
		return fe.Msg
	}
	var ie *inputError
	if errors.As(err, &ie) {
		return ie.msg
	}
	return err.Error()
}
