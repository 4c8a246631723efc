// Package sqlite is dsys's embedded broker: a broker.Transport and result
// backend in one SQLite file (modernc.org/sqlite, pure Go), shared by any
// number of worker and client processes on one machine.
//
// Messages are rows. A consumer claims rows in batches, in one
// transaction, by setting a lease (its id) and a visibility deadline
// (Options.VisibilityTimeout) and counting the claim in the row
// (Delivery.Started); it renews the leases of what it holds at a third of
// the timeout, so a long task is never handed out twice, and a task whose
// consumer died is claimed again once its lease runs out. Settling a
// delivery, storing its results and publishing what it causes happen in
// one transaction; every process groups its writes into as few
// transactions as the load allows. Processes wake each other through file
// change notifications (inotify, kqueue...), never by busy polling.
//
// The file is WAL-mode SQLite with synchronous=NORMAL: it survives the
// death of any process at any point; an operating-system crash or power
// loss may lose the last transactions before a checkpoint. Its schema is
// versioned with PRAGMA user_version and migrated on open; a file that is
// not a dsys queue, or is of a newer schema, is refused untouched.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/dsys-dev/dsys/queue/broker"
)

// Scheme is the broker URL scheme: sqlite://PATH.
const Scheme = "sqlite://"

// PathFromURL returns the file path of a sqlite:// URL: everything after
// the scheme (sqlite:///var/lib/q.db is absolute, sqlite://q.db relative).
func PathFromURL(raw string) (string, bool) {
	if !strings.HasPrefix(strings.ToLower(raw), Scheme) {
		return "", false
	}
	return raw[len(Scheme):], true
}

// Options tune Open. The zero value is the documented default.
type Options struct {
	// VisibilityTimeout is how long a claimed message stays invisible to
	// other consumers without its lease being renewed (default 30s).
	VisibilityTimeout time.Duration
	// ResultExpires is how long stored results are kept (default 24h).
	ResultExpires time.Duration
	// BusyTimeout bounds waiting for another process's write lock (default 10s).
	BusyTimeout time.Duration
	// Logger receives warnings (nil = discard).
	Logger *slog.Logger
}

// Transport is the embedded broker on one file. Its result backend
// (Results) is the same file: results are rows keyed by task id, readable
// by any process, as often as asked, until they expire.
type Transport struct {
	path string
	opts Options
	log  *slog.Logger
	w    *sql.DB // one connection: this process's writer
	r    *sql.DB // readers
	wr   *writer
	note *notifier
	res  *results

	mu        sync.Mutex
	queues    map[string]bool // known to exist
	consumers map[*consumer]struct{}
	closed    bool
	done      chan struct{}
	wg        sync.WaitGroup
}

var _ broker.Transport = (*Transport)(nil)

// Open opens (or creates) the queue file at path.
func Open(ctx context.Context, path string, opts Options) (*Transport, error) {
	if path == "" {
		return nil, errors.New("queue: sqlite: empty path")
	}
	if opts.VisibilityTimeout <= 0 {
		opts.VisibilityTimeout = 30 * time.Second
	}
	if opts.ResultExpires <= 0 {
		opts.ResultExpires = 24 * time.Hour
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("queue: sqlite: %s: %w", path, err)
	}
	if err := prepareFile(abs); err != nil {
		return nil, err
	}
	t := &Transport{path: abs, opts: opts, log: log, queues: map[string]bool{}, consumers: map[*consumer]struct{}{},
		done: make(chan struct{})}
	busy := opts.BusyTimeout.Milliseconds()
	dsn := func(extra string) string {
		return "file:" + (&url.URL{Path: abs}).EscapedPath() + fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=synchronous(NORMAL)", busy) + extra
	}
	// The writer waits for the lock itself (beginImmediate): no busy timeout.
	wdsn := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?_pragma=busy_timeout(0)&_pragma=synchronous(NORMAL)&_pragma=journal_mode(WAL)&_txlock=immediate"
	if t.w, err = sql.Open("sqlite", wdsn); err != nil {
		return nil, fmt.Errorf("queue: sqlite: %s: %w", abs, err)
	}
	t.w.SetMaxOpenConns(1)
	t.w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, t.w, abs); err != nil {
		t.w.Close()
		return nil, err
	}
	if t.r, err = sql.Open("sqlite", dsn("&_pragma=query_only(1)")); err != nil {
		t.w.Close()
		return nil, fmt.Errorf("queue: sqlite: %s: %w", abs, err)
	}
	t.r.SetMaxOpenConns(4)
	t.note = newNotifier(abs, log)
	if t.wr, err = newWriter(t); err != nil {
		t.r.Close()
		t.w.Close()
		return nil, err
	}
	t.res = &results{t: t}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.wr.run()
	}()
	return t, nil
}

