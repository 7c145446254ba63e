/* Baseline for bench/engine-throughput.sh: a plain 1 MiB read()/write() loop, the way
 * QEMU moves VFIO migration data (VFIO_MIG_DEFAULT_DATA_BUFFER_SIZE). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: rwloop IN|- OUT\n");
    return 2;
  }
  int in = (argv[1][0] == '-' && !argv[1][1]) ? 0 : open(argv[1], O_RDONLY);
  int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (in < 0 || out < 0) {
    perror("open");
    return 1;
  }
  size_t sz = 1 << 20;
  char *buf = malloc(sz);
  if (!buf) return 1;
  for (;;) {
    ssize_t n = read(in, buf, sz);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("read");
      return 1;
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        perror("write");
        return 1;
      }
      off += w;
    }
  }
  return close(out) ? 1 : 0;
}
