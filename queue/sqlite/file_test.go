package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openT(t *testing.T, path string, opts Options) *Transport {
	t.Helper()
	tr, err := Open(ctxT(t), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// dirEntries lists a directory's names.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// A file that is not a dsys queue, or one of a newer schema, is refused
// with a one-line error and left byte-for-byte untouched (nothing created
// beside it either).
func TestForeignFilesRefusedUntouched(t *testing.T) {
	foreignDB := func(t *testing.T, path string) {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')"); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	newer := func(t *testing.T, path string) {
		tr := openT(t, path, Options{})
		tr.Close()
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"text", func(t *testing.T, path string) { os.WriteFile(path, []byte("just some notes\n"), 0o644) }, "not an SQLite database"},
		{"random bytes", func(t *testing.T, path string) { os.WriteFile(path, bytes.Repeat([]byte{0xde, 0xad}, 4096), 0o644) }, "not an SQLite database"},
		{"another application's SQLite", foreignDB, "application_id 0"},
		{"newer schema", newer, "schema version 99, newer than this dsys supports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "q.db")
			tt.make(t, path)
			before, _ := os.ReadFile(path)
			entries := dirEntries(t, dir)
			_, err := Open(ctxT(t), path, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open = %v, want one line naming %s and saying %q", err, path, tt.want)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("the file changed")
			}
			if got := dirEntries(t, dir); fmt.Sprint(got) != fmt.Sprint(entries) {
				t.Errorf("files beside it: %v, before %v", got, entries)
			}
		})
	}
}

// The schema is versioned (PRAGMA user_version): a file of an older
// version is migrated on open, its messages kept.
func TestMigratesOlderSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	props, _ := encodeProps(&broker.Message{ContentType: "application/json"})
	for _, q := range []string{migrations[0],
		fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = 1", applicationID),
		"INSERT INTO queues (name, kind) VALUES ('old', 0)"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("INSERT INTO messages (queue, visible_at, props, body) VALUES ('old', 0, ?, ?)", props, []byte(`[[1, 2], {}, null]`)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	tr := openT(t, path, Options{})
	var version int
	if err := tr.r.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("user_version %d, %v; want %d", version, err, len(migrations))
	}
	c, err := tr.Consume(ctxT(t), "old", broker.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case d := <-c.Deliveries():
		if string(d.Body) != `[[1, 2], {}, null]` || d.ContentType != "application/json" {
			t.Fatalf("message after migration: %+v", d.Message)
		}
		if err := d.Commit(ctxT(t), broker.Commit{}); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the message of the old schema is not delivered")
	}
	if info, err := tr.Inspect(ctxT(t), "old"); err != nil || info.Consumers != 1 {
		t.Fatalf("consumers (schema 2) after migration: %+v %v", info, err)
	}
}

