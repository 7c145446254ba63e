/*
 * The data path: a producer thread (reads the source, computes or verifies CRC32C) and the
 * calling thread as consumer (writes), connected by a ring of DP_SLOTS buffers of at most
 * SF_MAX_CHUNK bytes each. Memory is constant whatever the amount of data.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "json.h"

static void on_sigusr1(int sig) { (void)sig; }
static int never(void) { return 0; }
int (*dp_cancel_check)(void) = never;
static long page_size;
static void on_sigbus(int sig, siginfo_t *si, void *uc);

void dp_init(void) {
  crc32c_init();
  page_size = sysconf(_SC_PAGESIZE);
  if (page_size <= 0) page_size = 4096;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, NULL);
  /* SIGUSR1 (no SA_RESTART) interrupts a producer blocked in read() when a transfer is
   * cancelled; the producer then sees EINTR and the stop flag. */
  struct sigaction su;
  memset(&su, 0, sizeof su);
  su.sa_handler = on_sigusr1;
  sigemptyset(&su.sa_mask);
  sigaction(SIGUSR1, &su, NULL);
}

void dp_set_error(dp_error *e, enum err_kind k, int err, uint64_t off, const char *fmt, ...) {
  if (e->kind != EK_NONE) return; /* keep the first error */
  e->kind = k;
  e->err = err;
  e->offset = off;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
}

static void corrupt(dp_error *e, uint64_t off, const char *what) {
  dp_set_error(e, EK_CORRUPT, EBADMSG, off, "stream corrupt at byte %llu: %s",
               (unsigned long long)off, what);
}

static inline void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}
static inline void put64(unsigned char *p, uint64_t v) {
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get64(const unsigned char *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int fd_is_fifo(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode));
}

static int fd_is_regular(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

void fd_grow_pipe(int fd) {
  const char *env = getenv("VFIO_MIG_ENGINE_PIPE_SZ");
  if (env && env[0] == '0') return;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) (void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

/* ---------------- pipeline ---------------- */

typedef struct {
  unsigned char *buf; /* owned buffer (cap bytes) */
  size_t cap;
  unsigned char *data; /* the slot's bytes: buf, or inside map */
  size_t len;
  uint32_t crc;
  void *map; /* a read-only mapping of a regular-file source, unmapped by the consumer */
  uint64_t stream_end; /* framed input: stream offset after this record (for progress) */
  int crc_later; /* saving from a mapping: the writer computes the CRC right before writing,
                    while the bytes are on its core (one pass less over memory) */
  size_t map_len;
} slot;

typedef struct pipeline pipeline;
/* 1: slot filled, more may follow; 2: slot filled, end; 0: end, slot unused; -1: error */
typedef int (*produce_fn)(pipeline *p, slot *s);

struct pipeline {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  slot s[DP_SLOTS];
  uint64_t produced, consumed;
  int prod_done;
  int prod_waiting, cons_waiting; /* wake only a side that sleeps (fewer futex calls) */
  atomic_int stop; /* read without the lock by the producer */
  dp_error perr;
  produce_fn produce;
  void *ctx;
  int src_fd;
  int src_pollable; /* unused: kept for layout */
  enum src_mode mode;
  uint32_t chunk_size;
  int do_crc;
  int use_mmap; /* regular-file source: CRC from and write from a mapping (one copy less) */
  uint64_t limit; /* raw source: read at most this many bytes (0: no limit) */
  uint64_t taken; /* raw source: bytes read so far */
};

/* SIGBUS while reading a mapping (the file shrank under us) becomes an error. */
static _Thread_local sigjmp_buf *bus_jmp;

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
  (void)si;
  (void)uc;
  if (bus_jmp) siglongjmp(*bus_jmp, 1);
  signal(sig, SIG_DFL);
  raise(sig);
}

static int mmap_wanted(int fd) {
  const char *env = getenv("VFIO_MIG_ENGINE_MMAP");
  if (env && env[0] == '0') return 0;
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* Maps [pos, pos+len) of fd into sl and computes its CRC32C. 0 ok; 1 not mappable; -1 error (e set). */
static int map_range(slot *sl, int fd, uint64_t pos, size_t len, uint32_t *crc, dp_error *e) {
  uint64_t base = pos & ~(uint64_t)(page_size - 1);
  size_t delta = (size_t)(pos - base);
  void *m = mmap(NULL, delta + len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t)base);
  if (m == MAP_FAILED) return 1; /* not mappable: the caller reads instead */
  sigjmp_buf jb;
  if (sigsetjmp(jb, 1)) {
    bus_jmp = NULL;
    munmap(m, delta + len);
    dp_set_error(e, EK_ERRNO, EIO, 0, "the input file shrank while it was being read");
    return -1;
  }
  bus_jmp = &jb;
  if (crc) *crc = crc32c(0, (unsigned char *)m + delta, len);
  bus_jmp = NULL;
  sl->map = m;
  sl->map_len = delta + len;
  sl->data = (unsigned char *)m + delta;
  sl->len = len;
  return 0;
}

static void slot_unmap(slot *sl) {
  if (sl->map) munmap(sl->map, sl->map_len);
  sl->map = NULL;
}

static void *producer_main(void *arg) {
  pipeline *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (!atomic_load(&p->stop) && p->produced - p->consumed >= DP_SLOTS) {
      p->prod_waiting = 1;
      pthread_cond_wait(&p->cv, &p->mu);
      p->prod_waiting = 0;
    }
    if (atomic_load(&p->stop)) {
      p->prod_done = 1;
      pthread_cond_broadcast(&p->cv);
      pthread_mutex_unlock(&p->mu);
      return NULL;
    }
    slot *sl = &p->s[p->produced % DP_SLOTS];
    pthread_mutex_unlock(&p->mu);
    int r = p->produce(p, sl);
    pthread_mutex_lock(&p->mu);
    if (r == 1 || r == 2) p->produced++;
    if (r != 1) p->prod_done = 1;
    if (p->cons_waiting || r != 1) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (r != 1) return NULL;
  }
}

