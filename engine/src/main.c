/*
 * vfio-mig-engine: the VFIO migration v2 mechanism behind vfio-mig.
 * Requests: one JSON object per line on stdin. Responses and events: one JSON object per
 * line on stdout. See docs/engine-protocol.md. Policy (which states, recovery, several
 * devices) lives in the TypeScript caller; this program never decides recovery.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "errnames.h"
#include "json.h"
#include "stream.h"
#include "vfio.h"

#define PROTOCOL_VERSION 1
#define ENGINE_VERSION "0.1.0"
#define MAX_LINE (8u << 20)

static struct {
  int container, group, device, data_fd;
  int data_debug; /* data_fd attached with attach_data (testing aid) */
  char name[64];
  const char *bus;
  uint64_t mig_flags;
  int mig_supported;
  int role; /* what this engine did to the device, undone if its caller abandons it */
} D = {-1, -1, -1, -1, 0, "", NULL, 0, 0, 0};

enum { ROLE_NONE = 0, ROLE_SOURCE, ROLE_DEST };

/* Abandonment (docs/engine-protocol.md): the caller closed the request pipe, its end of
 * stdout, or sent SIGTERM. With undo_on_abandon the engine then puts back what it did: a
 * source it moved out of RUNNING returns to RUNNING, a destination it put in RESUMING that
 * is not RUNNING is reset, an output file it created is removed. Nothing else. */
static volatile sig_atomic_t g_term;
static volatile sig_atomic_t g_armed;
static int g_stdout_dead;
static int g_stdin_stream; /* stdin is a pipe or socket: it can be watched during transfers */
static int g_watch;        /* no request is queued behind the running one */
static int g_interactive;  /* hello interactive: one request at a time, so a new line means cancel */
static char so_path[PATH_MAX]; /* an output file this engine created, removed if abandoned */
static stream_out SO;
static int so_active;
static int so_fsync;
static int so_failed; /* a save into the stream failed: it must not get a trailer */
static stream_in SI;
static int si_active;
static int si_check_eof;
static int si_failed; /* a load from the stream failed: its position is meaningless */

typedef struct {
  const jfield *id;
  const char *op;
} req;

/* ---------------- output ---------------- */

static void shutdown_all(void);

static void emit(jw *w) {
  if (g_stdout_dead) return;
  if (jw_emit(w, STDOUT_FILENO) < 0) {
    /* Nobody reads our answers: the caller is gone. The main loop undoes and exits. */
    g_stdout_dead = 1;
    g_term = 1;
  }
}

/* dp_cancel_check: SIGTERM, a gone reader, or (while nothing is queued) a new request line
 * (the caller's `cancel`) or the end of the request pipe when armed. */
static int should_cancel(void) {
  if (g_term) return 1;
  if (!g_watch) return 0;
  struct pollfd pf = {STDIN_FILENO, POLLIN, 0};
  if (poll(&pf, 1, 0) <= 0) return 0;
  if (pf.revents & POLLIN) {
    char c;
    ssize_t n = recv(STDIN_FILENO, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && errno == ENOTSOCK)) return 1; /* a request is waiting */
    if (n < 0) return 0;
  }
  return g_armed; /* end of input */
}

static void on_term(int sig) {
  /* Armed, SIGINT and SIGHUP go to the caller (same terminal): it cancels and recovers, and
   * if it dies of them the closed pipe tells us. */
  if (sig == SIGTERM || !g_armed) g_term = 1;
}

static void begin(jw *w, const req *r, int ok) {
  jw_begin(w);
  jw_u64(w, "v", PROTOCOL_VERSION);
  if (r->id && (r->id->type == JV_STR || r->id->type == JV_NUM))
    jw_rawval(w, "id", r->id->raw, r->id->raw_len);
  else
    jw_null(w, "id");
  if (r->op) jw_str(w, "op", r->op);
  jw_bool(w, "ok", ok);
}

