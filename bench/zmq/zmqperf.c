/*
 * zmqperf: libzmq's perf tools (local_thr, remote_thr, local_lat,
 * remote_lat) in one file, printing JSON lines like `dsys zmq bench -o json`.
 * The benchmark compiles it at run time: cc -O2 zmqperf.c -lzmq.
 *
 * usage: zmqperf local_thr|remote_thr|local_lat|remote_lat ENDPOINT SIZE COUNT
 *        zmqperf proxy FRONTEND BACKEND          (zmq_proxy: PULL bound at FRONTEND,
 *                                                 PUSH connected to BACKEND; or
 *                                                 ROUTER/DEALER when PROXY=broker)
 *
 * CURVE: with CURVE_SECRET (Z85) in the environment the binding side is a
 * CURVE server with that key; with CURVE_SERVER (Z85 public key) the
 * connecting side is a CURVE client of it, with a fresh key pair.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
	fprintf(stderr, "zmqperf: %s: %s\n", what, zmq_strerror(zmq_errno()));
	exit(1);
}

/* curve applies the CURVE environment to s: server when binding. */
static void curve(void *s, int binding) {
	const char *sec = getenv("CURVE_SECRET"), *srv = getenv("CURVE_SERVER");
	int one = 1;
	if (binding && sec && *sec) {
		if (zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) ||
		    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40)) die("curve server");
	} else if (!binding && srv && *srv) {
		char pub[41], key[41];
		if (zmq_curve_keypair(pub, key)) die("curve keypair");
		if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, srv, 40) ||
		    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40) ||
		    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, key, 40)) die("curve client");
	}
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv) {
	if (argc == 4 && !strcmp(argv[1], "proxy")) {
		void *ctx = zmq_ctx_new();
		int broker = getenv("PROXY") && !strcmp(getenv("PROXY"), "broker");
		void *f = zmq_socket(ctx, broker ? ZMQ_ROUTER : ZMQ_PULL);
		void *b = zmq_socket(ctx, broker ? ZMQ_DEALER : ZMQ_PUSH);
		if (zmq_bind(f, argv[2])) die("bind");
		if (zmq_connect(b, argv[3])) die("connect");
		zmq_proxy(f, b, NULL); /* until killed */
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: zmqperf local_thr|remote_thr|local_lat|remote_lat ENDPOINT SIZE COUNT\n");
		return 2;
	}
	const char *mode = argv[1], *ep = argv[2];
	size_t size = (size_t)atol(argv[3]);
	long count = atol(argv[4]);
	void *ctx = zmq_ctx_new();
	zmq_msg_t msg;
	char *buf = calloc(size ? size : 1, 1);

	if (!strcmp(mode, "local_thr")) {
		void *s = zmq_socket(ctx, ZMQ_PULL);
		curve(s, 1);
		if (zmq_bind(s, ep)) die("bind");
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, s, 0) < 0) die("recv");
		double start = now();
		for (long i = 1; i < count; i++)
			if (zmq_msg_recv(&msg, s, 0) < 0) die("recv");
		double el = now() - start;
		printf("{\"benchmark\":\"pushpull_throughput\",\"size\":%zu,\"messages\":%ld,\"seconds\":%f,"
		       "\"msg_per_sec\":%f,\"mb_per_sec\":%f}\n",
		       size, count - 1, el, (count - 1) / el, (count - 1) / el * size / 1e6);
		zmq_msg_close(&msg);
		zmq_close(s);
	} else if (!strcmp(mode, "remote_thr")) {
		void *s = zmq_socket(ctx, ZMQ_PUSH);
		curve(s, 0);
		if (zmq_connect(s, ep)) die("connect");
		for (long i = 0; i < count; i++)
			if (zmq_send(s, buf, size, 0) < 0) die("send");
		zmq_close(s);
	} else if (!strcmp(mode, "local_lat")) {
		void *s = zmq_socket(ctx, ZMQ_REP);
		curve(s, 1);
		if (zmq_bind(s, ep)) die("bind");
		zmq_msg_init(&msg);
		for (long i = 0; i < count; i++) {
			if (zmq_msg_recv(&msg, s, 0) < 0) die("recv");
			if (zmq_msg_send(&msg, s, 0) < 0) die("send");
		}
		zmq_msg_close(&msg);
		zmq_close(s);
	} else if (!strcmp(mode, "remote_lat")) {
		void *s = zmq_socket(ctx, ZMQ_REQ);
		curve(s, 0);
		if (zmq_connect(s, ep)) die("connect");
		double *t = malloc(sizeof(double) * count), total = 0;
		char *rbuf = malloc(size + 1);
		for (long i = 0; i < count; i++) {
			double start = now();
			if (zmq_send(s, buf, size, 0) < 0) die("send");
			if (zmq_recv(s, rbuf, size + 1, 0) < 0) die("recv");
			t[i] = (now() - start) * 1e6;
			total += t[i];
		}
		qsort(t, count, sizeof(double), cmp);
		long p99 = count * 99 / 100;
		if (p99 > count - 1) p99 = count - 1;
		printf("{\"benchmark\":\"reqrep_latency\",\"size\":%zu,\"round_trips\":%ld,\"p50_us\":%f,\"p99_us\":%f,"
		       "\"mean_us\":%f}\n", size, count, t[count / 2], t[p99], total / count);
		zmq_close(s);
	} else {
		fprintf(stderr, "zmqperf: unknown mode %s\n", mode);
		return 2;
	}
	zmq_ctx_term(ctx);
	return 0;
}