// applicationID marks dsys queue files ("dsyq"), PRAGMA application_id.
const applicationID = 0x64737971

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// prepareFile checks an existing file from its header bytes alone, so
// that a file of another application is refused untouched (not even a
// -wal or -shm file is created beside it), and creates a missing one
// (mode 0600, its directory 0700).
func prepareFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("queue: sqlite: %w", err)
		}
		nf, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("queue: sqlite: %w", err)
		}
		if nf != nil {
			nf.Close()
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("queue: sqlite: %w", err)
	}
	defer f.Close()
	head := make([]byte, 100)
	n, err := io.ReadFull(f, head)
	if n == 0 && (err == io.EOF || err == nil) {
		return nil // an empty file: a new queue
	}
	if n < len(head) || !bytes.Equal(head[:16], sqliteMagic) {
		return fmt.Errorf("queue: sqlite: %s is not a dsys queue (not an SQLite database); refusing to touch it", path)
	}
	id, version := binary.BigEndian.Uint32(head[68:]), binary.BigEndian.Uint32(head[60:])
	if id == 0 && version == 0 {
		// A dsys process creating the file writes its schema to the WAL
		// first: with a -wal beside it, or before any schema exists at all
		// (schema cookie 0: nothing foreign to damage), the schema check
		// (migrate, under the write lock) decides.
		if _, err := os.Stat(path + "-wal"); err == nil || binary.BigEndian.Uint32(head[40:]) == 0 {
			return nil
		}
	}
	if id != applicationID {
		return fmt.Errorf("queue: sqlite: %s is not a dsys queue (an SQLite database with application_id %#x); refusing to touch it", path, id)
	}
	if version > uint32(len(migrations)) {
		return fmt.Errorf("queue: sqlite: %s has schema version %d, newer than this dsys supports (%d): upgrade dsys", path, version, len(migrations))
	}
	return nil
}

// migrations[i] takes the schema from version i to i+1 (PRAGMA
// user_version). Append, never edit: files in the field have run them.
var migrations = []string{
	// 1: queues, messages, results.
	`CREATE TABLE queues (name TEXT PRIMARY KEY, kind INTEGER NOT NULL) WITHOUT ROWID;
	CREATE TABLE messages (
		id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a delivery's tag stays its own
		queue TEXT NOT NULL,
		priority INTEGER NOT NULL DEFAULT 0,
		visible_at INTEGER NOT NULL,
		scheduled INTEGER NOT NULL DEFAULT 0,
		started INTEGER NOT NULL DEFAULT 0,
		lease INTEGER NOT NULL DEFAULT 0,
		props BLOB NOT NULL,
		body BLOB NOT NULL
	);
	CREATE INDEX messages_ready ON messages (queue, scheduled, priority DESC, visible_at, id);
	CREATE INDEX messages_due ON messages (visible_at) WHERE scheduled = 1;
	CREATE INDEX messages_lease ON messages (lease, visible_at) WHERE lease != 0;
	CREATE TABLE results (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		task_id TEXT NOT NULL UNIQUE,
		reply_to TEXT NOT NULL,
		state TEXT NOT NULL,
		body BLOB NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE INDEX results_reply ON results (reply_to, seq);
	CREATE INDEX results_expiry ON results (expires_at);`,
	// 2: consumers, so that inspect (and a client waiting for a worker)
	// can tell who consumes a queue across processes.
	`CREATE TABLE consumers (id INTEGER PRIMARY KEY, queue TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, seen_at INTEGER NOT NULL);
	CREATE INDEX consumers_queue ON consumers (queue, seen_at);`,
}