/* Starts an error response; the caller may add fields, then emit(). */
static void err_begin(jw *w, const req *r, int err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void err_begin(jw *w, const req *r, int err, const char *code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  begin(w, r, 0);
  jw_i64(w, "errno", err);
  jw_str(w, "error", errno_name(err));
  jw_str(w, "code", code ? code : errno_name(err));
  jw_str(w, "message", msg);
}

#define FAIL(r, err, code, ...)                   \
  do {                                            \
    jw w_;                                        \
    err_begin(&w_, r, err, code, __VA_ARGS__);    \
    emit(&w_);                                    \
    return -1;                                    \
  } while (0)

/* errno failure of a syscall; ENOTTY means "not supported". */
static int fail_errno(const req *r, int err, const char *what) {
  jw w;
  if (err == ENOTTY)
    err_begin(&w, r, err, "NOT_SUPPORTED", "%s: not supported by this device or kernel", what);
  else
    err_begin(&w, r, err, NULL, "%s: %s", what, strerror(err));
  emit(&w);
  return -1;
}

static int fail_dp(const req *r, const dp_error *e) {
  jw w;
  const char *code = e->kind == EK_CORRUPT    ? "STREAM_CORRUPT"
                     : e->kind == EK_VERSION  ? "STREAM_VERSION"
                     : e->kind == EK_CANCELLED ? "CANCELLED"
                                               : NULL;
  err_begin(&w, r, e->err ? e->err : EIO, code, "%s", e->msg);
  if (e->kind == EK_CORRUPT || e->kind == EK_VERSION) jw_u64(&w, "offset", e->offset);
  emit(&w);
  return -1;
}

typedef struct {
  const req *r;
  uint64_t estimate;
} progress_ctx;

static void on_progress(void *ctx, uint64_t bytes, uint64_t stream_bytes, double elapsed) {
  progress_ctx *pc = ctx;
  jw w;
  jw_begin(&w);
  jw_u64(&w, "v", PROTOCOL_VERSION);
  jw_str(&w, "event", "progress");
  if (pc->r->id && (pc->r->id->type == JV_STR || pc->r->id->type == JV_NUM))
    jw_rawval(&w, "id", pc->r->id->raw, pc->r->id->raw_len);
  else
    jw_null(&w, "id");
  jw_str(&w, "op", pc->r->op);
  jw_u64(&w, "bytes", bytes);
  jw_u64(&w, "stream_bytes", stream_bytes);
  jw_u64(&w, "elapsed_ms", (uint64_t)(elapsed * 1000));
  double rate = elapsed > 0 ? (double)bytes / elapsed : 0;
  jw_u64(&w, "rate", (uint64_t)rate);
  if (pc->estimate) {
    jw_u64(&w, "estimate", pc->estimate);
    if (rate > 0 && pc->estimate > bytes)
      jw_u64(&w, "eta_ms", (uint64_t)((double)(pc->estimate - bytes) / rate * 1000));
    else
      jw_u64(&w, "eta_ms", 0);
  }
  emit(&w);
}

/* ---------------- arguments ---------------- */

static int check_keys(const req *r, const jobj *o, const char *const *allowed) {
  for (int i = 0; i < o->n; i++) {
    const char *k = o->f[i].key;
    if (!strcmp(k, "v") || !strcmp(k, "id") || !strcmp(k, "op")) continue;
    int ok = 0;
    for (const char *const *a = allowed; *a; a++)
      if (!strcmp(*a, k)) ok = 1;
    if (!ok) FAIL(r, EINVAL, "BAD_REQUEST", "unknown argument '%s' for op %s", k, r->op);
  }
  return 0;
}

/* Returns 1 if present (value in *out), 0 if absent, -1 (response sent) if invalid. */
static int arg_u64(const req *r, const jobj *o, const char *k, uint64_t *out) {
  const jfield *f = jobj_get(o, k);
  if (!f || f->type == JV_NULL) return 0;
  if (f->type != JV_NUM || f->val[0] == '-' || strpbrk(f->val, ".eE"))
    FAIL(r, EINVAL, "BAD_REQUEST", "argument '%s' must be a non-negative integer", k);
  errno = 0;
  unsigned long long v = strtoull(f->val, NULL, 10);
  if (errno) FAIL(r, EINVAL, "BAD_REQUEST", "argument '%s' is out of range", k);
  *out = v;
  return 1;
}

static int arg_bool(const req *r, const jobj *o, const char *k, int *out) {
  const jfield *f = jobj_get(o, k);
  if (!f || f->type == JV_NULL) return 0;
  if (f->type != JV_BOOL) FAIL(r, EINVAL, "BAD_REQUEST", "argument '%s' must be a boolean", k);
  *out = f->boolean;
  return 1;
}

static int arg_str(const req *r, const jobj *o, const char *k, const char **out) {
  const jfield *f = jobj_get(o, k);
  if (!f || f->type == JV_NULL) return 0;
  if (f->type != JV_STR) FAIL(r, EINVAL, "BAD_REQUEST", "argument '%s' must be a string", k);
  *out = f->val;
  return 1;
}

static int is_engine_fd(int fd) {
  return fd == D.container || fd == D.group || fd == D.device || fd == D.data_fd ||
         (so_active && fd == SO.fd) || (si_active && fd == SI.fd);
}

/* Opens an endpoint given as <pfx>path or <pfx>fd. Returns 1 opened, 0 absent, -1 error. */
static int arg_endpoint(const req *r, const jobj *o, const char *pathkey, const char *fdkey,
                        int for_write, int exclusive, int *fd, int *owned) {
  const char *path = NULL;
  uint64_t num = 0;
  int hp = arg_str(r, o, pathkey, &path);
  if (hp < 0) return -1;
  int hf = arg_u64(r, o, fdkey, &num);
  if (hf < 0) return -1;
  if (hp && hf) FAIL(r, EINVAL, "BAD_REQUEST", "give either '%s' or '%s', not both", pathkey, fdkey);
  if (hf) {
    if (num < 3 || num > INT_MAX)
      FAIL(r, EINVAL, "BAD_REQUEST", "'%s' must be an inherited descriptor >= 3 (0-2 carry the protocol)",
           fdkey);
    int f = (int)num;
    int fl = fcntl(f, F_GETFL);
    if (fl < 0) FAIL(r, EBADF, "BAD_FD", "descriptor %d is not open in the engine", f);
    if (is_engine_fd(f)) FAIL(r, EBADF, "BAD_FD", "descriptor %d is in use by the engine", f);
    int acc = fl & O_ACCMODE;
    if (for_write ? acc == O_RDONLY : acc == O_WRONLY)
      FAIL(r, EBADF, "BAD_FD", "descriptor %d is not open for %s", f, for_write ? "writing" : "reading");
    (void)fcntl(f, F_SETFD, FD_CLOEXEC);
    *fd = f;
    *owned = 0;
    return 1;
  }
  if (hp) {
    if (!path[0]) FAIL(r, EINVAL, "BAD_REQUEST", "'%s' is empty", pathkey);
    int flags = for_write ? O_WRONLY | O_CREAT | O_TRUNC | (exclusive ? O_EXCL : 0) : O_RDONLY;
    int f = open(path, flags | O_CLOEXEC, 0600);
    if (f < 0) {
      int e = errno;
      FAIL(r, e, NULL, "cannot open %s: %s", path, strerror(e));
    }
    *fd = f;
    *owned = 1;
    return 1;
  }
  return 0;
}

/* ---------------- device ---------------- */

static int feature(int fd, void *arg) { return ioctl(fd, VME_VFIO_DEVICE_FEATURE, arg); }

static int get_state(uint32_t *st) {
  struct vme_feature_state fs = {sizeof fs, VME_FEATURE_GET | VME_FEATURE_MIG_DEVICE_STATE, 0, -1};
  if (feature(D.device, &fs) < 0) return -errno;
  *st = fs.device_state;
  return 0;
}

static int query_mig_flags(uint64_t *flags) {
  struct vme_feature_migration fm = {sizeof fm, VME_FEATURE_GET | VME_FEATURE_MIGRATION, 0};
  if (feature(D.device, &fm) < 0) return -errno;
  *flags = fm.mig_flags;
  return 0;
}

static void mig_flag_names(jw *w, uint64_t f) {
  jw_arr_begin(w, "migration_flags_names");
  if (f & VME_MIGRATION_STOP_COPY) jw_arr_str(w, "STOP_COPY");
  if (f & VME_MIGRATION_P2P) jw_arr_str(w, "P2P");
  if (f & VME_MIGRATION_PRE_COPY) jw_arr_str(w, "PRE_COPY");
  jw_arr_end(w);
}

static void close_data(void) {
  if (D.data_fd >= 0) close(D.data_fd);
  D.data_fd = -1;
  D.data_debug = 0;
}

static void close_device(void) {
  close_data();
  if (D.device >= 0) close(D.device);
  if (D.group >= 0) close(D.group);
  if (D.container >= 0) close(D.container);
  D.device = D.group = D.container = -1;
  D.name[0] = 0;
  D.bus = NULL;
  D.mig_flags = 0;
  D.mig_supported = 0;
  D.role = ROLE_NONE;
}

static int need_device(const req *r) {
  if (D.device < 0) FAIL(r, ENODEV, "NO_DEVICE", "no device is open (use op open)");
  return 0;
}

static int need_data(const req *r) {
  if (D.data_fd < 0)
    FAIL(r, EBADF, "NO_DATA_FD", "no migration data session (set a saving state or RESUMING first)");
  return 0;
}

static int is_hex(const char *s, int n) {
  for (int i = 0; i < n; i++)
    if (!isxdigit((unsigned char)s[i])) return 0;
  return 1;
}

/* Strict device-name check; writes the canonical name. Returns bus or NULL. */
static const char *classify_device(const char *s, char *out, size_t outlen) {
  size_t n = strlen(s);
  if (n == 36 && is_hex(s, 8) && s[8] == '-' && is_hex(s + 9, 4) && s[13] == '-' &&
      is_hex(s + 14, 4) && s[18] == '-' && is_hex(s + 19, 4) && s[23] == '-' && is_hex(s + 24, 12)) {
    snprintf(out, outlen, "%s", s);
    for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
    return "mdev";
  }
  const char *b = s;
  char dom[5] = "0000";
  if (n == 12 && is_hex(s, 4) && s[4] == ':') {
    memcpy(dom, s, 4);
    b = s + 5;
    n -= 5;
  }
  if (n == 7 && is_hex(b, 2) && b[2] == ':' && is_hex(b + 3, 2) && b[5] == '.' && b[6] >= '0' &&
      b[6] <= '7') {
    int dev = (int)strtol((char[]){b[3], b[4], 0}, NULL, 16);
    if (dev > 0x1f) return NULL;
    snprintf(out, outlen, "%s:%.7s", dom, b);
    for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
    return "pci";
  }
  return NULL;
}

static int safe_root(const char *root) {
  if (root[0] != '/' || strlen(root) > 1024) return 0;
  const char *p = root;
  while (*p) {
    while (*p == '/') p++;
    const char *q = p;
    while (*q && *q != '/') q++;
    if ((q - p == 2 && p[0] == '.' && p[1] == '.') || (q - p == 1 && p[0] == '.')) return 0;
    p = q;
  }
  return 1;
}

/* Whether a region carries the deprecated v1 migration type (kernels 5.8 to 5.17). */
static int has_v1_region(uint32_t n) {
  for (uint32_t i = 0; i < n && i < 64; i++) {
    struct vme_region_info ri = {sizeof ri, 0, i, 0, 0, 0};
    if (ioctl(D.device, VME_VFIO_DEVICE_GET_REGION_INFO, &ri) < 0) continue;
    if (!(ri.flags & VME_REGION_INFO_FLAG_CAPS) || ri.argsz <= sizeof ri || ri.argsz > 65536) continue;
    unsigned char *buf = calloc(1, ri.argsz);
    if (!buf) return 0;
    struct vme_region_info *full = (struct vme_region_info *)(void *)buf;
    full->argsz = ri.argsz;
    full->index = i;
    uint32_t type = 0, sub = 0;
    int found = ioctl(D.device, VME_VFIO_DEVICE_GET_REGION_INFO, buf) == 0 &&
                vme_region_type(buf, ri.argsz, &type, &sub) == 1 &&
                type == VME_REGION_TYPE_MIGRATION_DEPRECATED && sub == VME_REGION_SUBTYPE_MIGRATION_DEPRECATED;
    free(buf);
    if (found) return 1;
  }
  return 0;
}

/* A failed step of open, named with its node (the caller's path). */
static int fail_node(const req *r, int err, const char *what, const char *node) {
  char m[1100];
  snprintf(m, sizeof m, "%s %s%s", what, node, err == EBUSY ? " (in use by another process)" : "");
  return fail_errno(r, err, m);
}

/* An absolute path from the caller, free of '.' and '..' (the caller resolved it). */
static int arg_path(const req *r, const jobj *o, const char *k, const char **out) {
  int rc = arg_str(r, o, k, out);
  if (rc > 0 && !safe_root(*out))
    FAIL(r, EINVAL, "UNSAFE_NAME", "'%s' must be an absolute path without '.' or '..'", k);
  return rc;
}

/* Through the VFIO device cdev bound to an iommufd (6.6+): the device gets its own IOAS, as
 * with the group path's empty Type1v2 container (no DMA is mapped; migration needs none). */
static int open_cdev(const req *r, const char *cdev, const char *iommu, int *devfd, int *iommufd) {
  const char *what = "open", *node = cdev;
  int e = 0;
  *iommufd = -1;
  *devfd = open(cdev, O_RDWR | O_CLOEXEC);
  if (*devfd < 0) { e = errno; goto fail; }
  node = iommu;
  *iommufd = open(iommu, O_RDWR | O_CLOEXEC);
  if (*iommufd < 0) { e = errno; goto fail; }
  node = cdev;
  struct vme_bind_iommufd bind = {sizeof bind, 0, *iommufd, 0};
  what = "VFIO_DEVICE_BIND_IOMMUFD";
  if (ioctl(*devfd, VME_VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) { e = errno; goto fail; }
  struct vme_ioas_alloc ioas = {sizeof ioas, 0, 0};
  what = "IOMMU_IOAS_ALLOC";
  node = iommu;
  if (ioctl(*iommufd, VME_IOMMU_IOAS_ALLOC, &ioas) < 0) { e = errno; goto fail; }
  struct vme_attach_iommufd_pt at = {sizeof at, 0, ioas.out_ioas_id};
  what = "VFIO_DEVICE_ATTACH_IOMMUFD_PT";
  node = cdev;
  if (ioctl(*devfd, VME_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) < 0) { e = errno; goto fail; }
  return 0;
fail:
  if (*devfd >= 0) close(*devfd);
  if (*iommufd >= 0) close(*iommufd);
  *devfd = *iommufd = -1;
  return fail_node(r, e, what, node);
}

/* The caller resolved every path (vfio-mig's HostLayout): either the group and container, or
 * the device cdev and /dev/iommu. The engine only opens what it is given. */
static int op_open(const req *r, const jobj *o) {
  static const char *const keys[] = {"device", "group_path", "container_path", "cdev_path", "iommufd_path",
                                     "undo_on_abandon", NULL};
  if (check_keys(r, o, keys)) return -1;
  const char *dev = NULL, *gpath = NULL, *cpath = NULL, *cdev = NULL, *iommu = NULL;
  int undo = 0;
  if (arg_bool(r, o, "undo_on_abandon", &undo) < 0) return -1;
  if (arg_str(r, o, "device", &dev) <= 0) {
    if (!dev) FAIL(r, EINVAL, "BAD_REQUEST", "argument 'device' (an mdev UUID or a PCI address) is required");
    return -1;
  }
  char name[64];
  const char *bus = classify_device(dev, name, sizeof name);
  if (!bus)
    FAIL(r, EINVAL, "UNSAFE_NAME",
         "invalid device name (expected an mdev UUID or a PCI address like 0000:00:02.0)");
  if (arg_path(r, o, "group_path", &gpath) < 0 || arg_path(r, o, "container_path", &cpath) < 0 ||
      arg_path(r, o, "cdev_path", &cdev) < 0 || arg_path(r, o, "iommufd_path", &iommu) < 0)
    return -1;
  int by_group = gpath && cpath && !cdev && !iommu, by_cdev = cdev && iommu && !gpath && !cpath;
  if (!by_group && !by_cdev)
    FAIL(r, EINVAL, "BAD_REQUEST", "give 'group_path' and 'container_path', or 'cdev_path' and 'iommufd_path'");
  if (D.device >= 0) FAIL(r, EBUSY, "ALREADY_OPEN", "device %s is already open in this engine", D.name);

  int container = -1, group = -1, device = -1;
  int e = 0;
  const char *what = "open", *node = cpath;
  if (by_cdev) {
    if (open_cdev(r, cdev, iommu, &device, &container)) return -1;
    goto opened;
  }
  container = open(cpath, O_RDWR | O_CLOEXEC);
  if (container < 0) { e = errno; goto fail; }
  what = "VFIO_GET_API_VERSION";
  int api = ioctl(container, VME_VFIO_GET_API_VERSION);
  if (api < 0) { e = errno; goto fail; }
  if (api != VME_VFIO_API_VERSION) {
    close(container);
    FAIL(r, EPROTONOSUPPORT, "API_VERSION", "unsupported VFIO API version %d (%s)", api, cpath);
  }
  int ext = ioctl(container, VME_VFIO_CHECK_EXTENSION, VME_VFIO_TYPE1v2_IOMMU);
  if (ext <= 0) {
    close(container);
    FAIL(r, EOPNOTSUPP, "NO_TYPE1V2", "the VFIO container %s does not support the Type1v2 IOMMU", cpath);
  }
  what = "open";
  node = gpath;
  group = open(gpath, O_RDWR | O_CLOEXEC);
  if (group < 0) { e = errno; goto fail; }
  struct vme_group_status gs = {sizeof gs, 0};
  what = "VFIO_GROUP_GET_STATUS";
  if (ioctl(group, VME_VFIO_GROUP_GET_STATUS, &gs) < 0) { e = errno; goto fail; }
  if (!(gs.flags & VME_VFIO_GROUP_FLAGS_VIABLE)) {
    close(group);
    close(container);
    FAIL(r, EBUSY, "GROUP_NOT_VIABLE",
         "IOMMU group %s is not viable: every device in it must be bound to a VFIO driver", gpath);
  }
  what = "VFIO_GROUP_SET_CONTAINER";
  if (ioctl(group, VME_VFIO_GROUP_SET_CONTAINER, &container) < 0) { e = errno; goto fail; }
  what = "VFIO_SET_IOMMU";
  node = cpath;
  if (ioctl(container, VME_VFIO_SET_IOMMU, VME_VFIO_TYPE1v2_IOMMU) < 0) { e = errno; goto fail; }
  what = "VFIO_GROUP_GET_DEVICE_FD";
  node = gpath;
  device = ioctl(group, VME_VFIO_GROUP_GET_DEVICE_FD, name);
  if (device < 0) { e = errno; goto fail; }
  (void)fcntl(device, F_SETFD, FD_CLOEXEC);

opened:
  D.container = container; /* the iommufd on the cdev path */
  if (undo) g_armed = 1;
  D.role = ROLE_NONE;
  D.group = group;
  D.device = device;
  snprintf(D.name, sizeof D.name, "%s", name);
  D.bus = bus;

  struct vme_device_info info;
  memset(&info, 0, sizeof info);
  info.argsz = sizeof info;
  int have_info = ioctl(device, VME_VFIO_DEVICE_GET_INFO, &info) == 0;
  uint64_t mf = 0;
  int mrc = query_mig_flags(&mf);
  D.mig_supported = mrc == 0;
  D.mig_flags = mrc == 0 ? mf : 0;

  jw w;
  begin(&w, r, 1);
  jw_str(&w, "device", D.name);
  jw_str(&w, "bus", bus);
  jw_str(&w, "interface", by_cdev ? "cdev" : "group");
  if (have_info) {
    jw_u64(&w, "device_flags", info.flags);
    jw_arr_begin(&w, "device_flags_names");
    static const char *const dn[] = {"RESET", "PCI", "PLATFORM", "AMBA", "CCW", "AP", "FSL_MC", "CAPS", "CDX"};
    for (int i = 0; i < 9; i++)
      if (info.flags & (1u << i)) jw_arr_str(&w, dn[i]);
    jw_arr_end(&w);
    jw_u64(&w, "num_regions", info.num_regions);
    jw_u64(&w, "num_irqs", info.num_irqs);
  }
  jw_bool(&w, "migration_supported", D.mig_supported);
  if (!D.mig_supported && have_info) jw_bool(&w, "migration_v1_region", has_v1_region(info.num_regions));
  jw_u64(&w, "migration_flags", D.mig_flags);
  mig_flag_names(&w, D.mig_flags);
  if (mrc < 0 && mrc != -ENOTTY) {
    jw_i64(&w, "migration_errno", -mrc);
    jw_str(&w, "migration_error", errno_name(-mrc));
  }
  emit(&w);
  return 0;
fail:
  if (device >= 0) close(device);
  if (group >= 0) close(group);
  if (container >= 0) close(container);
  return fail_node(r, e, what, node);
}

static int op_flags(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys) || need_device(r)) return -1;
  uint64_t f = 0;
  int rc = query_mig_flags(&f);
  if (rc < 0) return fail_errno(r, -rc, "VFIO_DEVICE_FEATURE_MIGRATION");
  D.mig_flags = f;
  jw w;
  begin(&w, r, 1);
  jw_bool(&w, "migration_supported", 1);
  jw_u64(&w, "migration_flags", f);
  mig_flag_names(&w, f);
  emit(&w);
  return 0;
}

