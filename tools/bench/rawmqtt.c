/* rawmqtt: the benchmark's independent MQTT 3.1.1 client, QoS 0 only, in
 * plain C with blocking sockets and no MQTT library. It shares no code with
 * `starling bench`, so `tools/bench/compare` can check that the generator
 * is not what limits a broker.
 *
 *   rawmqtt sub PORT TOPIC COUNT   subscribe, print "ready", count COUNT
 *                                  messages (or stop 2 s after the last)
 *   rawmqtt pub PORT TOPIC COUNT SIZE  publish COUNT messages of SIZE bytes
 *
 * Each prints one JSON line: messages, seconds from the first to the last
 * and their rate, and its own CPU seconds. */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec
         + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

static void send_all(int fd, const unsigned char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      die("send");
    p += w;
    n -= (size_t)w;
  }
}

/* Writes a remaining length (MQTT variable byte integer); returns its size. */
static size_t put_len(unsigned char* p, size_t len) {
  size_t i = 0;
  do {
    p[i] = len % 128;
    len /= 128;
    if (len)
      p[i] |= 0x80;
  } while (++i, len);
  return i;
}

static size_t put_str(unsigned char* p, const char* s) {
  size_t n = strlen(s);
  p[0] = n >> 8;
  p[1] = n & 0xff;
  memcpy(p + 2, s, n);
  return n + 2;
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof a) != 0)
    die("connect");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* CONNECT: protocol "MQTT" level 4, clean session, keep-alive 60 s. */
  unsigned char b[64] = {0x10}, v[48];
  size_t n = put_str(v, "MQTT");
  v[n++] = 4, v[n++] = 0x02, v[n++] = 0, v[n++] = 60;
  n += put_str(v + n, "");
  size_t h = 1 + put_len(b + 1, n);
  memcpy(b + h, v, n);
  send_all(fd, b, h + n);
  if (recv(fd, b, 4, MSG_WAITALL) != 4 || b[0] != 0x20 || b[3] != 0) {
    fprintf(stderr, "rawmqtt: no CONNACK accepting the connection\n");
    exit(1);
  }
  return fd;
}

static void report(const char* mode, long n, double first, double last,
                   double cpu0) {
  double s = last - first;
  printf("{\"mode\": \"%s\", \"messages\": %ld, \"seconds\": %.6f, "
         "\"rate\": %.0f, \"cpu_s\": %.3f}\n",
         mode, n, s, s > 0 ? n / s : 0, cpu() - cpu0);
}

static int sub(int port, const char* topic, long count) {
  int fd = dial(port);
  unsigned char b[512] = {0x82};
  unsigned char v[300] = {0, 1}; /* packet id 1 */
  size_t n = 2 + put_str(v + 2, topic);
  v[n++] = 0; /* QoS 0 */
  size_t h = 1 + put_len(b + 1, n);
  memcpy(b + h, v, n);
  send_all(fd, b, h + n);
  static unsigned char buf[1 << 18];
  size_t have = 0;
  long got = 0;
  int subacked = 0; /* SUBACK seen: "ready" printed */
  double first = 0, last = 0, cpu0 = cpu();
  /* One blocking recv() per read; it gives up 2 s after the last message
   * (30 s before the first). */
  struct timeval wait = {.tv_sec = 30};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  while (got < count) {
    ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
    if (r <= 0)
      break;

    have += (size_t)r;
    size_t at = 0;
    for (;;) { /* every whole packet in the buffer */
      size_t len = 0, i = 1, mul = 1;
      while (at + i < have && (buf[at + i] & 0x80) && i < 5)
        len += (buf[at + i] & 0x7f) * mul, mul *= 128, ++i;
      if (at + i >= have)
        break;
      len += (buf[at + i] & 0x7f) * mul;
      if (at + i + 1 + len > have)
        break;
      if ((buf[at] >> 4) == 3) {
        last = now();
        if (got++ == 0)
          first = last;
      } else if ((buf[at] >> 4) == 9 && !subacked) {
        subacked = 1;
        printf("ready\n");
        fflush(stdout);
      }
      at += i + 1 + len;
    }
    memmove(buf, buf + at, have - at);
    have -= at;
    if (got > 0 && wait.tv_sec != 2) {
      wait.tv_sec = 2;
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    }
  }
  report("sub", got, first, last, cpu0);
  return 0;
}

static int pub(int port, const char* topic, long count, size_t size) {
  int fd = dial(port);
  unsigned char one[600];
  unsigned char v[560];
  size_t n = put_str(v, topic);
  if (n + size > sizeof v)
    die("topic and payload too long");
  memset(v + n, 'x', size);
  n += size;
  one[0] = 0x30;
  size_t m = 1 + put_len(one + 1, n);
  memcpy(one + m, v, n);
  m += n;
  /* 64 messages per send(): a plain batching client. */
  static unsigned char batch[64 * sizeof one];
  for (int i = 0; i < 64; ++i)
    memcpy(batch + i * m, one, m);
  double cpu0 = cpu(), first = now();
  for (long sent = 0; sent < count; sent += 64)
    send_all(fd, batch, (count - sent < 64 ? count - sent : 64) * m);
  double last = now();
  unsigned char disconnect[2] = {0xe0, 0};
  send_all(fd, disconnect, 2);
  shutdown(fd, SHUT_WR);
  while (recv(fd, v, sizeof v, 0) > 0) {
  }
  report("pub", count, first, last, cpu0);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 5 && !strcmp(argv[1], "sub"))
    return sub(atoi(argv[2]), argv[3], atol(argv[4]));
  if (argc == 6 && !strcmp(argv[1], "pub"))
    return pub(atoi(argv[2]), argv[3], atol(argv[4]), (size_t)atol(argv[5]));
  fprintf(stderr, "usage: rawmqtt sub PORT TOPIC COUNT\n"
                  "       rawmqtt pub PORT TOPIC COUNT SIZE\n");
  return 2;
}
