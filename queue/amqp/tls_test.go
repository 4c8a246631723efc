package amqp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
)

// Over amqps:// too, a header py-amqp (Celery's client) writes with the
// field type L (an integer beyond 32 bits) is read and the connection
// stays up: TLS runs under the frame filter. RabbitMQ is reached through
// a TLS-terminating relay with a certificate made here.
func TestAMQPSReadsPyAMQPLongHeaders(t *testing.T) {
	plain := testenv.RabbitMQ(t)
	py := testenv.Python(t, "amqp")
	if !strings.Contains(plain, "127.0.0.1:5672") {
		t.Skipf("the test broker %s is not at 127.0.0.1:5672", plain)
	}
	cert, pool := selfSigned(t)
	addr := tlsRelay(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, "127.0.0.1:5672")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := amqp.Dial(ctx, "amqps://guest:guest@"+addr+"/", amqp.Options{ManagementURL: "-", TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatalf("amqps dial: %v", err)
	}
	defer b.Close()
	q := testenv.UniqueName(t, "amqps")
	if err := b.Declare(ctx, broker.QueueSpec{Name: q, Kind: broker.TaskQueue}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Delete(context.Background(), q) }()
	script := `import amqp, sys
c = amqp.Connection('127.0.0.1:5672', userid='guest', password='guest'); c.connect()
ch = c.channel()
for i in range(2):
    ch.basic_publish(amqp.Message('[[1, 2], {}, {}]', content_type='application/json', application_headers={'x-big': 2**40, 'n': i}), routing_key=sys.argv[1])
c.close()
`
	if out, err := exec.CommandContext(ctx, py, "-c", script, q).CombinedOutput(); err != nil {
		t.Fatalf("py-amqp publish: %v\n%s", err, out)
	}
	c, err := b.Consume(ctx, q, broker.ConsumeOptions{Prefetch: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 2 {
		select {
		case d := <-c.Deliveries():
			if v, ok := d.Headers["x-big"].(int64); !ok || v != 1<<40 {
				t.Errorf("delivery %d: x-big = %#v, want int64 2**40 (headers %v)", i, d.Headers["x-big"], d.Headers)
			}
			if err := d.Commit(ctx, broker.Commit{}); err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatalf("delivery %d of 2 never came over amqps", i)
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dsys test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// tlsRelay accepts TLS on a loopback port and relays each connection in
// clear to target, until the test ends; it returns the port's address.
func tlsRelay(t *testing.T, tc *tls.Config, target string) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Relay(t, l, target)
	return l.Addr().String()
}