static int op_get_state(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys) || need_device(r)) return -1;
  uint32_t st;
  int rc = get_state(&st);
  if (rc < 0) return fail_errno(r, -rc, "get device state");
  jw w;
  begin(&w, r, 1);
  jw_u64(&w, "state", st);
  jw_str(&w, "state_name", vme_state_name(st));
  jw_bool(&w, "data_session", D.data_fd >= 0);
  emit(&w);
  return 0;
}

static int op_set_state(const req *r, const jobj *o) {
  static const char *const keys[] = {"state", NULL};
  if (check_keys(r, o, keys) || need_device(r)) return -1;
  const jfield *f = jobj_get(o, "state");
  int target = -1;
  if (f && f->type == JV_STR) target = vme_state_parse(f->val);
  else if (f && f->type == JV_NUM && strspn(f->val, "0123456789") == strlen(f->val) && strlen(f->val) < 3)
    target = atoi(f->val);
  if (target < 1 || target > 7)
    FAIL(r, EINVAL, "BAD_REQUEST",
         "argument 'state' must be one of STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, "
         "PRE_COPY_P2P (or 1..7)");
  int p2p = target == VME_STATE_RUNNING_P2P || target == VME_STATE_PRE_COPY_P2P;
  int pre = target == VME_STATE_PRE_COPY || target == VME_STATE_PRE_COPY_P2P;
  if ((p2p && !(D.mig_flags & VME_MIGRATION_P2P)) || (pre && !(D.mig_flags & VME_MIGRATION_PRE_COPY)))
    FAIL(r, EINVAL, "STATE_NOT_SUPPORTED", "the device does not offer state %s (migration flags 0x%" PRIx64 ")",
         vme_state_name((uint32_t)target), D.mig_flags);
  uint32_t cur;
  int rc = get_state(&cur);
  if (rc < 0) return fail_errno(r, -rc, "get device state");
  if (cur == VME_STATE_ERROR)
    FAIL(r, EINVAL, "DEVICE_IN_ERROR", "the device is in ERROR: only reset leaves it");
  if (cur == VME_STATE_STOP_COPY && pre)
    FAIL(r, EINVAL, "UNSAFE_TRANSITION",
         "STOP_COPY -> %s is invalid (and hangs unpatched 6.2+ kernels); refused",
         vme_state_name((uint32_t)target));
  struct vme_feature_state fs = {sizeof fs, VME_FEATURE_SET | VME_FEATURE_MIG_DEVICE_STATE,
                                 (uint32_t)target, -1};
  if (feature(D.device, &fs) < 0) {
    int e = errno;
    uint32_t after;
    int grc = get_state(&after);
    jw w;
    if (e == ENOTTY)
      err_begin(&w, r, e, "NOT_SUPPORTED", "set state %s: not supported", vme_state_name((uint32_t)target));
    else
      err_begin(&w, r, e, NULL, "set state %s -> %s failed: %s", vme_state_name(cur),
                vme_state_name((uint32_t)target), strerror(e));
    jw_u64(&w, "from", cur);
    jw_u64(&w, "requested", (uint64_t)target);
    if (grc == 0) {
      jw_u64(&w, "device_state", after);
      jw_str(&w, "device_state_name", vme_state_name(after));
    } else {
      jw_null(&w, "device_state");
    }
    emit(&w);
    return -1;
  }
  if (target == VME_STATE_RESUMING) D.role = ROLE_DEST;
  else if (D.role == ROLE_NONE && cur == VME_STATE_RUNNING && target != VME_STATE_RUNNING) D.role = ROLE_SOURCE;
  int opened = fs.data_fd >= 0, ended = 0;
  if (opened) {
    close_data();
    D.data_fd = fs.data_fd;
    (void)fcntl(D.data_fd, F_SETFD, FD_CLOEXEC);
    int fl = fcntl(D.data_fd, F_GETFL);
    if (fl >= 0) (void)fcntl(D.data_fd, F_SETFL, fl | O_NONBLOCK);
  } else if (D.data_fd >= 0 && !D.data_debug &&
             (target == VME_STATE_STOP || target == VME_STATE_RUNNING || target == VME_STATE_RUNNING_P2P)) {
    /* Leaving the saving/resuming states ends the kernel's data session: drop the dead fd. */
    close_data();
    ended = 1;
  }
  jw w;
  begin(&w, r, 1);
  jw_u64(&w, "from", cur);
  jw_str(&w, "from_name", vme_state_name(cur));
  jw_u64(&w, "state", (uint64_t)target);
  jw_str(&w, "state_name", vme_state_name((uint32_t)target));
  jw_bool(&w, "data_fd_opened", opened);
  jw_bool(&w, "data_fd_closed", ended);
  jw_bool(&w, "data_session", D.data_fd >= 0);
  emit(&w);
  return 0;
}