// migrate brings the schema to the latest version in one transaction.
func migrate(ctx context.Context, db *sql.DB, path string) error {
	tx, err := beginImmediate(ctx, db, 30*time.Second)
	if err != nil {
		return fmt.Errorf("queue: sqlite: %s: %w", path, err)
	}
	defer tx.Rollback()
	var version, appID int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("queue: sqlite: %s: %w", path, err)
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("queue: sqlite: %s: %w", path, err)
	}
	if version > len(migrations) {
		return fmt.Errorf("queue: sqlite: %s has schema version %d, newer than this dsys supports (%d): upgrade dsys", path, version, len(migrations))
	}
	if version == len(migrations) {
		return nil
	}
	if version == 0 {
		var tables int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
			return fmt.Errorf("queue: sqlite: %s: %w", path, err)
		}
		if tables > 0 || (appID != 0 && appID != applicationID) {
			return fmt.Errorf("queue: sqlite: %s is not a dsys queue (an SQLite database of another application); refusing to touch it", path)
		}
	}
	for v := version; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("queue: sqlite: %s: migrating to schema %d: %w", path, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, len(migrations))); err != nil {
		return fmt.Errorf("queue: sqlite: %s: %w", path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue: sqlite: %s: %w", path, err)
	}
	// Bring the new application_id and user_version into the file's
	// header, where other processes check them before opening it.
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("queue: sqlite: %s: %w", path, err)
	}
	return nil
}

// Path is the queue file.
func (t *Transport) Path() string { return t.path }

func nowMs() int64 { return time.Now().UnixMilli() }

func (t *Transport) checkOpen() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return broker.ErrClosed
	}
	return nil
}

// Declare implements broker.Transport.
func (t *Transport) Declare(ctx context.Context, q broker.QueueSpec) error {
	if q.Name == "" {
		return errors.New("queue: declare: empty queue name")
	}
	t.mu.Lock()
	known := t.queues[q.Name]
	t.mu.Unlock()
	if known {
		return nil
	}
	err := t.wr.do(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT OR IGNORE INTO queues (name, kind) VALUES (?, ?)", q.Name, int(q.Kind))
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: declare %s: %w", q.Name, err)
	}
	t.mu.Lock()
	t.queues[q.Name] = true
	t.mu.Unlock()
	return nil
}

// exists reports whether a queue exists, asking the file once per name.
func (t *Transport) exists(ctx context.Context, q string) (bool, error) {
	t.mu.Lock()
	known := t.queues[q]
	t.mu.Unlock()
	if known {
		return true, nil
	}
	var n int
	if err := t.r.QueryRowContext(ctx, "SELECT count(*) FROM queues WHERE name = ?", q).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		t.mu.Lock()
		t.queues[q] = true
		t.mu.Unlock()
	}
	return n > 0, nil
}

// Publish implements broker.Transport: the Confirm is done once the
// message's transaction committed.
func (t *Transport) Publish(ctx context.Context, p broker.Publishing) (broker.Confirm, error) {
	if err := t.checkOpen(); err != nil {
		return nil, err
	}
	ok, err := t.exists(ctx, p.Queue)
	if err != nil {
		return nil, fmt.Errorf("queue: publish to %s: %w", p.Queue, err)
	}
	if !ok {
		return nil, fmt.Errorf("queue: publish to %s: %w", p.Queue, broker.ErrQueueNotFound)
	}
	row, err := newRow(p)
	if err != nil {
		return nil, fmt.Errorf("queue: publish to %s: %w", p.Queue, err)
	}
	return t.wr.submit(&op{publish: []msgRow{row}, wake: true}), nil
}

// msgRow is a message ready to insert.
type msgRow struct {
	queue     string
	priority  int
	visibleAt int64
	scheduled int
	props     []byte
	body      []byte
}