static int slot_reserve(slot *sl, size_t need, dp_error *e) {
  if (sl->cap >= need) return 0;
  free(sl->buf);
  sl->buf = NULL;
  sl->cap = 0;
  void *b = NULL;
  if (posix_memalign(&b, 4096, need) != 0) {
    dp_set_error(e, EK_ERRNO, ENOMEM, 0, "cannot allocate a %zu-byte buffer", need);
    return -1;
  }
  sl->buf = b;
  sl->cap = need;
  return 0;
}

/* Wait until fd is ready (after EAGAIN), or the pipeline is cancelled. 0 ok, -1 error. */
static int wait_fd(pipeline *p, int fd, short events, dp_error *e) {
  for (;;) {
    if ((p && atomic_load(&p->stop)) || dp_cancel_check()) {
      dp_set_error(e, EK_CANCELLED, ECANCELED, 0, "transfer cancelled");
      return -1;
    }
    struct pollfd pf = {fd, events, 0};
    int n = poll(&pf, 1, 200); /* bounded, so that a cancellation is seen within 200 ms */
    if (n < 0) {
      if (errno == EINTR) continue;
      dp_set_error(e, EK_ERRNO, errno, 0, "poll: %s", strerror(errno));
      return -1;
    }
    if (n > 0) return 0;
  }
}

static int cancelled(pipeline *p, dp_error *e) {
  if (!atomic_load(&p->stop) && !dp_cancel_check()) return 0;
  dp_set_error(e, EK_CANCELLED, ECANCELED, 0, "transfer cancelled");
  return 1;
}

/* Read exactly n bytes (less only at EOF). Returns bytes read, or -1 on error (e set). */
static ssize_t read_full(pipeline *p, int fd, unsigned char *buf, size_t n, dp_error *e) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r > 0) {
      got += (size_t)r;
    } else if (r == 0) {
      break;
    } else if (errno == EINTR) {
      if (cancelled(p, e)) return -1;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (wait_fd(p, fd, POLLIN, e)) return -1;
    } else {
      dp_set_error(e, EK_ERRNO, errno, 0, "read: %s", strerror(errno));
      return -1;
    }
  }
  return (ssize_t)got;
}