static int op_data_size(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys) || need_device(r)) return -1;
  struct vme_feature_data_size ds = {sizeof ds, VME_FEATURE_GET | VME_FEATURE_MIG_DATA_SIZE, 0};
  if (feature(D.device, &ds) < 0) return fail_errno(r, errno, "VFIO_DEVICE_FEATURE_MIG_DATA_SIZE");
  jw w;
  begin(&w, r, 1);
  jw_u64(&w, "stop_copy_length", ds.stop_copy_length);
  emit(&w);
  return 0;
}

static int op_precopy_info(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys) || need_data(r)) return -1;
  struct vme_precopy_info pi;
  memset(&pi, 0, sizeof pi);
  pi.argsz = sizeof pi;
  if (ioctl(D.data_fd, VME_VFIO_MIG_GET_PRECOPY_INFO, &pi) < 0)
    return fail_errno(r, errno, "VFIO_MIG_GET_PRECOPY_INFO");
  jw w;
  begin(&w, r, 1);
  jw_u64(&w, "initial_bytes", pi.initial_bytes);
  jw_u64(&w, "dirty_bytes", pi.dirty_bytes);
  emit(&w);
  return 0;
}

static int op_reset(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys) || need_device(r)) return -1;
  if (ioctl(D.device, VME_VFIO_DEVICE_RESET) < 0) return fail_errno(r, errno, "VFIO_DEVICE_RESET");
  int had = D.data_fd >= 0;
  close_data();
  uint32_t st = 0;
  int rc = D.mig_supported ? get_state(&st) : -ENOTTY;
  jw w;
  begin(&w, r, 1);
  jw_bool(&w, "data_fd_closed", had);
  if (rc == 0) {
    jw_u64(&w, "state", st);
    jw_str(&w, "state_name", vme_state_name(st));
  }
  emit(&w);
  return 0;
}

