/*
 * zmqperf: libzmq's perf tools (local_thr, remote_thr, local_lat,
 * remote_lat) in one file, printing JSON lines like `dsys zmq bench -o json`.
 * The benchmark compiles it at run time: cc -O2 zmqperf.c -lzmq.
 *
 * usage: zmqperf local_thr|remote_thr|local_lat|remote_lat ENDPOINT SIZE COUNT
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

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv) {
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
		if (zmq_connect(s, ep)) die("connect");
		for (long i = 0; i < count; i++)
			if (zmq_send(s, buf, size, 0) < 0) die("send");
		zmq_close(s);
	} else if (!strcmp(mode, "local_lat")) {
		void *s = zmq_socket(ctx, ZMQ_REP);
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