// A consumer renews the leases of what it holds: a message held for many
// visibility timeouts is never handed to another consumer; settled, it is
// gone.
func TestLeaseRenewedWhileHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	const vt = 300 * time.Millisecond
	a, b := openT(t, path, Options{VisibilityTimeout: vt}), openT(t, path, Options{VisibilityTimeout: vt})
	if err := a.Declare(ctxT(t), broker.QueueSpec{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	conf, err := a.Publish(ctxT(t), broker.Publishing{Queue: "q", Message: &broker.Message{Body: []byte("x")}})
	if err != nil || broker.WaitConfirm(ctxT(t), conf) != nil {
		t.Fatal(err)
	}
	ca, err := a.Consume(ctxT(t), "q", broker.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	d := <-ca.Deliveries()
	cb, err := b.Consume(ctxT(t), "q", broker.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	select {
	case d2 := <-cb.Deliveries():
		t.Fatalf("the held message went to another consumer (started %d) while its lease was renewed", d2.Started)
	case <-time.After(5 * vt):
	}
	if err := d.Commit(ctxT(t), broker.Commit{}); err != nil {
		t.Fatal(err)
	}
	select {
	case d2 := <-cb.Deliveries():
		t.Fatalf("a settled message came back: %+v", d2)
	case <-time.After(2 * vt):
	}
}

// Results are durable: stored, they survive closing and reopening the file
// and are read as often as asked; a result is kept for ResultExpires.
func TestResultsDurableAndExpire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	tr := openT(t, path, Options{ResultExpires: 800 * time.Millisecond})
	body := []byte(`{"task_id": "t1", "status": "SUCCESS", "result": 8, "traceback": null, "children": []}`)
	if err := tr.Results().Store(ctxT(t), []broker.Result{{TaskID: "t1", State: "SUCCESS", Body: body}}); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	tr = openT(t, path, Options{})
	for range 3 {
		r, err := tr.Results().Get(ctxT(t), "t1")
		if err != nil || !bytes.Equal(r.Body, body) {
			t.Fatalf("Get after reopening: %+v %v", r, err)
		}
	}
	time.Sleep(time.Second) // let the result's expiry pass (a wall-clock property)
	if _, err := tr.Results().Get(ctxT(t), "t1"); !errors.Is(err, broker.ErrResultNotFound) {
		t.Fatalf("an expired result: %v", err)
	}
}

// Higher priorities are delivered first, then in the order messages
// became visible.
func TestPriorities(t *testing.T) {
	tr := openT(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	if err := tr.Declare(ctxT(t), broker.QueueSpec{Name: "p"}); err != nil {
		t.Fatal(err)
	}
	for i, p := range []uint8{0, 9, 5, 9, 0} {
		conf, err := tr.Publish(ctxT(t), broker.Publishing{Queue: "p", Message: &broker.Message{Priority: p, Body: []byte(fmt.Sprint(i))}})
		if err != nil || broker.WaitConfirm(ctxT(t), conf) != nil {
			t.Fatal(err)
		}
	}
	c, err := tr.Consume(ctxT(t), "p", broker.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var order []string
	for range 5 {
		d := <-c.Deliveries()
		order = append(order, fmt.Sprintf("%s:%d", d.Body, d.Priority))
		if err := d.Commit(ctxT(t), broker.Commit{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(order, " "); got != "1:9 3:9 2:5 0:0 4:0" {
		t.Fatalf("delivery order %s, want 1:9 3:9 2:5 0:0 4:0", got)
	}
}

// TestMain doubles as a helper process (helperEnv) that claims one
// message and waits to be killed.
func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		claimAndHang(path)
		return
	}
	os.Exit(m.Run())
}

const helperEnv = "DSYS_SQLITE_TEST_CLAIM"

func claimAndHang(path string) {
	tr, err := Open(context.Background(), path, Options{VisibilityTimeout: 500 * time.Millisecond})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	c, err := tr.Consume(context.Background(), "q", broker.ConsumeOptions{Prefetch: 1})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	d := <-c.Deliveries()
	fmt.Printf("claimed %s\n", d.Body)
	select {} // until killed
}

// A message whose consumer died (kill -9: no Close, no release) comes back
// once its lease runs out, counted as started.
func TestLeaseRunsOutWhenConsumerDies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	tr := openT(t, path, Options{VisibilityTimeout: 500 * time.Millisecond})
	if err := tr.Declare(ctxT(t), broker.QueueSpec{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	conf, err := tr.Publish(ctxT(t), broker.Publishing{Queue: "q", Message: &broker.Message{Body: []byte("job")}})
	if err != nil || broker.WaitConfirm(ctxT(t), conf) != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+path)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		b, _ := bufio.NewReader(out).ReadString('\n')
		line <- b
	}()
	select {
	case l := <-line:
		if l != "claimed job\n" {
			t.Fatalf("helper: %q", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the helper claimed nothing")
	}
	_ = helper.Process.Kill()
	_ = helper.Wait()
	c, err := tr.Consume(ctxT(t), "q", broker.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	select {
	case d := <-c.Deliveries():
		if string(d.Body) != "job" || d.Started != 1 {
			t.Fatalf("came back %q with Started %d, want job and 1", d.Body, d.Started)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("came back after %v, the lease was 500ms", el)
		}
		_ = d.Commit(ctxT(t), broker.Commit{})
	case <-time.After(10 * time.Second):
		t.Fatal("the dead consumer's message never came back")
	}
}
