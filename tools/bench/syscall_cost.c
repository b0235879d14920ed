/* How long this machine takes for a system call, printed as one JSON line:
 * a bare call (getppid) and a 64-byte write and read through a pipe. The
 * broker comparison prints it because a broker that makes a call per
 * message (Mosquitto writes each message to its subscriber's socket) slows
 * down far more than one that batches when calls are expensive: on a
 * virtual machine whose kernel runs with page-table isolation (PTI), or a
 * paravirtualised one, a call can cost several times what it costs on
 * bare metal, and the brokers' ratio moves with it.
 * usage: syscall_cost [ROUNDS] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

int main(int argc, char** argv) {
  long rounds = argc > 1 ? atol(argv[1]) : 200000;
  if (rounds <= 0) {
    fprintf(stderr, "usage: syscall_cost [ROUNDS > 0]\n");
    return 2;
  }
  double t0 = now_ns();
  for (long i = 0; i < rounds; ++i)
    syscall(SYS_getppid); /* not cached by the C library */
  double bare = (now_ns() - t0) / (double) rounds;
  int fds[2];
  if (pipe(fds) != 0) {
    perror("syscall_cost: pipe");
    return 1;
  }
  char buf[64] = {0};
  t0 = now_ns();
  for (long i = 0; i < rounds; ++i) {
    if (write(fds[1], buf, sizeof buf) != (ssize_t) sizeof buf
        || read(fds[0], buf, sizeof buf) != (ssize_t) sizeof buf) {
      perror("syscall_cost: pipe write/read");
      return 1;
    }
  }
  double pair = (now_ns() - t0) / (double) rounds;
  printf("{\"getppid_ns\": %.0f, \"pipe_64B_write_read_ns\": %.0f}\n", bare,
         pair);
  return 0;
}