static int op_close_data(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys)) return -1;
  int had = D.data_fd >= 0;
  close_data();
  jw w;
  begin(&w, r, 1);
  jw_bool(&w, "closed", had);
  emit(&w);
  return 0;
}

static int op_close(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys)) return -1;
  int had = D.device >= 0;
  close_device();
  jw w;
  begin(&w, r, 1);
  jw_bool(&w, "closed", had);
  emit(&w);
  return 0;
}

/* The caller has committed to the device's present state: abandoning no longer undoes it. */
static int op_commit(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys) || need_device(r)) return -1;
  D.role = ROLE_NONE;
  jw w;
  begin(&w, r, 1);
  jw_bool(&w, "committed", 1);
  emit(&w);
  return 0;
}

/* A transfer sees this line waiting and ends with CANCELLED; this answers the line itself. */
static int op_cancel(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys)) return -1;
  jw w;
  begin(&w, r, 1);
  emit(&w);
  return 0;
}

/* ---------------- streams ---------------- */

/* Header from 'header' (a JSON object, or a string holding one). Returns 1/0/-1. */
static int arg_header(const req *r, const jobj *o, const char **h, size_t *hl) {
  const jfield *f = jobj_get(o, "header");
  if (!f || f->type == JV_NULL) return 0;
  if (f->type != JV_STR && f->type != JV_OBJ)
    FAIL(r, EINVAL, "BAD_REQUEST", "argument 'header' must be a JSON object or a string holding one");
  char jerr[160];
  if (json_validate_value(f->val, f->val_len, jerr, sizeof jerr))
    FAIL(r, EINVAL, "BAD_HEADER", "header is not valid JSON: %s", jerr);
  size_t i = strspn(f->val, " \t\r\n");
  if (f->val[i] != '{') FAIL(r, EINVAL, "BAD_HEADER", "header must be a JSON object");
  if (f->val_len > SF_MAX_HEADER) FAIL(r, E2BIG, "BAD_HEADER", "header exceeds %u bytes", SF_MAX_HEADER);
  *h = f->val;
  *hl = f->val_len;
  return 1;
}

static int arg_chunk(const req *r, const jobj *o, uint32_t *chunk) {
  uint64_t c = SF_DEFAULT_CHUNK;
  if (arg_u64(r, o, "chunk_size", &c) < 0) return -1;
  if (c < 1 || c > SF_MAX_CHUNK) FAIL(r, EINVAL, "BAD_REQUEST", "chunk_size must be 1..%u", SF_MAX_CHUNK);
  *chunk = (uint32_t)c;
  return 0;
}