static int write_full(int fd, const struct iovec *iov_in, int cnt, dp_error *e) {
  struct iovec iov[4];
  memcpy(iov, iov_in, sizeof(struct iovec) * (size_t)cnt);
  int i = 0;
  while (i < cnt) {
    if (iov[i].iov_len == 0) {
      i++;
      continue;
    }
    ssize_t w = writev(fd, iov + i, cnt - i);
    if (w < 0) {
      if (errno == EINTR) {
        if (dp_cancel_check()) {
          dp_set_error(e, EK_CANCELLED, ECANCELED, 0, "transfer cancelled");
          return -1;
        }
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (wait_fd(NULL, fd, POLLOUT, e)) return -1;
        continue;
      }
      dp_set_error(e, EK_ERRNO, errno, 0, "write: %s", strerror(errno));
      return -1;
    }
    if (dp_cancel_check()) { /* a device that takes each write slowly must not hold a cancel */
      dp_set_error(e, EK_CANCELLED, ECANCELED, 0, "transfer cancelled");
      return -1;
    }
    size_t left = (size_t)w;
    while (i < cnt && left >= iov[i].iov_len) {
      left -= iov[i].iov_len;
      i++;
    }
    if (i < cnt) {
      iov[i].iov_base = (char *)iov[i].iov_base + left;
      iov[i].iov_len -= left;
    }
  }
  return 0;
}

static int write_buf(int fd, const void *b, size_t n, dp_error *e) {
  struct iovec v = {(void *)b, n};
  return write_full(fd, &v, 1, e);
}

/* Raw source: fill a slot from p->src_fd. */
static int produce_raw(pipeline *p, slot *sl) {
  if (p->use_mmap) {
    struct stat st;
    off_t pos = lseek(p->src_fd, 0, SEEK_CUR);
    if (pos < 0 || fstat(p->src_fd, &st) < 0) {
      dp_set_error(&p->perr, EK_ERRNO, errno, 0, "lseek/fstat: %s", strerror(errno));
      return -1;
    }
    if (st.st_size <= pos) return 0;
    size_t len = (uint64_t)(st.st_size - pos) < p->chunk_size ? (size_t)(st.st_size - pos) : p->chunk_size;
    if (p->limit) {
      if (p->taken >= p->limit) return 0;
      if (p->limit - p->taken < len) len = (size_t)(p->limit - p->taken);
    }
    p->taken += len;
    int mr = map_range(sl, p->src_fd, (uint64_t)pos, len, NULL, &p->perr);
    if (mr < 0) return -1;
    if (mr > 0) {
      p->use_mmap = 0;
      return produce_raw(p, sl);
    }
    sl->crc_later = p->do_crc;
    if (lseek(p->src_fd, pos + (off_t)len, SEEK_SET) < 0) {
      dp_set_error(&p->perr, EK_ERRNO, errno, 0, "lseek: %s", strerror(errno));
      return -1;
    }
    return 1;
  }
  if (slot_reserve(sl, p->chunk_size, &p->perr)) return -1;
  sl->data = sl->buf;
  size_t want = p->chunk_size;
  if (p->limit) {
    if (p->taken >= p->limit) return 0;
    if (p->limit - p->taken < want) want = (size_t)(p->limit - p->taken);
  }
  size_t got = 0;
  int ended = 0;
  while (got < want) {
    ssize_t r = read(p->src_fd, sl->buf + got, want - got);
    if (r > 0) {
      got += (size_t)r;
      continue;
    }
    if (r == 0) {
      ended = 1; /* EOF in STOP_COPY; "empty for now" in PRE_COPY (mtty) */
      break;
    }
    if (errno == EINTR) {
      if (cancelled(p, &p->perr)) return -1;
      continue;
    }
    if (p->mode == SRC_UNTIL_EMPTY && (errno == ENOMSG || errno == EAGAIN || errno == EWOULDBLOCK)) {
      ended = 1;
      break;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (wait_fd(p, p->src_fd, POLLIN, &p->perr)) return -1;
      continue;
    }
    dp_set_error(&p->perr, EK_ERRNO, errno, 0, "read from source: %s", strerror(errno));
    return -1;
  }
  sl->len = got;
  p->taken += got;
  if (p->limit && p->taken >= p->limit) ended = 1;
  if (got == 0) return 0;
  if (p->do_crc) sl->crc = crc32c(0, sl->buf, got);
  return ended ? 2 : 1;
}