func newRow(p broker.Publishing) (msgRow, error) {
	props, err := encodeProps(p.Message)
	if err != nil {
		return msgRow{}, fmt.Errorf("headers: %w", err)
	}
	r := msgRow{queue: p.Queue, priority: int(p.Message.Priority), visibleAt: nowMs(), props: props, body: p.Message.Body}
	if r.body == nil {
		r.body = []byte{}
	}
	if at := p.At.UnixMilli(); !p.At.IsZero() && at > r.visibleAt {
		r.visibleAt, r.scheduled = at, 1
	}
	return r, nil
}

// Inspect implements broker.Transport. Consumers are those that renewed
// their registration within the visibility timeout.
func (t *Transport) Inspect(ctx context.Context, queue string) (broker.QueueInfo, error) {
	ok, err := t.exists(ctx, queue)
	if err != nil {
		return broker.QueueInfo{}, fmt.Errorf("queue: inspect %s: %w", queue, err)
	}
	if !ok {
		return broker.QueueInfo{}, fmt.Errorf("queue: inspect %s: %w", queue, broker.ErrQueueNotFound)
	}
	now := nowMs()
	info := broker.QueueInfo{Name: queue}
	err = t.r.QueryRowContext(ctx, `SELECT
		coalesce(sum(scheduled = 0 AND visible_at <= ?1), 0),
		coalesce(sum(scheduled = 0 AND lease != 0 AND visible_at > ?1), 0),
		coalesce(sum(scheduled = 1), 0)
		FROM messages WHERE queue = ?2`, now, queue).Scan(&info.Ready, &info.Unacked, &info.Delayed)
	if err == nil {
		err = t.r.QueryRowContext(ctx, "SELECT count(*) FROM consumers WHERE queue = ? AND seen_at > ?",
			queue, now-t.opts.VisibilityTimeout.Milliseconds()).Scan(&info.Consumers)
	}
	if err != nil {
		return broker.QueueInfo{}, fmt.Errorf("queue: inspect %s: %w", queue, err)
	}
	return info, nil
}

// Purge implements broker.Transport: ready and delayed messages go;
// those held by consumers stay.
func (t *Transport) Purge(ctx context.Context, queue string) (int, error) {
	ok, err := t.exists(ctx, queue)
	if err != nil {
		return 0, fmt.Errorf("queue: purge %s: %w", queue, err)
	}
	if !ok {
		return 0, fmt.Errorf("queue: purge %s: %w", queue, broker.ErrQueueNotFound)
	}
	var n int64
	err = t.wr.do(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec("DELETE FROM messages WHERE queue = ? AND NOT (lease != 0 AND visible_at > ?)", queue, nowMs())
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("queue: purge %s: %w", queue, err)
	}
	return int(n), nil
}

// Delete implements broker.Transport: the queue and all its messages.
func (t *Transport) Delete(ctx context.Context, queue string) error {
	err := t.wr.do(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec("DELETE FROM messages WHERE queue = ?", queue); err != nil {
			return err
		}
		_, err := tx.Exec("DELETE FROM queues WHERE name = ?", queue)
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: delete %s: %w", queue, err)
	}
	t.mu.Lock()
	delete(t.queues, queue)
	t.mu.Unlock()
	return nil
}

// Results implements broker.Transport.
func (t *Transport) Results() broker.ResultBackend { return t.res }

// Close closes the consumers (their unsettled deliveries go back to their
// queues), finishes pending writes and closes the file.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	cons := make([]*consumer, 0, len(t.consumers))
	for c := range t.consumers {
		cons = append(cons, c)
	}
	t.mu.Unlock()
	for _, c := range cons {
		_ = c.Close()
	}
	t.res.closeAll()
	close(t.done)
	t.wr.stop()
	t.wg.Wait()
	t.note.close()
	err := errors.Join(t.r.Close(), t.w.Close())
	if err != nil {
		return fmt.Errorf("queue: sqlite: close: %w", err)
	}
	return nil
}