static int fd_is_regular_file(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static int finish_output(int fd, int owned, int do_fsync, dp_error *e) {
  int rc = 0;
  if (do_fsync && fd_is_regular_file(fd) && fsync(fd) < 0 && errno != EINVAL) {
    dp_set_error(e, EK_ERRNO, errno, 0, "fsync: %s", strerror(errno));
    rc = -1;
  }
  if (owned && close(fd) < 0 && errno != EINTR) {
    dp_set_error(e, EK_ERRNO, errno, 0, "close: %s", strerror(errno));
    rc = -1;
  }
  return rc;
}

/* A pipe or socket peer may stop reading or writing: every wait on it must be cancellable,
 * so the data path polls (with dp_cancel_check) instead of blocking in read/write. */
static void nonblock_stream(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && !fd_is_regular_file(fd)) (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_so(void) {
  if (so_active) close(SO.fd); /* inherited descriptors are handed over to the engine */
  so_active = 0;
  so_path[0] = 0;
}

static void close_si(void) {
  if (si_active) close(SI.fd);
  free(SI.header);
  SI.header = NULL;
  si_active = 0;
}

static int op_save_begin(const req *r, const jobj *o) {
  static const char *const keys[] = {"path", "fd", "header", "raw", "chunk_size", "exclusive", "fsync", NULL};
  if (check_keys(r, o, keys)) return -1;
  if (so_active) FAIL(r, EBUSY, "STREAM_BUSY", "an output stream is already open (save_end first)");
  int raw = 0, excl = 0, fs = 1;
  uint32_t chunk;
  const char *h = NULL;
  size_t hl = 0;
  if (arg_bool(r, o, "raw", &raw) < 0 || arg_bool(r, o, "exclusive", &excl) < 0 ||
      arg_bool(r, o, "fsync", &fs) < 0 || arg_chunk(r, o, &chunk))
    return -1;
  int hr = arg_header(r, o, &h, &hl);
  if (hr < 0) return -1;
  if (!raw && !hr) FAIL(r, EINVAL, "BAD_REQUEST", "argument 'header' is required (unless raw)");
  int fd, owned;
  int er = arg_endpoint(r, o, "path", "fd", 1, excl, &fd, &owned);
  if (er < 0) return -1;
  if (er == 0) FAIL(r, EINVAL, "BAD_REQUEST", "give 'path' or 'fd' for the output");
  nonblock_stream(fd);
  memset(&SO, 0, sizeof SO);
  SO.fd = fd;
  SO.owned = owned;
  SO.raw = raw;
  SO.chunk_size = chunk;
  dp_error e = {0};
  if (sout_begin(&SO, h, hl, &e)) {
    close(fd);
    return fail_dp(r, &e);
  }
  so_active = 1;
  so_fsync = fs;
  so_failed = 0;
  const char *op_ = NULL;
  if (owned && excl && arg_str(r, o, "path", &op_) > 0 && strlen(op_) < sizeof so_path)
    snprintf(so_path, sizeof so_path, "%s", op_);
  jw w;
  begin(&w, r, 1);
  jw_u64(&w, "stream_bytes", SO.offset);
  jw_bool(&w, "raw", raw);
  emit(&w);
  return 0;
}

static int op_save(const req *r, const jobj *o) {
  static const char *const keys[] = {"mode", "estimate", "progress", "max_bytes", NULL};
  if (check_keys(r, o, keys)) return -1;
  if (!so_active) FAIL(r, EBADF, "NO_STREAM", "no output stream (save_begin first)");
  if (need_data(r)) return -1;
  const char *mode = "until_eof";
  uint64_t est = 0, max_bytes = 0;
  int prog = 1;
  int has_max = 0;
  if (arg_str(r, o, "mode", &mode) < 0 || arg_u64(r, o, "estimate", &est) < 0 ||
      arg_bool(r, o, "progress", &prog) < 0 || (has_max = arg_u64(r, o, "max_bytes", &max_bytes)) < 0)
    return -1;
  if (has_max && max_bytes == 0) FAIL(r, EINVAL, "BAD_REQUEST", "argument 'max_bytes' must be at least 1");
  enum src_mode m;
  if (!strcmp(mode, "until_eof")) m = SRC_UNTIL_EOF;
  else if (!strcmp(mode, "until_empty")) m = SRC_UNTIL_EMPTY;
  else FAIL(r, EINVAL, "BAD_REQUEST", "mode must be \"until_eof\" (STOP_COPY) or \"until_empty\" (a PRE_COPY round)");
  if (!est && m == SRC_UNTIL_EOF && D.device >= 0 && !D.data_debug) {
    struct vme_feature_data_size ds = {sizeof ds, VME_FEATURE_GET | VME_FEATURE_MIG_DATA_SIZE, 0};
    if (feature(D.device, &ds) == 0) est = ds.stop_copy_length;
  }
  progress_ctx pc = {r, est};
  dp_progress pr = {prog ? on_progress : NULL, &pc};
  dp_result res;
  dp_error e = {0};
  if (so_failed) FAIL(r, EIO, "STREAM_FAILED", "an earlier save into this stream failed: save_end it (it gets no trailer)");
  if (sout_transfer(&SO, D.data_fd, m, 0, max_bytes, &pr, &res, &e)) {
    so_failed = 1;
    return fail_dp(r, &e);
  }
  jw w;
  begin(&w, r, 1);
  jw_u64(&w, "bytes", res.bytes);
  jw_u64(&w, "chunks", res.chunks);
  jw_u64(&w, "total_bytes", SO.payload);
  jw_u64(&w, "stream_bytes", SO.offset);
  emit(&w);
  return 0;
}

static int op_save_end(const req *r, const jobj *o) {
  static const char *const keys[] = {"abort", NULL};
  if (check_keys(r, o, keys)) return -1;
  int abort_ = 0;
  if (arg_bool(r, o, "abort", &abort_) < 0) return -1;
  if (!so_active) FAIL(r, EBADF, "NO_STREAM", "no output stream");
  dp_error e = {0};
  int rc = 0;
  if (so_failed && !abort_) {
    close_so();
    FAIL(r, EIO, "STREAM_FAILED",
         "a save into this stream failed: it was closed without a trailer, so no reader accepts it");
  }
  if (!abort_) rc = sout_end(&SO, &e);
  if (!rc && !abort_) rc = finish_output(SO.fd, 0, so_fsync, &e);
  if (abort_ && so_path[0]) unlink(so_path);
  close_so();
  if (rc) return fail_dp(r, &e);
  jw w;
  begin(&w, r, 1);
  jw_bool(&w, "complete", !abort_);
  jw_u64(&w, "payload_bytes", SO.payload);
  jw_u64(&w, "chunks", SO.chunks);
  jw_u64(&w, "stream_bytes", SO.offset);
  emit(&w);
  return 0;
}

static void header_fields(jw *w, const stream_in *si) {
  if (si->raw) {
    jw_null(w, "header");
    return;
  }
  jw_strn(w, "header", si->header, si->header_len);
  jw_u64(w, "format_version", si->version);
}

static int op_load_begin(const req *r, const jobj *o) {
  static const char *const keys[] = {"path", "fd", "raw", "check_eof", NULL};
  if (check_keys(r, o, keys)) return -1;
  if (si_active) FAIL(r, EBUSY, "STREAM_BUSY", "an input stream is already open (load_end first)");
  int raw = 0, ce = 1;
  if (arg_bool(r, o, "raw", &raw) < 0 || arg_bool(r, o, "check_eof", &ce) < 0) return -1;
  int fd, owned;
  int er = arg_endpoint(r, o, "path", "fd", 0, 0, &fd, &owned);
  if (er < 0) return -1;
  if (er == 0) FAIL(r, EINVAL, "BAD_REQUEST", "give 'path' or 'fd' for the input");
  nonblock_stream(fd);
  memset(&SI, 0, sizeof SI);
  SI.fd = fd;
  SI.owned = owned;
  SI.raw = raw;
  dp_error e = {0};
  if (sin_begin(&SI, &e)) {
    close(fd);
    free(SI.header);
    SI.header = NULL;
    return fail_dp(r, &e);
  }
  si_active = 1;
  si_check_eof = ce;
  si_failed = 0;
  jw w;
  begin(&w, r, 1);
  header_fields(&w, &SI);
  jw_u64(&w, "stream_bytes", SI.offset);
  if (SI.file_size) jw_u64(&w, "file_size", SI.file_size);
  emit(&w);
  return 0;
}

static int op_load(const req *r, const jobj *o) {
  static const char *const keys[] = {"estimate", "progress", NULL};
  if (check_keys(r, o, keys)) return -1;
  if (!si_active) FAIL(r, EBADF, "NO_STREAM", "no input stream (load_begin first)");
  if (SI.done) FAIL(r, EINVAL, "STREAM_DONE", "the input stream has been loaded completely");
  if (si_failed) FAIL(r, EIO, "STREAM_FAILED", "an earlier load from this stream failed: load_end it");
  if (need_data(r)) return -1;
  uint64_t est = 0;
  int prog = 1;
  if (arg_u64(r, o, "estimate", &est) < 0 || arg_bool(r, o, "progress", &prog) < 0) return -1;
  progress_ctx pc = {r, est};
  dp_progress pr = {prog ? on_progress : NULL, &pc};
  dp_result res;
  dp_error e = {0};
  if (sin_transfer(&SI, D.data_fd, si_check_eof, &pr, &res, &e)) {
    si_failed = 1;
    return fail_dp(r, &e);
  }
  jw w;
  begin(&w, r, 1);
  jw_u64(&w, "bytes", res.bytes);
  jw_u64(&w, "chunks", SI.chunks);
  jw_u64(&w, "stream_bytes", SI.offset);
  jw_bool(&w, "complete", SI.done);
  emit(&w);
  return 0;
}

static int op_load_end(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys)) return -1;
  int had = si_active;
  int done = si_active && SI.done;
  close_si();
  jw w;
  begin(&w, r, 1);
  jw_bool(&w, "closed", had);
  jw_bool(&w, "complete", done);
  emit(&w);
  return 0;
}

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void drop_output(int fd, int owned, const char *path) {
  if (owned) {
    close(fd);
    if (path) unlink(path);
  } else {
    close(fd);
  }
}