typedef struct {
  stream_in *si;
  int check_eof;
} framed_ctx;

static uint32_t rec_hcrc(const unsigned char *h, uint64_t rec_off) {
  unsigned char o[8];
  put64(o, rec_off);
  return crc32c(crc32c(0, h, 12), o, 8);
}

/* Framed source: read and verify one record. */
static int produce_framed(pipeline *p, slot *sl) {
  framed_ctx *c = p->ctx;
  stream_in *si = c->si;
  dp_error *e = &p->perr;
  if (si->done) return 0;
  uint64_t rec_off = si->offset;
  unsigned char h[SF_REC_HDR_LEN];
  ssize_t n = read_full(p, si->fd, h, sizeof h, e);
  if (n < 0) return -1;
  if ((size_t)n < sizeof h) {
    corrupt(e, rec_off + (uint64_t)n, "truncated (end of input inside a record header)");
    return -1;
  }
  uint32_t tag = get32(h), len = get32(h + 4), pcrc = get32(h + 8), hcrc = get32(h + 12);
  if (rec_hcrc(h, rec_off) != hcrc) {
    corrupt(e, rec_off, "record header CRC mismatch");
    return -1;
  }
  si->offset += sizeof h;
  uint64_t pay_off = si->offset;
  if (tag == SF_TAG_CHUNK) {
    if (len == 0 || len > SF_MAX_CHUNK) {
      corrupt(e, rec_off, "bad chunk length");
      return -1;
    }
    if (p->use_mmap) {
      struct stat st;
      off_t pos = lseek(si->fd, 0, SEEK_CUR);
      if (pos >= 0 && fstat(si->fd, &st) == 0 && st.st_size - pos >= (off_t)len) {
        uint32_t crc = 0;
        int mr = map_range(sl, si->fd, (uint64_t)pos, len, &crc, e);
        if (mr < 0) return -1;
        if (mr > 0) {
          p->use_mmap = 0;
          goto read_payload;
        }
        if (crc != pcrc) {
          slot_unmap(sl);
          corrupt(e, pay_off, "chunk CRC32C mismatch");
          return -1;
        }
        if (lseek(si->fd, pos + (off_t)len, SEEK_SET) < 0) {
          slot_unmap(sl);
          dp_set_error(e, EK_ERRNO, errno, 0, "lseek: %s", strerror(errno));
          return -1;
        }
        si->offset += len;
        si->payload += len;
        si->chunks++;
        sl->stream_end = si->offset;
        return 1;
      }
      /* not enough left in the file: the read path reports the exact truncation point */
    }
  read_payload:
    if (slot_reserve(sl, len, e)) return -1;
    sl->data = sl->buf;
    n = read_full(p, si->fd, sl->buf, len, e);
    if (n < 0) return -1;
    if ((size_t)n < len) {
      corrupt(e, pay_off + (uint64_t)n, "truncated (end of input inside a chunk)");
      return -1;
    }
    if (crc32c(0, sl->buf, len) != pcrc) {
      corrupt(e, pay_off, "chunk CRC32C mismatch");
      return -1;
    }
    si->offset += len;
    si->payload += len;
    si->chunks++;
    sl->len = len;
    sl->stream_end = si->offset;
    return 1;
  }
  if (tag == SF_TAG_TRAILER) {
    unsigned char t[SF_TRAILER_PAYLOAD_LEN];
    if (len != sizeof t) {
      corrupt(e, rec_off, "bad trailer length");
      return -1;
    }
    n = read_full(p, si->fd, t, sizeof t, e);
    if (n < 0) return -1;
    if ((size_t)n < sizeof t) {
      corrupt(e, pay_off + (uint64_t)n, "truncated (end of input inside the trailer)");
      return -1;
    }
    if (crc32c(0, t, sizeof t) != pcrc) {
      corrupt(e, pay_off, "trailer CRC32C mismatch");
      return -1;
    }
    if (get64(t) != si->payload || get64(t + 8) != si->chunks) {
      corrupt(e, pay_off, "trailer totals do not match the chunks read (chunks missing)");
      return -1;
    }
    si->offset += sizeof t;
    si->done = 1;
    if (c->check_eof) {
      unsigned char extra;
      n = read_full(p, si->fd, &extra, 1, e);
      if (n < 0) return -1;
      if (n > 0) {
        corrupt(e, si->offset, "unexpected data after the trailer");
        return -1;
      }
    }
    return 0;
  }
  corrupt(e, rec_off, "unknown record type");
  return -1;
}

