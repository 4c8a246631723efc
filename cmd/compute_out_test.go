//go:build unix

package cmd

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/dsys-dev/dsys/compute"
	"github.com/dsys-dev/dsys/compute/npy"
	"github.com/dsys-dev/dsys/internal/testenv"
)

// readNPYValues decodes a .npy file of 8-byte values as dsys prints them.
func readNPYValues(t *testing.T, b []byte) (string, []int, []string) {
	t.Helper()
	h, err := npy.ReadHeader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a .npy file (%v): %q", err, b[:min(len(b), 80)])
	}
	var vals []string
	for data := b[h.DataOffset:]; len(data) >= 8; data = data[8:] {
		u := binary.LittleEndian.Uint64(data)
		switch h.DType.Kind {
		case 'f':
			vals = append(vals, compute.FormatFloat(math.Float64frombits(u)))
		case 'i':
			vals = append(vals, strconv.FormatInt(int64(u), 10))
		default:
			vals = append(vals, strconv.FormatUint(u, 10))
		}
	}
	return h.DType.String(), h.Shape, vals
}

// --out follows a symlink to its target, replaces the target atomically
// and keeps the link (it used to replace the link with a regular file).
func TestComputeOutSymlinkKept(t *testing.T) {
	dir := isolateConfig(t)
	in := writeNPY(t, dir, "a.npy", []int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	target := filepath.Join(dir, "real.npy")
	os.WriteFile(target, []byte("old contents"), 0o640)
	link := filepath.Join(dir, "link.npy")
	if err := os.Symlink("real.npy", link); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runDsys(t, "", "compute", "sum", in, "--axis", "0", "--out", link); code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	if dest, err := os.Readlink(link); err != nil || dest != "real.npy" {
		t.Fatalf("the link is gone: %q %v", dest, err)
	}
	b, _ := os.ReadFile(target)
	if dt, shape, vals := readNPYValues(t, b); dt != "<f8" || len(shape) != 1 || strings.Join(vals, " ") != "5.0 7.0 9.0" {
		t.Fatalf("target holds %s %v %v", dt, shape, vals)
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o640 {
		t.Errorf("target mode %v, want 0640 kept", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	// A dangling link gets its target created.
	dangling := filepath.Join(dir, "dangling.npy")
	os.Symlink("new.npy", dangling)
	if _, errOut, code := runDsys(t, "", "compute", "sum", in, "--axis", "1", "--out", dangling); code != 0 {
		t.Fatalf("dangling: code %d: %s", code, errOut)
	}
	if fi, err := os.Lstat(dangling); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("dangling link replaced: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.npy")); err != nil {
		t.Fatalf("target not created: %v", err)
	}
}

// A FIFO is written in place, streamed to its reader, and stays a FIFO.
func TestComputeOutFIFOStreamed(t *testing.T) {
	dir := isolateConfig(t)
	fifo := filepath.Join(dir, "out.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- b
	}()
	if _, errOut, code := runDsys(t, "", "compute", "count", "--shape", "4,3", "--chunks", "2,2", "--axis", "1", "--out", fifo); code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	b := <-got
	if dt, shape, vals := readNPYValues(t, b); dt != "<i8" || shape[0] != 4 || strings.Join(vals, " ") != "3 3 3 3" {
		t.Fatalf("the reader got %s %v %v", dt, shape, vals)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", st.Mode(), err)
	}
}

// A character device is written in place: it stays a device. (As root,
// --out /dev/null used to replace the system's /dev/null by a regular file;
// this test makes a null device of its own, which needs root.)
func TestComputeOutCharDeviceInPlace(t *testing.T) {
	dir := isolateConfig(t)
	dev := filepath.Join(dir, "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, int(1<<8|3)); err != nil {
		t.Skipf("mknod a null device (needs root): %v", err)
	}
	if _, errOut, code := runDsys(t, "", "compute", "mean", "--shape", "10,10", "--axis", "0", "--out", dev); code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	if st, err := os.Lstat(dev); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("the device was replaced: %v %v", st.Mode(), err)
	}
}

// --out /dev/stdout writes to whatever stdout is: a pipe, or a regular file
// (appended to, not renamed over, so the shell's redirection keeps working).
func TestComputeOutDevStdout(t *testing.T) {
	dir := t.TempDir()
	bin := testenv.Binary(t)
	var out bytes.Buffer
	cmd := exec.Command(bin, "compute", "sum", "--shape", "3,2", "--chunks", "1,2", "--axis", "1", "--out", "/dev/stdout")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("to a pipe: %v", err)
	}
	if _, shape, vals := readNPYValues(t, out.Bytes()); shape[0] != 3 || len(vals) != 3 {
		t.Fatalf("to a pipe: %v %v", shape, vals)
	}
	path := filepath.Join(dir, "o.npy")
	f, _ := os.Create(path)
	before, _ := f.Stat()
	cmd = exec.Command(bin, "compute", "sum", "--shape", "3,2", "--chunks", "1,2", "--axis", "1", "--out", "/dev/stdout")
	cmd.Stdout = f
	err := cmd.Run()
	f.Close()
	if err != nil {
		t.Fatalf("to a file: %v", err)
	}
	after, _ := os.Stat(path)
	b, _ := os.ReadFile(path)
	if !os.SameFile(before, after) {
		t.Fatal("the redirected file was replaced")
	}
	if _, shape, _ := readNPYValues(t, b); shape[0] != 3 {
		t.Fatalf("to a file: shape %v", shape)
	}
}

// --out naming one of the inputs is refused with exit 2 before anything is
// written, however the input is named; the input stays as it was.
func TestComputeOutRefusesTheInput(t *testing.T) {
	dir := isolateConfig(t)
	in := writeNPY(t, dir, "a.npy", []int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	orig, _ := os.ReadFile(in)
	alias := filepath.Join(dir, "alias.npy")
	os.Symlink(in, alias)
	for _, out := range []string{in, alias, filepath.Join(dir, ".", "a.npy")} {
		_, errOut, code := runDsys(t, "", "compute", "sum", in, "--axis", "0", "--out", out)
		if code != ExitUsage || !strings.Contains(errOut, "refusing to overwrite the data being read") {
			t.Errorf("--out %s: code %d, stderr %q", out, code, errOut)
		}
	}
	// The input on stdin, redirected from the file.
	bin := testenv.Binary(t)
	f, _ := os.Open(in)
	defer f.Close()
	cmd := exec.Command(bin, "compute", "sum", "-", "--axis", "0", "--out", in)
	cmd.Stdin = f
	outb, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitUsage {
		t.Errorf("stdin: %v %s", err, outb)
	}
	if now, _ := os.ReadFile(in); !bytes.Equal(now, orig) {
		t.Fatal("the input was changed")
	}
}

// Path errors exit 2 and name the path the user gave, not a temporary file.
func TestComputeOutPathErrors(t *testing.T) {
	dir := isolateConfig(t)
	notDir := filepath.Join(dir, "file.txt")
	os.WriteFile(notDir, []byte("x"), 0o644)
	for _, out := range []string{filepath.Join(dir, "no", "such", "x.npy"), filepath.Join(notDir, "x.npy"), dir} {
		_, errOut, code := runDsys(t, "", "compute", "mean", "--shape", "10,10", "--axis", "0", "--out", out)
		if code != ExitUsage || !strings.Contains(errOut, out+":") || strings.Contains(errOut, ".tmp") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("--out %s: code %d, stderr %q", out, code, errOut)
		}
	}
}

// Integer results go out as '<i8' ('<u8' when a value needs it), exactly.
func TestComputeOutIntegers(t *testing.T) {
	dir := isolateConfig(t)
	var data []byte
	for _, v := range []int64{1<<62 + 1, 3, 1 << 62, 4} {
		data = binary.LittleEndian.AppendUint64(data, uint64(v))
	}
	hdr := npy.EncodeHeader(npy.DType{Kind: 'i', Size: 8}, false, []int{2, 2})
	in := filepath.Join(dir, "i.npy")
	os.WriteFile(in, append(hdr, data...), 0o644)
	out := filepath.Join(dir, "o.npy")
	for _, c := range []struct{ op, axis, dtype, vals string }{
		{"max", "1", "<i8", "4611686018427387905 4611686018427387904"},
		{"sum", "0", "<u8", "9223372036854775809 7"},
		{"count", "0", "<i8", "2 2"},
		{"mean", "0", "<f8", "4.611686018427388e+18 3.5"},
	} {
		if _, errOut, code := runDsys(t, "", "compute", c.op, in, "--axis", c.axis, "--out", out); code != 0 {
			t.Fatalf("%s: code %d: %s", c.op, code, errOut)
		}
		b, _ := os.ReadFile(out)
		if dt, _, vals := readNPYValues(t, b); dt != c.dtype || strings.Join(vals, " ") != c.vals {
			t.Errorf("%s --axis %s: %s %v, want %s %s", c.op, c.axis, dt, vals, c.dtype, c.vals)
		}
	}
}