static int op_unpack_verify(const req *r, const jobj *o, int unpack) {
  static const char *const ukeys[] = {"in_path", "in_fd", "out_path", "out_fd", "raw", "check_eof",
                                      "progress", "exclusive", "fsync", NULL};
  static const char *const vkeys[] = {"in_path", "in_fd", "check_eof", "progress", NULL};
  if (check_keys(r, o, unpack ? ukeys : vkeys)) return -1;
  int raw = 0, ce = 1, prog = 1, excl = 0, fs = 0;
  const char *outp = NULL;
  if (arg_bool(r, o, "raw", &raw) < 0 || arg_bool(r, o, "check_eof", &ce) < 0 ||
      arg_bool(r, o, "progress", &prog) < 0 || arg_bool(r, o, "exclusive", &excl) < 0 ||
      arg_bool(r, o, "fsync", &fs) < 0 || arg_str(r, o, "out_path", &outp) < 0)
    return -1;
  int in, in_owned, out = -1, out_owned = 0;
  int rc = arg_endpoint(r, o, "in_path", "in_fd", 0, 0, &in, &in_owned);
  if (rc <= 0) {
    if (rc == 0) FAIL(r, EINVAL, "BAD_REQUEST", "give 'in_path' or 'in_fd'");
    return -1;
  }
  if (unpack) {
    rc = arg_endpoint(r, o, "out_path", "out_fd", 1, excl, &out, &out_owned);
    if (rc <= 0) {
      close(in);
      if (rc == 0) FAIL(r, EINVAL, "BAD_REQUEST", "give 'out_path' or 'out_fd'");
      return -1;
    }
  }
  stream_in si;
  memset(&si, 0, sizeof si);
  si.fd = in;
  si.raw = raw;
  dp_error e = {0};
  dp_result res = {0};
  double t0 = mono();
  rc = sin_begin(&si, &e);
  progress_ctx pc = {r, 0};
  if (!rc && si.file_size > si.offset) pc.estimate = si.file_size - si.offset;
  dp_progress pr = {prog ? on_progress : NULL, &pc};
  if (!rc) rc = sin_transfer(&si, out, ce, &pr, &res, &e);
  close(in);
  if (unpack) {
    if (!rc) rc = finish_output(out, 1, fs, &e);
    else drop_output(out, out_owned, outp);
  }
  if (rc) {
    free(si.header);
    return fail_dp(r, &e);
  }
  double dt = mono() - t0;
  jw w;
  begin(&w, r, 1);
  header_fields(&w, &si);
  jw_u64(&w, "payload_bytes", si.payload);
  jw_u64(&w, "chunks", si.chunks);
  jw_u64(&w, "stream_bytes", si.offset);
  jw_u64(&w, "elapsed_ms", (uint64_t)(dt * 1000));
  emit(&w);
  free(si.header);
  return 0;
}

#ifdef VME_TESTOPS
#include "testops.c"
#endif

/* ---------------- self test ---------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Returns the number of failures; counts in *vectors and *cases. */
static int run_selftest(int *vectors, int *cases, char *why, size_t whylen) {
  int fails = 0;
  *vectors = *cases = 0;
  unsigned char b[48];
  struct {
    int kind;
    uint32_t want;
  } vec[] = {{0, 0xe3069283u}, {1, 0x8a9136aau}, {2, 0x62a8ab43u}, {3, 0x46dd794eu}, {4, 0x113fdb5cu}};
  int hw = crc32c_hw_available();
  for (size_t v = 0; v < sizeof vec / sizeof vec[0]; v++) {
    size_t n = 32;
    if (vec[v].kind == 0) { memcpy(b, "123456789", 9); n = 9; }
    else if (vec[v].kind == 1) memset(b, 0, 32);
    else if (vec[v].kind == 2) memset(b, 0xff, 32);
    else if (vec[v].kind == 3) for (int i = 0; i < 32; i++) b[i] = (unsigned char)i;
    else for (int i = 0; i < 32; i++) b[i] = (unsigned char)(31 - i);
    uint32_t s = crc32c_sw(0, b, n);
    uint32_t h = hw ? crc32c_hw(0, b, n) : s;
    (*vectors)++;
    if (s != vec[v].want || h != vec[v].want) {
      if (!fails) snprintf(why, whylen, "vector %zu: sw %08x hw %08x want %08x", v, s, h, vec[v].want);
      fails++;
    }
  }
  size_t cap = 3 * 8192 * 3 + 4096;
  unsigned char *buf = malloc(cap);
  if (!buf) return fails + 1;
  for (size_t i = 0; i < cap; i++) buf[i] = (unsigned char)rng();
  for (int c = 0; c < 400; c++) {
    size_t off = rng() % 8, len;
    switch (c % 4) {
      case 0: len = rng() % 64; break;
      case 1: len = rng() % 2048; break;
      case 2: len = 3 * 8192 + rng() % 30000; break;
      default: len = rng() % (cap - 8);
    }
    uint32_t s = crc32c_sw(0, buf + off, len);
    uint32_t h = hw ? crc32c_hw(0, buf + off, len) : s;
    size_t split = len ? rng() % len : 0;
    uint32_t inc = crc32c(crc32c(0, buf + off, split), buf + off + split, len - split);
    (*cases)++;
    if (s != h || inc != s) {
      if (!fails) snprintf(why, whylen, "random case %d (len %zu off %zu): sw %08x hw %08x inc %08x", c, len, off, s, h, inc);
      fails++;
    }
  }
  free(buf);
  return fails;
}

static int op_selftest(const req *r, const jobj *o) {
  static const char *const keys[] = {NULL};
  if (check_keys(r, o, keys)) return -1;
  int nv, nc;
  char why[200] = "";
  int f = run_selftest(&nv, &nc, why, sizeof why);
  if (f) FAIL(r, EIO, "SELFTEST_FAILED", "CRC32C self test: %d failures; first: %s", f, why);
  jw w;
  begin(&w, r, 1);
  jw_bool(&w, "hw_available", crc32c_hw_available());
  jw_str(&w, "crc32c", crc32c_impl());
  jw_u64(&w, "vectors", (uint64_t)nv);
  jw_u64(&w, "random_cases", (uint64_t)nc);
  jw_u64(&w, "failures", 0);
  emit(&w);
  return 0;
}

static const char *const OPS[] = {"hello", "selftest", "open", "close", "flags", "get_state", "set_state",
                                  "data_size", "precopy_info", "reset", "close_data", "commit", "cancel",
                                  "save_begin", "save", "save_end", "load_begin", "load", "load_end",
                                  "verify", "quit",
#ifdef VME_TESTOPS
                                  "attach_data", "pack", "unpack", "region_caps",
#endif
                                  NULL};

static int op_hello(const req *r, const jobj *o) {
  static const char *const keys[] = {"interactive", NULL};
  if (check_keys(r, o, keys)) return -1;
  int inter = 0;
  if (arg_bool(r, o, "interactive", &inter) < 0) return -1;
  if (inter) g_interactive = 1;
  jw w;
  begin(&w, r, 1);
  jw_str(&w, "engine_version", ENGINE_VERSION);
  jw_u64(&w, "protocol", PROTOCOL_VERSION);
  jw_u64(&w, "stream_format", SF_VERSION);
  jw_str(&w, "crc32c", crc32c_impl());
  jw_u64(&w, "default_chunk", SF_DEFAULT_CHUNK);
  jw_u64(&w, "max_chunk", SF_MAX_CHUNK);
  jw_u64(&w, "pid", (uint64_t)getpid());
  jw_arr_begin(&w, "ops");
  for (const char *const *p = OPS; *p; p++) jw_arr_str(&w, *p);
  jw_arr_end(&w);
  emit(&w);
  return 0;
}

/* ---------------- main loop ---------------- */