typedef int (*consume_fn)(void *ctx, slot *sl, dp_error *e);

/* pthread_cond_timedwait for at most ms (p->mu held). */
static void cond_wait_ms(pipeline *p, long ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += ms * 1000 * 1000;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

/* Runs the pipeline; the calling thread consumes. Returns 0 or -1 (e set). */
static int run_pipeline(pipeline *p, consume_fn consume, void *cctx, dp_progress *pr,
                        uint64_t *stream_bytes, dp_result *res, dp_error *e) {
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  pthread_t th;
  int rc = pthread_create(&th, NULL, producer_main, p);
  if (rc != 0) {
    dp_set_error(e, EK_ERRNO, rc, 0, "pthread_create: %s", strerror(rc));
    return -1;
  }
  double t0 = now_s(), last = t0;
  int failed = 0;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    int cancel = 0;
    while (p->produced == p->consumed && !p->prod_done) {
      /* A producer blocked on a silent peer must not hold us: look for a cancellation. */
      if (dp_cancel_check()) {
        cancel = 1;
        break;
      }
      p->cons_waiting = 1;
      cond_wait_ms(p, 200);
      p->cons_waiting = 0;
    }
    int have = p->produced != p->consumed;
    pthread_mutex_unlock(&p->mu);
    if (cancel) {
      dp_set_error(e, EK_CANCELLED, ECANCELED, 0, "transfer cancelled");
      failed = 1;
      break;
    }
    /* Slots produced before a producer error were verified: they are still written. */
    if (!have) break;
    slot *sl = &p->s[p->consumed % DP_SLOTS];
    if (dp_cancel_check()) {
      dp_set_error(e, EK_CANCELLED, ECANCELED, 0, "transfer cancelled");
      failed = 1;
      break;
    }
    if (consume(cctx, sl, e)) {
      failed = 1;
      break;
    }
    res->bytes += sl->len;
    res->chunks++;
    uint64_t pos = sl->stream_end ? sl->stream_end : (stream_bytes ? *stream_bytes : 0);
    slot_unmap(sl);
    pthread_mutex_lock(&p->mu);
    p->consumed++;
    /* Wake a waiting producer once half the ring is free (or the ring is empty). */
    if (p->prod_waiting && (p->produced - p->consumed <= DP_SLOTS / 2)) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (pr && pr->fn) {
      double t = now_s();
      if (t - last >= 0.2) {
        last = t;
        pr->fn(pr->ctx, res->bytes, pos, t - t0);
      }
    }
  }
  if (failed) {
    /* Stop the producer; it may be blocked in read() on a pipe: interrupt it until it is out. */
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    while (!p->prod_done) {
      pthread_kill(th, SIGUSR1);
      cond_wait_ms(p, 10);
    }
    pthread_mutex_unlock(&p->mu);
  }
  pthread_join(th, NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  for (int i = 0; i < DP_SLOTS; i++) {
    slot_unmap(&p->s[i]);
    free(p->s[i].buf);
  }
  if (!failed && p->perr.kind != EK_NONE) {
    *e = p->perr;
    return -1;
  }
  return failed ? -1 : 0;
}

/* ---------------- output stream ---------------- */

int sout_begin(stream_out *so, const char *header, size_t hlen, dp_error *e) {
  so->offset = so->payload = so->chunks = 0;
  so->is_fifo = fd_is_fifo(so->fd);
  if (so->raw) return 0;
  if (hlen == 0 || hlen > SF_MAX_HEADER) {
    dp_set_error(e, EK_ERRNO, EINVAL, 0, "header must be 1..%u bytes", SF_MAX_HEADER);
    return -1;
  }
  unsigned char pre[SF_PREAMBLE_LEN], hc[4];
  memcpy(pre, SF_MAGIC, 8);
  put32(pre + 8, SF_VERSION);
  put32(pre + 12, 0);
  put32(pre + 16, (uint32_t)hlen);
  put32(pre + 20, crc32c(0, pre, 20));
  put32(hc, crc32c(0, header, hlen));
  struct iovec v[3] = {{pre, sizeof pre}, {(void *)header, hlen}, {hc, 4}};
  if (write_full(so->fd, v, 3, e)) return -1;
  so->offset = sizeof pre + hlen + 4;
  return 0;
}

static int consume_framed(void *ctx, slot *sl, dp_error *e) {
  stream_out *so = ctx;
  if (sl->crc_later) {
    sigjmp_buf jb;
    if (sigsetjmp(jb, 1)) {
      bus_jmp = NULL;
      dp_set_error(e, EK_ERRNO, EIO, 0, "the input file shrank while it was being read");
      return -1;
    }
    bus_jmp = &jb;
    sl->crc = crc32c(0, sl->data, sl->len);
    bus_jmp = NULL;
    sl->crc_later = 0;
  }
  unsigned char h[SF_REC_HDR_LEN];
  put32(h, SF_TAG_CHUNK);
  put32(h + 4, (uint32_t)sl->len);
  put32(h + 8, sl->crc);
  put32(h + 12, rec_hcrc(h, so->offset));
  struct iovec v[2] = {{h, sizeof h}, {sl->data, sl->len}};
  if (write_full(so->fd, v, 2, e)) return -1;
  so->offset += sizeof h + sl->len;
  so->payload += sl->len;
  so->chunks++;
  return 0;
}

typedef struct {
  int fd;
  uint64_t *offset;
} raw_sink;

static int consume_raw(void *ctx, slot *sl, dp_error *e) {
  raw_sink *rs = ctx;
  if (rs->fd >= 0 && write_buf(rs->fd, sl->data, sl->len, e)) return -1;
  if (rs->offset) *rs->offset += sl->len;
  return 0;
}

int sout_transfer(stream_out *so, int src_fd, enum src_mode mode, int src_is_file, uint64_t max_bytes,
                  dp_progress *pr, dp_result *res, dp_error *e) {
  memset(res, 0, sizeof *res);
  pipeline *p = calloc(1, sizeof *p);
  if (!p) {
    dp_set_error(e, EK_ERRNO, ENOMEM, 0, "out of memory");
    return -1;
  }
  p->produce = produce_raw;
  p->src_fd = src_fd;
  p->src_pollable = !fd_is_regular(src_fd);
  p->mode = mode;
  p->limit = max_bytes;
  p->chunk_size = so->chunk_size ? so->chunk_size : SF_DEFAULT_CHUNK;
  p->do_crc = !so->raw;
  /* Never for a device data_fd: anon inodes may report S_IFREG (size 0) on new kernels. */
  p->use_mmap = src_is_file && mode == SRC_UNTIL_EOF && mmap_wanted(src_fd);
  fd_grow_pipe(src_fd);
  int rc;
  if (so->raw) {
    raw_sink rs = {so->fd, &so->offset};
    rc = run_pipeline(p, consume_raw, &rs, pr, &so->offset, res, e);
    if (!rc) so->payload += res->bytes;
  } else {
    rc = run_pipeline(p, consume_framed, so, pr, &so->offset, res, e);
  }
  res->source_ended = rc == 0;
  free(p);
  return rc;
}

int sout_end(stream_out *so, dp_error *e) {
  if (so->raw) return 0;
  unsigned char h[SF_REC_HDR_LEN], t[SF_TRAILER_PAYLOAD_LEN];
  put64(t, so->payload);
  put64(t + 8, so->chunks);
  put32(h, SF_TAG_TRAILER);
  put32(h + 4, sizeof t);
  put32(h + 8, crc32c(0, t, sizeof t));
  put32(h + 12, rec_hcrc(h, so->offset));
  struct iovec v[2] = {{h, sizeof h}, {t, sizeof t}};
  if (write_full(so->fd, v, 2, e)) return -1;
  so->offset += sizeof h + sizeof t;
  return 0;
}

/* ---------------- input stream ---------------- */

int sin_begin(stream_in *si, dp_error *e) {
  si->offset = si->payload = si->chunks = 0;
  si->done = 0;
  si->header = NULL;
  si->header_len = 0;
  struct stat st;
  si->file_size = (fstat(si->fd, &st) == 0 && S_ISREG(st.st_mode)) ? (uint64_t)st.st_size : 0;
  if (si->raw) return 0;
  fd_grow_pipe(si->fd);
  pipeline pl;
  memset(&pl, 0, sizeof pl);
  pl.src_pollable = !fd_is_regular(si->fd);
  unsigned char pre[SF_PREAMBLE_LEN];
  ssize_t n = read_full(&pl, si->fd, pre, sizeof pre, e);
  if (n < 0) return -1;
  for (ssize_t i = 0; i < n && i < 8; i++) {
    if (pre[i] != (unsigned char)SF_MAGIC[i]) {
      corrupt(e, (uint64_t)i, "bad magic (not a vfio-mig stream)");
      return -1;
    }
  }
  if ((size_t)n < sizeof pre) {
    corrupt(e, (uint64_t)n, "truncated (end of input inside the preamble)");
    return -1;
  }
  if (crc32c(0, pre, 20) != get32(pre + 20)) {
    corrupt(e, 8, "preamble CRC32C mismatch");
    return -1;
  }
  si->version = get32(pre + 8);
  if (si->version != SF_VERSION) {
    dp_set_error(e, EK_VERSION, EPROTONOSUPPORT, 8,
                 "unsupported stream format version %u (this engine reads version %u)", si->version,
                 SF_VERSION);
    return -1;
  }
  uint32_t flags = get32(pre + 12), hlen = get32(pre + 16);
  if (flags != 0) {
    dp_set_error(e, EK_VERSION, EPROTONOSUPPORT, 12, "unsupported stream flags 0x%x", flags);
    return -1;
  }
  if (hlen == 0 || hlen > SF_MAX_HEADER) {
    corrupt(e, 16, "bad header length");
    return -1;
  }
  si->offset = sizeof pre;
  char *hdr = malloc((size_t)hlen + 5);
  if (!hdr) {
    dp_set_error(e, EK_ERRNO, ENOMEM, 0, "out of memory");
    return -1;
  }
  n = read_full(&pl, si->fd, (unsigned char *)hdr, (size_t)hlen + 4, e);
  if (n < 0) {
    free(hdr);
    return -1;
  }
  if ((size_t)n < (size_t)hlen + 4) {
    free(hdr);
    corrupt(e, si->offset + (uint64_t)n, "truncated (end of input inside the header)");
    return -1;
  }
  if (crc32c(0, hdr, hlen) != get32((unsigned char *)hdr + hlen)) {
    free(hdr);
    corrupt(e, si->offset, "header CRC32C mismatch");
    return -1;
  }
  hdr[hlen] = 0;
  char jerr[128];
  if (json_validate_value(hdr, hlen, jerr, sizeof jerr) || memchr(hdr, 0, hlen)) {
    free(hdr);
    corrupt(e, si->offset, "header is not valid JSON");
    return -1;
  }
  si->header = hdr;
  si->header_len = hlen;
  si->offset += (uint64_t)hlen + 4;
  return 0;
}

int sin_transfer(stream_in *si, int dst_fd, int check_eof, dp_progress *pr, dp_result *res,
                 dp_error *e) {
  memset(res, 0, sizeof *res);
  pipeline *p = calloc(1, sizeof *p);
  if (!p) {
    dp_set_error(e, EK_ERRNO, ENOMEM, 0, "out of memory");
    return -1;
  }
  framed_ctx fc = {si, check_eof};
  p->src_fd = si->fd;
  p->src_pollable = !fd_is_regular(si->fd);
  p->ctx = &fc;
  uint64_t dummy = 0;
  raw_sink rs = {dst_fd, si->raw ? &si->offset : &dummy};
  if (si->raw) {
    p->produce = produce_raw;
    p->mode = SRC_UNTIL_EOF;
    p->chunk_size = SF_DEFAULT_CHUNK;
  } else {
    p->produce = produce_framed;
    p->use_mmap = mmap_wanted(si->fd);
  }
  int rc = run_pipeline(p, consume_raw, &rs, pr, si->raw ? &si->offset : NULL, res, e);
  if (!rc && si->raw) {
    si->payload += res->bytes;
    si->done = 1;
  }
  free(p);
  return rc;
}