static void shutdown_all(void) {
  close_so();
  close_si();
  close_device();
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {
  char m[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  dprintf(STDERR_FILENO, "vfio-mig-engine: caller gone: %s\n", m);
}

/* Undo what this engine did (see g_term); then everything is closed. */
static void abandon(void) {
  if (g_armed && so_active && so_path[0]) {
    unlink(so_path);
    note("removed %s", so_path);
  }
  close_so();
  close_si();
  close_data();
  if (g_armed && D.device >= 0 && D.role != ROLE_NONE) {
    uint32_t st = VME_STATE_ERROR;
    int known = get_state(&st) == 0;
    int want_reset = 0;
    if (D.role == ROLE_DEST) {
      want_reset = !known || st != VME_STATE_RUNNING;
    } else if (!known || st == VME_STATE_ERROR) {
      want_reset = 1;
    } else if (st != VME_STATE_RUNNING) {
      struct vme_feature_state fs = {sizeof fs, VME_FEATURE_SET | VME_FEATURE_MIG_DEVICE_STATE,
                                     VME_STATE_RUNNING, -1};
      if (feature(D.device, &fs) == 0) {
        if (fs.data_fd >= 0) close(fs.data_fd);
        note("source %s %s -> RUNNING", D.name, vme_state_name(st));
      } else {
        note("source %s %s -> RUNNING failed: %s", D.name, vme_state_name(st), strerror(errno));
        want_reset = 1;
      }
    }
    if (want_reset) {
      int rc = ioctl(D.device, VME_VFIO_DEVICE_RESET);
      note("%s %s (%s): reset %s", D.role == ROLE_DEST ? "destination" : "source", D.name,
           known ? vme_state_name(st) : "state unreadable", rc == 0 ? "done" : strerror(errno));
    }
  }
  close_device();
}

static void handle_line(const char *line, size_t len) {
  jobj o;
  char err[200];
  req r = {NULL, NULL};
  if (json_parse_object(line, len, &o, err, sizeof err)) {
    jw w;
    err_begin(&w, &r, EINVAL, "BAD_JSON", "malformed request: %s", err);
    emit(&w);
    return;
  }
  r.id = jobj_get(&o, "id");
  if (r.id && r.id->type != JV_STR && r.id->type != JV_NUM) {
    r.id = NULL;
    jw w;
    err_begin(&w, &r, EINVAL, "BAD_REQUEST", "'id' must be a number or a string");
    emit(&w);
    goto out;
  }
  const jfield *v = jobj_get(&o, "v");
  if (v && (v->type != JV_NUM || strcmp(v->val, "1") != 0)) {
    jw w;
    err_begin(&w, &r, EPROTONOSUPPORT, "PROTOCOL_VERSION", "unsupported protocol version (this engine speaks %d)",
              PROTOCOL_VERSION);
    emit(&w);
    goto out;
  }
  const jfield *op = jobj_get(&o, "op");
  if (!op || op->type != JV_STR) {
    jw w;
    err_begin(&w, &r, EINVAL, "BAD_REQUEST", "'op' (a string) is required");
    emit(&w);
    goto out;
  }
  int known = 0;
  for (const char *const *p = OPS; *p; p++)
    if (!strcmp(*p, op->val)) { r.op = *p; known = 1; }
  if (!known) {
    jw w;
    err_begin(&w, &r, ENOSYS, "UNKNOWN_OP", "unknown op '%.64s'", op->val);
    emit(&w);
    goto out;
  }
  const char *n = r.op;
  if (!strcmp(n, "hello")) op_hello(&r, &o);
  else if (!strcmp(n, "selftest")) op_selftest(&r, &o);
  else if (!strcmp(n, "open")) op_open(&r, &o);
  else if (!strcmp(n, "close")) op_close(&r, &o);
  else if (!strcmp(n, "flags")) op_flags(&r, &o);
  else if (!strcmp(n, "get_state")) op_get_state(&r, &o);
  else if (!strcmp(n, "set_state")) op_set_state(&r, &o);
  else if (!strcmp(n, "data_size")) op_data_size(&r, &o);
  else if (!strcmp(n, "precopy_info")) op_precopy_info(&r, &o);
  else if (!strcmp(n, "reset")) op_reset(&r, &o);
  else if (!strcmp(n, "close_data")) op_close_data(&r, &o);
  else if (!strcmp(n, "commit")) op_commit(&r, &o);
  else if (!strcmp(n, "cancel")) op_cancel(&r, &o);
  else if (!strcmp(n, "save_begin")) op_save_begin(&r, &o);
  else if (!strcmp(n, "save")) op_save(&r, &o);
  else if (!strcmp(n, "save_end")) op_save_end(&r, &o);
  else if (!strcmp(n, "load_begin")) op_load_begin(&r, &o);
  else if (!strcmp(n, "load")) op_load(&r, &o);
  else if (!strcmp(n, "load_end")) op_load_end(&r, &o);
  else if (!strcmp(n, "verify")) op_unpack_verify(&r, &o, 0);
#ifdef VME_TESTOPS
  else if (!strcmp(n, "attach_data")) op_attach_data(&r, &o);
  else if (!strcmp(n, "pack")) op_pack(&r, &o);
  else if (!strcmp(n, "unpack")) op_unpack_verify(&r, &o, 1);
  else if (!strcmp(n, "region_caps")) op_region_caps(&r, &o);
#endif
  else if (!strcmp(n, "quit")) {
    shutdown_all();
    jw w;
    begin(&w, &r, 1);
    jw_bool(&w, "bye", 1);
    emit(&w);
    jobj_free(&o);
    exit(0);
  }
out:
  jobj_free(&o);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  dp_init();
  dp_cancel_check = should_cancel;
  struct sigaction st;
  memset(&st, 0, sizeof st);
  st.sa_handler = on_term; /* no SA_RESTART: a blocked read returns EINTR */
  sigemptyset(&st.sa_mask);
  sigaction(SIGTERM, &st, NULL);
  sigaction(SIGINT, &st, NULL);
  sigaction(SIGHUP, &st, NULL);
  struct stat in_st;
  g_stdin_stream = fstat(STDIN_FILENO, &in_st) == 0 && (S_ISFIFO(in_st.st_mode) || S_ISSOCK(in_st.st_mode));
  if (argc > 1) {
    if (!strcmp(argv[1], "--version")) {
      printf("vfio-mig-engine %s (protocol %d, stream format %u, crc32c %s)\n", ENGINE_VERSION,
             PROTOCOL_VERSION, SF_VERSION, crc32c_impl());
      return 0;
    }
    if (!strcmp(argv[1], "--selftest")) {
      int nv, nc;
      char why[200] = "";
      int f = run_selftest(&nv, &nc, why, sizeof why);
      printf("crc32c selftest: impl=%s vectors=%d random=%d failures=%d%s%s\n", crc32c_impl(), nv, nc, f,
             f ? " first: " : "", why);
      return f ? 1 : 0;
    }
    fprintf(stderr, "usage: vfio-mig-engine [--version|--selftest]  (JSON lines on stdin/stdout)\n");
    return 2;
  }
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  if (!buf) return 1;
  int discarding = 0;
  for (;;) {
    if (len == cap) {
      if (cap >= MAX_LINE) {
        /* Line too long: answer once, drop it up to its newline. */
        if (!discarding) {
          jw w;
          req r = {NULL, NULL};
          err_begin(&w, &r, E2BIG, "LINE_TOO_LONG", "request line exceeds %u bytes", MAX_LINE);
          emit(&w);
        }
        discarding = 1;
        len = 0;
      } else {
        char *nb = realloc(buf, cap * 2);
        if (!nb) break;
        buf = nb;
        cap *= 2;
      }
    }
    if (g_term) break;
    ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;
    size_t start = 0, end = len + (size_t)n;
    for (size_t i = len; i < end; i++) {
      if (buf[i] != '\n') continue;
      if (discarding) {
        discarding = 0;
      } else {
        size_t l = i - start;
        if (l && buf[start + l - 1] == '\r') l--;
        size_t k = 0;
        while (k < l && (buf[start + k] == ' ' || buf[start + k] == '\t')) k++;
        g_watch = g_stdin_stream && (g_interactive || g_armed) && !memchr(buf + i + 1, '\n', end - i - 1);
        if (k < l) handle_line(buf + start, l);
        g_watch = 0;
        if (g_term) break;
      }
      start = i + 1;
    }
    memmove(buf, buf + start, end - start);
    len = end - start;
  }
  free(buf);
  abandon();
  return 0;
}
