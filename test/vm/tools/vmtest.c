// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmtest: a small static VFIO migration (v2 uAPI) client for the test bed guest.
 * Self-contained (defines the uAPI itself, including the 6.2+ PRE_COPY pieces).
 *
 *   vmtest info UUID                       flags, state, region size, MIG_DATA_SIZE
 *   vmtest fill UUID SEED | check UUID SEED   write / verify a pattern in the BAR0 region
 *   vmtest cmp UUID1 UUID2                 compare two devices' regions
 *   vmtest save UUID FILE [--p2p] [--precopy]   save the state to FILE
 *   vmtest load UUID FILE                  load FILE (RESUMING -> STOP -> RUNNING)
 *   vmtest migrate SRC DST [--p2p] [--precopy] [--seed N]   full flow, memory compared
 *   vmtest fsm UUID                        every (from,to) pair on a live device
 *   vmtest faults SRC DST                  every fault-injection knob, observed
 *   vmtest knobs SRC DST                   fail_write_*, stall_*_ms, dirty_rate_kbps, observed
 *   vmtest ebusy UUID PARAM VALUE          param write refused (EBUSY) while open, fine after
 *   vmtest write PATH VALUE                write(2) VALUE, print OK or the errno name
 *   vmtest regw UUID INDEX OFF BYTE        write one byte at OFF of region INDEX (device fd)
 *   vmtest regr UUID INDEX OFF             read one byte there, print it in decimal
 *   vmtest state UUID                      print the migration state (GET device_state)
 *   vmtest hold UUID SECONDS               keep the device open (opened: printed) for a while
 *   vmtest orphan UUID                     keep a PRE_COPY data fd past the device's close and removal
 *   vmtest copyn PORT NFILE SECONDS        copy PORT to stdout until as many bytes as NFILE says
 *                                          (written later, by the other side) have passed
 *   vmtest drain PORT QUIET_MS MAX_MS      read and drop what PORT holds until quiet for QUIET_MS
 *
 * Output: lines "ok ..." / "FAIL ..."; exit status 0 only when every check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- uAPI (include/uapi/linux/vfio.h) ---- */
#define VFIO_TYPE (';')
#define VFIO_BASE 100
#define VFIO_GET_API_VERSION _IO(VFIO_TYPE, VFIO_BASE + 0)
#define VFIO_CHECK_EXTENSION _IO(VFIO_TYPE, VFIO_BASE + 1)
#define VFIO_SET_IOMMU _IO(VFIO_TYPE, VFIO_BASE + 2)
#define VFIO_GROUP_GET_STATUS _IO(VFIO_TYPE, VFIO_BASE + 3)
#define VFIO_GROUP_SET_CONTAINER _IO(VFIO_TYPE, VFIO_BASE + 4)
#define VFIO_GROUP_GET_DEVICE_FD _IO(VFIO_TYPE, VFIO_BASE + 6)
#define VFIO_DEVICE_GET_INFO _IO(VFIO_TYPE, VFIO_BASE + 7)
#define VFIO_DEVICE_GET_REGION_INFO _IO(VFIO_TYPE, VFIO_BASE + 8)
#define VFIO_DEVICE_RESET _IO(VFIO_TYPE, VFIO_BASE + 11)
#define VFIO_DEVICE_FEATURE _IO(VFIO_TYPE, VFIO_BASE + 17)
#define VFIO_MIG_GET_PRECOPY_INFO _IO(VFIO_TYPE, VFIO_BASE + 21)
#define VFIO_TYPE1v2_IOMMU 3
#define VFIO_GROUP_FLAGS_VIABLE 1
#define FEAT_GET (1u << 16)
#define FEAT_SET (1u << 17)
#define FEAT_PROBE (1u << 18)
#define FEAT_MIGRATION 1
#define FEAT_MIG_DEVICE_STATE 2
#define FEAT_MIG_DATA_SIZE 9
#define MIG_STOP_COPY 1
#define MIG_P2P 2
#define MIG_PRE_COPY 4

enum { S_ERROR, S_STOP, S_RUNNING, S_STOP_COPY, S_RESUMING, S_RUNNING_P2P, S_PRE_COPY, S_PRE_COPY_P2P };
static const char *sname[] = {"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING",
			      "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P"};

struct group_status { uint32_t argsz, flags; };
struct device_info { uint32_t argsz, flags, num_regions, num_irqs; };
struct region_info { uint32_t argsz, flags, index, cap_offset; uint64_t size, offset; };
struct feature_hdr { uint32_t argsz, flags; };
struct feat_mig { struct feature_hdr h; uint64_t flags; };
struct feat_state { struct feature_hdr h; uint32_t device_state; int32_t data_fd; };
struct feat_size { struct feature_hdr h; uint64_t stop_copy_length; };
struct precopy_info { uint32_t argsz, flags; uint64_t initial_bytes, dirty_bytes; };

#define PARAMS "/sys/module/vfio_mig_ref/parameters/"
#define BUF (1u << 20)

static int failures;
static int container = -1;

static void ok(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("ok   ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static void bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	failures++;
}

#define CHECK(cond, ...) do { if (cond) ok(__VA_ARGS__); else bad(__VA_ARGS__); } while (0)

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL fatal: ");
	vprintf(fmt, ap);
	printf(" (errno %s)\n", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	va_end(ap);
	exit(2);
}

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "OK";
	return n ? n : "E?";
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- sysfs ---- */
static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	ssize_t n = write(fd, val, strlen(val));
	int e = n < 0 ? errno : 0;
	close(fd);
	return e;
}

static void param(const char *name, const char *val)
{
	char p[256];
	snprintf(p, sizeof(p), PARAMS "%s", name);
	int e = sysfs_write(p, val);
	if (e)
		die("writing %s=%s: %s", name, val, ename(e));
}

static long param_read(const char *name)
{
	char p[256], b[64] = "";
	snprintf(p, sizeof(p), PARAMS "%s", name);
	FILE *f = fopen(p, "r");
	if (!f || !fgets(b, sizeof(b), f))
		die("reading %s", p);
	fclose(f);
	return strtol(b, NULL, 10);
}

static void faults_off(void)
{
	param("fail_arc_from", "-1"); param("fail_arc_to", "-1");
	param("fail_arc_errno", "5"); param("fail_arc_count", "1");
	param("error_arc_from", "-1"); param("error_arc_to", "-1"); param("error_arc_count", "1");
	param("fail_read_after", "-1"); param("fail_read_errno", "5"); param("fail_read_count", "1");
	param("reject_load", "0"); param("reject_load_errno", "22");
	param("fail_write_after", "-1"); param("fail_write_errno", "5"); param("fail_write_count", "1");
	param("stall_read_ms", "0"); param("stall_write_ms", "0"); param("dirty_rate_kbps", "0");
	param("fault_dev", "");
}

/* ---- VFIO device ---- */
struct dev {
	const char *uuid;
	int group, fd;
	uint64_t off, size;
};

static void dev_open(struct dev *d, const char *uuid)
{
	char p[512], link[512];
	struct group_status st = {sizeof(st), 0};

	d->uuid = uuid;
	snprintf(p, sizeof(p), "/sys/bus/mdev/devices/%s/iommu_group", uuid);
	ssize_t n = readlink(p, link, sizeof(link) - 1);
	if (n < 0)
		die("no iommu_group for %s", uuid);
	link[n] = 0;
	snprintf(p, sizeof(p), "/dev/vfio/%s", strrchr(link, '/') + 1);
	d->group = open(p, O_RDWR);
	if (d->group < 0)
		die("open %s", p);
	if (ioctl(d->group, VFIO_GROUP_GET_STATUS, &st) || !(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		die("group %s not viable", p);
	int first = container < 0;
	if (first) {
		container = open("/dev/vfio/vfio", O_RDWR);
		if (container < 0)
			die("open /dev/vfio/vfio");
		if (ioctl(container, VFIO_GET_API_VERSION) != 0)
			die("VFIO API version");
		if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1)
			die("no Type1v2 IOMMU");
	}
	if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &container))
		die("SET_CONTAINER %s", p);
	if (first && ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("SET_IOMMU Type1v2");
	d->fd = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, uuid);
	if (d->fd < 0)
		die("GET_DEVICE_FD %s", uuid);
	struct region_info ri = {sizeof(ri), 0, 0, 0, 0, 0};
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		die("GET_REGION_INFO");
	d->off = ri.offset;
	d->size = ri.size;
}

static void dev_close(struct dev *d)
{
	close(d->fd);
	close(d->group);
	d->fd = d->group = -1;
}

static uint64_t mig_flags(struct dev *d)
{
	struct feat_mig m = {{sizeof(m), FEAT_GET | FEAT_MIGRATION}, 0};
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, &m))
		die("FEATURE_MIGRATION");
	return m.flags;
}

static int get_state(struct dev *d)
{
	struct feat_state s = {{sizeof(s), FEAT_GET | FEAT_MIG_DEVICE_STATE}, 0, -1};
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, &s))
		die("GET device_state");
	return s.device_state;
}

/* 0 or errno; *data_fd gets the new fd or -1. */
static int set_state(struct dev *d, int state, int *data_fd)
{
	struct feat_state s = {{sizeof(s), FEAT_SET | FEAT_MIG_DEVICE_STATE}, state, -1};
	int r = ioctl(d->fd, VFIO_DEVICE_FEATURE, &s);
	if (data_fd)
		*data_fd = s.data_fd;
	else if (s.data_fd >= 0)
		close(s.data_fd);
	return r ? errno : 0;
}

static void must_set(struct dev *d, int state, int *data_fd)
{
	int e = set_state(d, state, data_fd);
	if (e)
		die("%s: SET %s: %s (now %s)", d->uuid, sname[state], ename(e), sname[get_state(d)]);
}

static int dev_reset(struct dev *d)
{
	return ioctl(d->fd, VFIO_DEVICE_RESET) ? errno : 0;
}

static int data_size(struct dev *d, uint64_t *len)
{
	struct feat_size s = {{sizeof(s), FEAT_GET | FEAT_MIG_DATA_SIZE}, 0};
	int r = ioctl(d->fd, VFIO_DEVICE_FEATURE, &s);
	*len = s.stop_copy_length;
	return r ? errno : 0;
}

static int precopy_info(int fd, uint64_t *init, uint64_t *dirty)
{
	struct precopy_info pi = {sizeof(pi), 0, 0, 0};
	int r = ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &pi);
	*init = pi.initial_bytes;
	*dirty = pi.dirty_bytes;
	return r ? errno : 0;
}

static void region_io(struct dev *d, void *buf, uint64_t pos, size_t len, int wr)
{
	while (len) {
		ssize_t n = wr ? pwrite(d->fd, buf, len, d->off + pos) : pread(d->fd, buf, len, d->off + pos);
		if (n <= 0)
			die("region %s at %" PRIu64, wr ? "write" : "read", pos);
		buf = (char *)buf + n;
		pos += n;
		len -= n;
	}
}

static void pattern(uint64_t seed, uint64_t pos, uint64_t *buf, size_t len)
{
	for (size_t i = 0; i < len / 8; i++) {
		uint64_t x = (pos / 8 + i + 1) * 0x9E3779B97F4A7C15ull ^ seed * 0xD1B54A32D192ED03ull;
		x ^= x >> 31;
		buf[i] = x * 0xBF58476D1CE4E5B9ull;
	}
}

static void fill(struct dev *d, uint64_t seed)
{
	uint64_t *b = malloc(BUF);
	for (uint64_t p = 0; p < d->size; p += BUF) {
		size_t n = d->size - p < BUF ? d->size - p : BUF;
		pattern(seed, p, b, n);
		region_io(d, b, p, n, 1);
	}
	free(b);
}

/* -1 when equal, else the first differing offset. */
static int64_t check(struct dev *d, uint64_t seed)
{
	uint64_t *b = malloc(BUF), *w = malloc(BUF);
	int64_t at = -1;
	for (uint64_t p = 0; p < d->size && at < 0; p += BUF) {
		size_t n = d->size - p < BUF ? d->size - p : BUF;
		pattern(seed, p, w, n);
		region_io(d, b, p, n, 0);
		if (memcmp(b, w, n))
			for (size_t i = 0; i < n / 8; i++)
				if (b[i] != w[i]) { at = p + i * 8; break; }
	}
	free(b);
	free(w);
	return at;
}

static int64_t cmp(struct dev *a, struct dev *b)
{
	if (a->size != b->size)
		return 0;
	char *x = malloc(BUF), *y = malloc(BUF);
	int64_t at = -1;
	for (uint64_t p = 0; p < a->size && at < 0; p += BUF) {
		size_t n = a->size - p < BUF ? a->size - p : BUF;
		region_io(a, x, p, n, 0);
		region_io(b, y, p, n, 0);
		if (memcmp(x, y, n))
			for (size_t i = 0; i < n; i++)
				if (x[i] != y[i]) { at = p + i; break; }
	}
	free(x);
	free(y);
	return at;
}

static int write_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		b += w;
		n -= w;
	}
	return 0;
}

/* Read the data fd until EOF (STOP_COPY) or ENOMSG (PRE_COPY), copying to out (if >= 0).
 * Returns bytes read; *err gets the errno that ended it (0 at EOF). */
static uint64_t drain(int dfd, int out, int *err)
{
	static char *buf;
	uint64_t total = 0;
	if (!buf)
		buf = malloc(BUF);
	*err = 0;
	for (;;) {
		ssize_t n = read(dfd, buf, BUF);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*err = errno;
			break;
		}
		total += n;
		if (out >= 0 && (*err = write_all(out, buf, n)))
			break;
	}
	return total;
}

/* ---- commands ---- */
static int cmd_info(const char *uuid)
{
	struct dev d;
	uint64_t len = 0;
	dev_open(&d, uuid);
	int e = data_size(&d, &len);
	printf("uuid=%s flags=0x%" PRIx64 " state=%s region_size=%" PRIu64 " mig_data_size=%" PRIu64 " (%s)\n",
	       uuid, mig_flags(&d), sname[get_state(&d)], d.size, len, ename(e));
	return 0;
}

static int cmd_fill(const char *uuid, uint64_t seed, int verify)
{
	struct dev d;
	dev_open(&d, uuid);
	if (!verify) {
		fill(&d, seed);
		ok("filled %s (%" PRIu64 " bytes) with seed %" PRIu64, uuid, d.size, seed);
		return 0;
	}
	int64_t at = check(&d, seed);
	CHECK(at < 0, "%s holds the pattern of seed %" PRIu64 " (first difference at %" PRId64 ")", uuid, seed, at);
	return failures ? 1 : 0;
}

static int cmd_cmp(const char *u1, const char *u2)
{
	struct dev a, b;
	dev_open(&a, u1);
	dev_open(&b, u2);
	int64_t at = cmp(&a, &b);
	CHECK(a.size == b.size && at < 0, "%s and %s regions equal (sizes %" PRIu64 "/%" PRIu64 ", first difference %" PRId64 ")",
	      u1, u2, a.size, b.size, at);
	return failures ? 1 : 0;
}

static int cmd_save(const char *uuid, const char *file, int p2p, int precopy)
{
	struct dev d;
	int dfd = -1, e;
	dev_open(&d, uuid);
	int out = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		die("open %s", file);
	double t0 = now(), tsc;
	uint64_t total = 0;
	if (precopy) {
		must_set(&d, S_PRE_COPY, &dfd);
		total += drain(dfd, out, &e);
		if (e != ENOMSG)
			die("precopy read ended with %s", ename(e));
	}
	if (p2p)
		must_set(&d, precopy ? S_PRE_COPY_P2P : S_RUNNING_P2P, NULL);
	tsc = now();
	if (precopy)
		must_set(&d, S_STOP_COPY, NULL);
	else
		must_set(&d, S_STOP_COPY, &dfd);
	total += drain(dfd, out, &e);
	if (e)
		die("reading the state: %s after %" PRIu64 " bytes", ename(e), total);
	must_set(&d, S_STOP, NULL);
	double t1 = now();
	close(dfd);
	if (fsync(out) || close(out))
		die("writing %s", file);
	printf("saved %s bytes=%" PRIu64 " stop_copy_s=%.3f total_s=%.3f\n", uuid, total, t1 - tsc, t1 - t0);
	return 0;
}

static int cmd_load(const char *uuid, const char *file)
{
	struct dev d;
	int dfd, e;
	dev_open(&d, uuid);
	int in = open(file, O_RDONLY);
	if (in < 0)
		die("open %s", file);
	double t0 = now();
	must_set(&d, S_RESUMING, &dfd);
	char *buf = malloc(BUF);
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(in, buf, BUF);
		if (n < 0)
			die("read %s", file);
		if (!n)
			break;
		if ((e = write_all(dfd, buf, n)))
			die("writing the data fd: %s", ename(e));
		total += n;
	}
	close(dfd);
	e = set_state(&d, S_STOP, NULL);
	if (e) {
		printf("load-rejected %s errno=%s state=%s\n", uuid, ename(e), sname[get_state(&d)]);
		return 3;
	}
	must_set(&d, S_RUNNING, NULL);
	printf("loaded %s bytes=%" PRIu64 " total_s=%.3f\n", uuid, total, now() - t0);
	return 0;
}

/* Copy everything readable now from a saving fd into a resuming fd. */
static uint64_t pump(int sfd, int rfd, int *err)
{
	static char *buf;
	uint64_t total = 0;
	if (!buf)
		buf = malloc(BUF);
	*err = 0;
	for (;;) {
		ssize_t n = read(sfd, buf, BUF);
		if (n == 0)
			break;
		if (n < 0) {
			*err = errno;
			break;
		}
		if ((*err = write_all(rfd, buf, n)))
			break;
		total += n;
	}
	return total;
}

static int cmd_migrate(const char *su, const char *du, int p2p, int precopy, uint64_t seed)
{
	struct dev s, d;
	int sfd = -1, rfd = -1, e;
	uint64_t total = 0, init, dirty, dsize = 0;

	dev_open(&s, su);
	dev_open(&d, du);
	uint64_t fl = mig_flags(&s);
	CHECK(fl == (MIG_STOP_COPY | MIG_P2P | MIG_PRE_COPY), "migration flags 0x%" PRIx64 " (STOP_COPY|P2P|PRE_COPY)", fl);
	CHECK(get_state(&s) == S_RUNNING && get_state(&d) == S_RUNNING, "both devices start RUNNING");
	CHECK(s.size == d.size, "region sizes %" PRIu64 " / %" PRIu64, s.size, d.size);
	e = data_size(&s, &dsize);
	CHECK(!e && dsize >= s.size, "MIG_DATA_SIZE %" PRIu64 " >= memory %" PRIu64 " (%s)", dsize, s.size, ename(e));
	double t0 = now();
	fill(&s, seed);
	ok("pattern written to %s (%" PRIu64 " bytes, %.2fs)", su, s.size, now() - t0);

	double tstart = now();
	must_set(&d, S_RESUMING, &rfd);
	CHECK(rfd >= 0, "destination RESUMING gave a data fd");
	if (precopy) {
		must_set(&s, S_PRE_COPY, &sfd);
		CHECK(sfd >= 0 && get_state(&s) == S_PRE_COPY, "source in PRE_COPY with a data fd");
		e = precopy_info(sfd, &init, &dirty);
		CHECK(!e && init >= s.size && dirty == 0, "PRECOPY_INFO at start: initial=%" PRIu64 " dirty=%" PRIu64 " (%s)", init, dirty, ename(e));
		total += pump(sfd, rfd, &e);
		CHECK(e == ENOMSG, "initial data read (%" PRIu64 " bytes), then ENOMSG (%s)", total, ename(e));
		e = precopy_info(sfd, &init, &dirty);
		CHECK(!e && init == 0 && dirty == 0, "PRECOPY_INFO after initial: initial=%" PRIu64 " dirty=%" PRIu64, init, dirty);
		/* dirty three pages while still running */
		uint64_t pg[3] = {0, s.size / 2, s.size - 4096};
		char page[4096];
		for (int i = 0; i < 3; i++) {
			memset(page, 0xA0 + i, sizeof(page));
			region_io(&s, page, pg[i], sizeof(page), 1);
		}
		e = precopy_info(sfd, &init, &dirty);
		CHECK(!e && init == 0 && dirty == 3 * 4096, "PRECOPY_INFO after 3 page writes: initial=%" PRIu64 " dirty=%" PRIu64, init, dirty);
		uint64_t more = pump(sfd, rfd, &e);
		CHECK(e == ENOMSG && more > 3 * 4096, "dirty data read (%" PRIu64 " bytes) then ENOMSG", more);
		total += more;
		e = precopy_info(sfd, &init, &dirty);
		CHECK(!e && dirty == 0, "PRECOPY_INFO drained: dirty=%" PRIu64, dirty);
		/* one more dirty page to be carried by STOP_COPY */
		memset(page, 0x5A, sizeof(page));
		region_io(&s, page, 8192, sizeof(page), 1);
		if (p2p) {
			int x;
			must_set(&s, S_PRE_COPY_P2P, &x);
			CHECK(x < 0 && get_state(&s) == S_PRE_COPY_P2P, "PRE_COPY -> PRE_COPY_P2P (no new fd)");
		}
		double tsc = now();
		int x;
		must_set(&s, S_STOP_COPY, &x);
		CHECK(x < 0, "PRE_COPY* -> STOP_COPY keeps the data fd (data_fd=-1)");
		e = precopy_info(sfd, &init, &dirty);
		CHECK(e == EINVAL, "PRECOPY_INFO in STOP_COPY: %s (want EINVAL)", ename(e));
		more = pump(sfd, rfd, &e);
		CHECK(!e, "STOP_COPY data read to EOF (%" PRIu64 " bytes, %.3fs in STOP_COPY)", more, now() - tsc);
		total += more;
	} else {
		if (p2p) {
			must_set(&s, S_RUNNING_P2P, NULL);
			CHECK(get_state(&s) == S_RUNNING_P2P, "source RUNNING_P2P");
		}
		double tsc = now();
		must_set(&s, S_STOP_COPY, &sfd);
		CHECK(sfd >= 0, "source STOP_COPY gave a data fd");
		total += pump(sfd, rfd, &e);
		CHECK(!e, "state read to EOF: %" PRIu64 " bytes in %.3fs (%s)", total, now() - tsc, ename(e));
	}
	char c;
	ssize_t r = read(sfd, &c, 1);
	CHECK(r == 0, "read after the end returns 0 (got %zd)", r);
	if (p2p) {
		must_set(&d, S_RUNNING_P2P, NULL);
		CHECK(get_state(&d) == S_RUNNING_P2P, "destination RESUMING -> RUNNING_P2P");
	} else {
		e = set_state(&d, S_STOP, NULL);
		CHECK(!e, "destination RESUMING -> STOP accepted the data (%s)", ename(e));
	}
	must_set(&d, S_RUNNING, NULL);
	must_set(&s, S_STOP, NULL);
	r = read(sfd, &c, 1);
	CHECK(r < 0 && errno == ENODEV, "saving fd after STOP_COPY -> STOP: %s (want ENODEV)", r < 0 ? ename(errno) : "data");
	r = write(rfd, &c, 1);
	CHECK(r < 0 && errno == ENODEV, "resuming fd after the session: %s (want ENODEV)", r < 0 ? ename(errno) : "accepted");
	close(sfd);
	close(rfd);
	ok("migration %s -> %s: %" PRIu64 " bytes in %.3fs%s%s", su, du, total, now() - tstart,
	   p2p ? " (P2P)" : "", precopy ? " (PRE_COPY)" : "");
	int64_t at = cmp(&s, &d);
	CHECK(at < 0, "destination memory equals source memory (first difference %" PRId64 ")", at);
	if (!precopy) {
		at = check(&d, seed);
		CHECK(at < 0, "destination holds the written pattern (first difference %" PRId64 ")", at);
	}
	must_set(&s, S_RUNNING, NULL);
	CHECK(get_state(&s) == S_RUNNING && get_state(&d) == S_RUNNING, "both devices RUNNING at the end");
	return failures ? 1 : 0;
}

/* Every (from, to) pair: reach `from` from RUNNING, request `to`, check the result. */
static int cmd_fsm(const char *uuid)
{
	struct dev d;
	dev_open(&d, uuid);
	for (int from = 1; from <= 7; from++) {
		for (int to = 1; to <= 7; to++) {
			int fd1 = -1, fd2 = -1;
			if (dev_reset(&d))
				die("reset");
			if (from != S_RUNNING && set_state(&d, from, &fd1)) {
				bad("%s: reaching %s from RUNNING failed", uuid, sname[from]);
				continue;
			}
			int e = set_state(&d, to, &fd2);
			int st = get_state(&d);
			int saving_from = from == S_STOP_COPY;
			if (from == to) {
				CHECK(!e && st == to && fd2 < 0, "%s -> %s (same): %s", sname[from], sname[to], ename(e));
			} else if (saving_from && (to == S_PRE_COPY || to == S_PRE_COPY_P2P)) {
				CHECK(e == EINVAL && st == from, "%s -> %s refused: %s, stays %s", sname[from], sname[to], ename(e), sname[st]);
			} else if (from == S_RESUMING) {
				/* leaving RESUMING validates the (empty) stream: refused */
				CHECK(e == EINVAL && st == S_RESUMING, "%s -> %s with no data refused: %s, stays %s", sname[from], sname[to], ename(e), sname[st]);
			} else {
				int opens = (to == S_STOP_COPY && from != S_PRE_COPY && from != S_PRE_COPY_P2P) ||
					    to == S_RESUMING ||
					    ((to == S_PRE_COPY || to == S_PRE_COPY_P2P) && from != S_PRE_COPY && from != S_PRE_COPY_P2P);
				CHECK(!e && st == to && (opens ? fd2 >= 0 : fd2 < 0), "%s -> %s: %s, now %s, data_fd %s", sname[from], sname[to],
				      ename(e), sname[st], fd2 >= 0 ? "new" : "-1");
			}
			if (fd1 >= 0) close(fd1);
			if (fd2 >= 0) close(fd2);
		}
	}
	int e = set_state(&d, 8, NULL);
	CHECK(e == EINVAL, "state 8 refused: %s", ename(e));
	dev_reset(&d);
	return failures ? 1 : 0;
}

static int cmd_ebusy(const char *uuid, const char *prm, const char *val)
{
	char p[512];
	struct dev d;
	snprintf(p, sizeof(p), "/sys/bus/mdev/devices/%s/migration/%s", uuid, prm);
	dev_open(&d, uuid);
	int e = sysfs_write(p, val);
	CHECK(e == EBUSY, "write %s=%s while open: %s (want EBUSY)", prm, val, ename(e));
	dev_close(&d);
	close(container);
	container = -1;
	e = sysfs_write(p, val);
	CHECK(e == 0, "write %s=%s after close: %s", prm, val, ename(e));
	return failures ? 1 : 0;
}

/* Save the full state of an open RUNNING device into a malloc'd buffer. */
static char *save_mem(struct dev *d, size_t *len)
{
	int dfd, e;
	char *tmpl = strdup("/tmp/vmtest-state-XXXXXX");
	int tfd = mkstemp(tmpl);
	must_set(d, S_STOP_COPY, &dfd);
	uint64_t n = drain(dfd, tfd, &e);
	if (e)
		die("save: %s", ename(e));
	close(dfd);
	must_set(d, S_RUNNING, NULL);
	char *buf = malloc(n);
	if (pread(tfd, buf, n, 0) != (ssize_t)n)
		die("pread state");
	close(tfd);
	unlink(tmpl);
	free(tmpl);
	*len = n;
	return buf;
}

/* Load buf into d; returns the errno of RESUMING -> STOP (0: accepted, d RUNNING again). */
static int load_mem(struct dev *d, const char *buf, size_t len, int *write_err)
{
	int rfd;
	must_set(d, S_RESUMING, &rfd);
	*write_err = write_all(rfd, buf, len);
	close(rfd);
	int e = set_state(d, S_STOP, NULL);
	if (!e)
		must_set(d, S_RUNNING, NULL);
	return e;
}

static void recover(struct dev *d, const char *what)
{
	int st = get_state(d);
	if (st == S_RUNNING)
		return;
	int e = st == S_ERROR ? EINVAL : set_state(d, S_RUNNING, NULL);
	if (e)
		e = dev_reset(d);
	CHECK(!e && get_state(d) == S_RUNNING, "%s: recovered to RUNNING (was %s)", what, sname[st]);
}

static int cmd_faults(const char *su, const char *du)
{
	struct dev s, d;
	int e, dfd, we;
	uint64_t n;
	char num[32];
	dev_open(&s, su);
	dev_open(&d, du);
	faults_off();
	param("fault_dev", su);
	param("faults_fired", "0");
	fill(&s, 7);

	/* 1. an arc fails with an errno: RUNNING -> STOP_COPY fails on STOP -> STOP_COPY */
	snprintf(num, sizeof(num), "%d", S_STOP); param("fail_arc_from", num);
	snprintf(num, sizeof(num), "%d", S_STOP_COPY); param("fail_arc_to", num);
	param("fail_arc_errno", "116"); /* ESTALE: recognisable */
	e = set_state(&s, S_STOP_COPY, &dfd);
	CHECK(e == ESTALE && dfd < 0, "fail_arc STOP->STOP_COPY: SET STOP_COPY fails with %s (want ESTALE), data_fd %d", ename(e), dfd);
	CHECK(get_state(&s) == S_STOP, "fail_arc: device left in STOP (on the path), got %s", sname[get_state(&s)]);
	CHECK(param_read("fail_arc_count") == 0 && param_read("faults_fired") == 1, "fail_arc disarmed after one shot, faults_fired=1");
	recover(&s, "fail_arc");
	e = set_state(&s, S_STOP_COPY, &dfd);
	CHECK(!e && dfd >= 0, "after disarming, RUNNING -> STOP_COPY works (%s)", ename(e));
	if (dfd >= 0) close(dfd);
	must_set(&s, S_RUNNING, NULL);
	faults_off(); param("fault_dev", su);

	/* 2. an arc sends the device to ERROR */
	snprintf(num, sizeof(num), "%d", S_RUNNING_P2P); param("error_arc_from", num);
	snprintf(num, sizeof(num), "%d", S_STOP); param("error_arc_to", num);
	e = set_state(&s, S_STOP_COPY, &dfd);
	CHECK(e == EIO && get_state(&s) == S_ERROR, "error_arc RUNNING_P2P->STOP: SET fails %s, device in %s", ename(e), sname[get_state(&s)]);
	e = set_state(&s, S_RUNNING, NULL);
	CHECK(e == EINVAL && get_state(&s) == S_ERROR, "SET while in ERROR refused (%s), still ERROR", ename(e));
	e = dev_reset(&s);
	CHECK(!e && get_state(&s) == S_RUNNING, "VFIO_DEVICE_RESET leaves ERROR for RUNNING");
	CHECK(check(&s, 7) < 0, "memory survives the reset");
	faults_off(); param("fault_dev", su);

	/* 3. a data read fails after N bytes */
	param("fail_read_after", "4096");
	must_set(&s, S_STOP_COPY, &dfd);
	n = drain(dfd, -1, &e);
	CHECK(e == EIO && n == 4096, "fail_read_after=4096: read fails with %s after %" PRIu64 " bytes", ename(e), n);
	CHECK(get_state(&s) == S_STOP_COPY, "device still in STOP_COPY after the failed read");
	close(dfd);
	e = set_state(&s, S_RUNNING, NULL);
	CHECK(!e && get_state(&s) == S_RUNNING, "source back to RUNNING (%s)", ename(e));
	faults_off();

	/* good state for the load faults */
	size_t len;
	char *state = save_mem(&s, &len);
	ok("saved %zu bytes of state for the load tests", len);

	/* 4. the destination rejects good data */
	param("fault_dev", du);
	param("reject_load", "1");
	e = load_mem(&d, state, len, &we);
	CHECK(!we && e == EINVAL && get_state(&d) == S_RESUMING, "reject_load: RESUMING -> STOP fails %s, device stays %s", ename(e), sname[get_state(&d)]);
	e = dev_reset(&d);
	CHECK(!e && get_state(&d) == S_RUNNING, "destination reset to RUNNING");
	e = load_mem(&d, state, len, &we);
	CHECK(!e && !we, "after disarming the same data loads (%s)", ename(e));
	CHECK(check(&d, 7) < 0, "destination memory holds the source pattern");
	faults_off();

	/* 5. corrupted streams are rejected */
	struct { const char *what; size_t off; size_t cut; } bad_cases[] = {
		{"flipped payload byte", len / 2, 0},
		{"flipped header byte", 30, 0},
		{"flipped record magic", 0, 0},
		{"truncated stream (no end record)", 0, len - 24},
		{"truncated mid-record", 0, len / 3},
		{"empty stream", 0, 1},
	};
	for (unsigned i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char *c = malloc(len);
		memcpy(c, state, len);
		size_t l = len;
		if (bad_cases[i].cut) l = bad_cases[i].cut == 1 ? 0 : bad_cases[i].cut;
		else c[bad_cases[i].off] ^= 0x40;
		e = load_mem(&d, c, l, &we);
		CHECK(e == EINVAL && get_state(&d) == S_RESUMING, "%s: load rejected with %s, destination %s",
		      bad_cases[i].what, ename(e), sname[get_state(&d)]);
		e = dev_reset(&d);
		CHECK(!e && get_state(&d) == S_RUNNING, "%s: destination reset to RUNNING", bad_cases[i].what);
		free(c);
	}
	/* 6. trailing garbage after the end record */
	{
		char *c = malloc(len + 8);
		memcpy(c, state, len);
		memset(c + len, 0x11, 8);
		e = load_mem(&d, c, len + 8, &we);
		CHECK(e == EINVAL, "data after the end record rejected (%s)", ename(e));
		dev_reset(&d);
		free(c);
	}
	/* 7. STOP_COPY -> PRE_COPY is refused, not looping */
	must_set(&s, S_STOP_COPY, &dfd);
	e = set_state(&s, S_PRE_COPY, NULL);
	CHECK(e == EINVAL && get_state(&s) == S_STOP_COPY, "STOP_COPY -> PRE_COPY refused (%s), still STOP_COPY", ename(e));
	close(dfd);
	must_set(&s, S_RUNNING, NULL);
	/* 8. PRE_COPY fail_read: precopy read error, recover via PRE_COPY -> RUNNING */
	param("fault_dev", su);
	param("fail_read_after", "100");
	must_set(&s, S_PRE_COPY, &dfd);
	n = drain(dfd, -1, &e);
	CHECK(e == EIO && n == 100, "PRE_COPY read fails with %s after %" PRIu64 " bytes", ename(e), n);
	e = set_state(&s, S_RUNNING, NULL);
	CHECK(!e && get_state(&s) == S_RUNNING, "PRE_COPY -> RUNNING after the failed read (%s)", ename(e));
	close(dfd);
	faults_off();
	CHECK(get_state(&s) == S_RUNNING && get_state(&d) == S_RUNNING, "no device left outside RUNNING");
	CHECK(check(&s, 7) < 0, "source memory intact after every fault");
	printf("faults_fired=%ld\n", param_read("faults_fired"));
	free(state);
	return failures ? 1 : 0;
}

static void on_alarm(int sig) { (void)sig; }

/* One read (or write) of len bytes; returns its result, *secs its duration, errno kept. */
static ssize_t timed_io(int fd, char *buf, size_t len, int wr, double *secs)
{
	double t0 = now();
	ssize_t r = wr ? write(fd, buf, len) : read(fd, buf, len);
	int e = errno;
	*secs = now() - t0;
	errno = e;
	return r;
}

/* The knobs added for the migration-reliability work (README: Fault injection). */
static int cmd_knobs(const char *su, const char *du)
{
	struct dev s, d;
	int e, dfd, rfd;
	uint64_t n, init, dirty;
	double t;
	ssize_t r;
	char b[64];
	dev_open(&s, su);
	dev_open(&d, du);
	faults_off();
	param("faults_fired", "0");
	fill(&s, 9);
	size_t len;
	char *state = save_mem(&s, &len);
	ok("saved %zu bytes of state", len);

	/* 1. fail_write_after: the write reaching 4096 is cut short, the next fails with the errno */
	param("fault_dev", du);
	param("fail_write_after", "4096");
	param("fail_write_errno", "28"); /* ENOSPC: recognisable */
	must_set(&d, S_RESUMING, &rfd);
	r = write(rfd, state, len);
	CHECK(r == 4096, "fail_write_after=4096: first write of %zu bytes accepts %zd", len, r);
	r = write(rfd, state + 4096, len - 4096);
	e = errno;
	CHECK(r < 0 && e == ENOSPC, "the next write fails with %s (want ENOSPC)", r < 0 ? ename(e) : "data");
	CHECK(param_read("fail_write_count") == 0 && param_read("faults_fired") == 1, "fail_write disarmed after one shot, faults_fired=1");
	r = write(rfd, state + 4096, len - 4096);
	CHECK(r == (ssize_t)(len - 4096), "once disarmed the rest is accepted (%zd)", r);
	close(rfd);
	e = set_state(&d, S_STOP, NULL);
	CHECK(!e, "the stream written around the fault still loads (%s)", ename(e));
	if (!e) must_set(&d, S_RUNNING, NULL);
	CHECK(check(&d, 9) < 0, "destination holds the source pattern");
	param("fail_write_count", "-1");
	must_set(&d, S_RESUMING, &rfd);
	r = write(rfd, state, 100);
	CHECK(r == 100, "fail_write_count=-1: writes below the limit pass (%zd)", r);
	r = write(rfd, state + 100, 4096);
	CHECK(r == 3996, "the write reaching the limit is cut to %zd (want 3996)", r);
	for (int i = 0; i < 3; i++) {
		r = write(rfd, state + 4096, 16);
		CHECK(r < 0 && errno == ENOSPC, "write %d past the limit fails (%s)", i + 1, r < 0 ? ename(errno) : "data");
	}
	close(rfd);
	e = dev_reset(&d);
	CHECK(!e && get_state(&d) == S_RUNNING, "destination reset to RUNNING");
	faults_off();

	/* 2. stall_read_ms: each saving read sleeps first; a signal or the session's end stops it */
	param("fault_dev", su);
	param("stall_read_ms", "400");
	must_set(&s, S_STOP_COPY, &dfd);
	r = timed_io(dfd, b, sizeof(b), 0, &t);
	CHECK(r == (ssize_t)sizeof(b) && t >= 0.39, "stall_read_ms=400: a read returns data after %.3fs", t);
	param("stall_read_ms", "60000");
	struct sigaction sa = {0};
	sa.sa_handler = on_alarm; /* no SA_RESTART: the read returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	r = timed_io(dfd, b, sizeof(b), 0, &t);
	e = errno;
	alarm(0);
	CHECK(r < 0 && e == EINTR && t < 10, "stall_read_ms=60000: a signal ends the read after %.3fs (%s)", t, r < 0 ? ename(e) : "data");
	pid_t pid = fork();
	if (pid == 0) {
		usleep(500000);
		_exit(set_state(&s, S_STOP, NULL) ? 1 : 0); /* shares the device fd: ends the session */
	}
	r = timed_io(dfd, b, sizeof(b), 0, &t);
	e = errno;
	int wst = 0;
	waitpid(pid, &wst, 0);
	CHECK(r < 0 && e == ENODEV && t < 10, "ending the session (STOP_COPY -> STOP from another process) ends the stalled read after %.3fs (%s)", t, r < 0 ? ename(e) : "data");
	CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0 && get_state(&s) == S_STOP, "the device reached STOP meanwhile");
	close(dfd);
	must_set(&s, S_RUNNING, NULL);
	faults_off();

	/* 3. stall_write_ms */
	param("fault_dev", du);
	param("stall_write_ms", "400");
	must_set(&d, S_RESUMING, &rfd);
	r = timed_io(rfd, state, len, 1, &t);
	CHECK(r == (ssize_t)len && t >= 0.39, "stall_write_ms=400: a write of %zu bytes is accepted after %.3fs", len, t);
	close(rfd);
	e = set_state(&d, S_STOP, NULL);
	CHECK(!e, "the stalled stream loads (%s)", ename(e));
	must_set(&d, S_RUNNING, NULL);
	faults_off();

	/* 4. dirty_rate_kbps: the device changes its memory while RUNNING and PRE_COPY, and
	 * PRECOPY_INFO / the PRE_COPY data account for it */
	param("fault_dev", su);
	fill(&s, 10);
	param("dirty_rate_kbps", "400"); /* 100 pages/s */
	usleep(600000);
	int64_t at = check(&s, 10);
	CHECK(at >= 0, "RUNNING with dirty_rate_kbps=400: memory changed (first at %" PRId64 ")", at);
	must_set(&s, S_PRE_COPY, &dfd);
	int tfd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	if (tfd < 0)
		die("O_TMPFILE");
	n = drain(dfd, tfd, &e);
	CHECK(e == ENOMSG && n > s.size, "PRE_COPY initial data read: %" PRIu64 " bytes, then %s", n, ename(e));
	usleep(600000);
	e = precopy_info(dfd, &init, &dirty);
	CHECK(!e && init == 0 && dirty >= 20 * 4096 && dirty % 4096 == 0,
	      "after 0.6 s PRECOPY_INFO: initial %" PRIu64 ", dirty %" PRIu64 " (want >= 20 pages)", init, dirty);
	n = drain(dfd, tfd, &e);
	CHECK(e == ENOMSG && n >= dirty, "the PRE_COPY read returns the dirty pages: %" PRIu64 " bytes >= %" PRIu64, n, dirty);
	uint64_t init2, dirty2;
	e = precopy_info(dfd, &init2, &dirty2);
	CHECK(!e && dirty2 < dirty, "right after that read PRECOPY_INFO dirty is %" PRIu64 " (< %" PRIu64 ")", dirty2, dirty);
	must_set(&s, S_PRE_COPY_P2P, NULL);
	must_set(&s, S_STOP_COPY, NULL);
	n = drain(dfd, tfd, &e);
	CHECK(!e, "STOP_COPY read to the end: %" PRIu64 " bytes", n);
	close(dfd);
	must_set(&s, S_STOP, NULL); /* STOP: no more dirtying */
	off_t total = lseek(tfd, 0, SEEK_END);
	char *all = malloc(total);
	if (pread(tfd, all, total, 0) != total)
		die("pread stream");
	close(tfd);
	int we;
	must_set(&d, S_RESUMING, &rfd);
	we = write_all(rfd, all, total);
	close(rfd);
	e = set_state(&d, S_STOP, NULL);
	CHECK(!we && !e, "the whole stream (%lld bytes) loads into the destination (%s)", (long long)total, ename(e));
	at = cmp(&s, &d);
	CHECK(at < 0, "destination equals the stopped source, dirtied pages included (first difference %" PRId64 ")", at);
	free(all);
	/* STOP does not dirty; RUNNING does again, and only fault_dev's device */
	usleep(300000);
	CHECK(cmp(&s, &d) < 0, "STOP: no page changes");
	must_set(&d, S_RUNNING, NULL);
	usleep(300000);
	CHECK(cmp(&s, &d) < 0, "another device than fault_dev is not dirtied");
	must_set(&s, S_RUNNING, NULL);
	usleep(300000);
	CHECK(cmp(&s, &d) >= 0, "RUNNING again: the source changes");
	faults_off();
	printf("faults_fired=%ld\n", param_read("faults_fired"));
	free(state);
	return failures ? 1 : 0;
}

/* A data fd outliving its device: the session must be ended (ENODEV/EINVAL), no crash. */
static int cmd_orphan(const char *uuid)
{
	struct dev d;
	int dfd;
	uint64_t init, dirty;
	char p[512], c;

	dev_open(&d, uuid);
	must_set(&d, S_PRE_COPY, &dfd);
	int e = precopy_info(dfd, &init, &dirty);
	CHECK(!e && init > 0, "PRECOPY_INFO while open: initial=%" PRIu64, init);
	dev_close(&d);
	close(container);
	container = -1;
	ssize_t r = read(dfd, &c, 1);
	CHECK(r < 0 && errno == ENODEV, "read after the device was closed: %s (want ENODEV)", r < 0 ? ename(errno) : "data");
	snprintf(p, sizeof(p), "/sys/bus/mdev/devices/%s/remove", uuid);
	e = sysfs_write(p, "1");
	CHECK(!e, "device removed while its data fd is still open (%s)", ename(e));
	r = read(dfd, &c, 1);
	CHECK(r < 0 && errno == ENODEV, "read after the removal: %s (want ENODEV)", r < 0 ? ename(errno) : "data");
	e = precopy_info(dfd, &init, &dirty);
	CHECK(e == EINVAL, "PRECOPY_INFO after the removal: %s (want EINVAL)", ename(e));
	CHECK(close(dfd) == 0, "data fd closed");
	return failures ? 1 : 0;
}

/* One byte of region INDEX at OFF through the device fd (offset from REGION_INFO). */
static int cmd_reg(const char *uuid, unsigned index, uint64_t off, int wr, unsigned val)
{
	struct dev d;
	dev_open(&d, uuid);
	struct region_info ri = {sizeof(ri), 0, index, 0, 0, 0};
	if (ioctl(d.fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		die("GET_REGION_INFO %u", index);
	if (ri.offset != (uint64_t)index << 40)
		printf("note: region %u at offset 0x%" PRIx64 ", not index << 40\n", index, ri.offset);
	if (off >= ri.size)
		die("offset %" PRIu64 " beyond region %u (size %" PRIu64 ")", off, index, ri.size);
	unsigned char b = val;
	ssize_t n = wr ? pwrite(d.fd, &b, 1, ri.offset + off) : pread(d.fd, &b, 1, ri.offset + off);
	if (n != 1)
		die("region %u %s at %" PRIu64, index, wr ? "write" : "read", off);
	if (!wr)
		printf("%u\n", b);
	return 0;
}


static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A virtio-serial port carries no end of stream: the other guest closing its end does not
 * reach this one. `migrate load --in -` waits for EOF after the trailer, so the pair
 * scenarios feed it through copyn, which ends its output once the byte count the source
 * reported (NFILE, written after its save) has passed. EOF on the port (the host side of the
 * channel went away) before that: exit 1.
 */
static int cmd_copyn(const char *port, const char *nfile, int secs)
{
	int fd = open(port, O_RDONLY | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "copyn: open %s: %s\n", port, strerror(errno));
		return 3;
	}
	signal(SIGPIPE, SIG_IGN);
	static char buf[65536];
	uint64_t copied = 0, want = UINT64_MAX;
	double end = now_s() + secs;
	for (;;) {
		if (want == UINT64_MAX) {
			FILE *f = fopen(nfile, "r");
			if (f) {
				unsigned long long n;
				if (fscanf(f, "%llu", &n) == 1)
					want = n;
				fclose(f);
			}
		}
		if (copied >= want)
			break;
		if (now_s() > end) {
			fprintf(stderr, "copyn: %" PRIu64 " bytes after %d s, %s\n", copied, secs,
				want == UINT64_MAX ? "the source's byte count never came" : "fewer than the source sent");
			return 1;
		}
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 200) <= 0)
			continue;
		size_t room = sizeof buf;
		if (want != UINT64_MAX && want - copied < room)
			room = want - copied;
		ssize_t n = read(fd, buf, room);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			fprintf(stderr, "copyn: read %s: %s\n", port, strerror(errno));
			return 3;
		}
		if (n == 0) {
			fprintf(stderr, "copyn: end of input on %s (host side disconnected) after %" PRIu64 " bytes\n", port, copied);
			return 1;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(1, buf + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				fprintf(stderr, "copyn: write: %s after %" PRIu64 " bytes\n", strerror(errno), copied);
				return 3;
			}
			off += w;
		}
		copied += n;
	}
	fprintf(stderr, "copyn: %" PRIu64 " bytes\n", copied);
	return 0;
}

/*
 * Left-over bytes of a failed scenario must not reach the next one; and after a cut the next
 * one needs the channel back: read and drop until nothing came for QUIET_MS while the host
 * side is connected (virtio_console: POLLHUP, and reads of 0, while it is not).
 */
static int cmd_drain(const char *port, int quiet_ms, int max_ms)
{
	int fd = open(port, O_RDONLY | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "drain: open %s: %s\n", port, strerror(errno));
		return 3;
	}
	static char buf[65536];
	uint64_t dropped = 0;
	int hup = 1;
	double start = now_s(), last = start;
	while ((now_s() - start) * 1000 < max_ms) {
		struct pollfd p = {fd, POLLIN, 0};
		int r = poll(&p, 1, 100);
		hup = r > 0 && (p.revents & POLLHUP);
		ssize_t n = r > 0 && (p.revents & POLLIN) ? read(fd, buf, sizeof buf) : 0;
		if (n > 0) {
			dropped += n;
			last = now_s();
		} else if (hup) {
			last = now_s();
			usleep(100000);
		} else if ((now_s() - last) * 1000 >= quiet_ms) {
			break;
		}
	}
	printf("drained %" PRIu64 " bytes%s\n", dropped, hup ? "; the host side is still disconnected" : "");
	return hup || (now_s() - last) * 1000 < quiet_ms ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: vmtest info|fill|check|cmp|save|load|migrate|fsm|faults|ebusy|write ... (see the source header)\n");
	return 2;
}

static int has(int argc, char **argv, const char *opt)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], opt))
			return 1;
	return 0;
}

static uint64_t optnum(int argc, char **argv, const char *opt, uint64_t dflt)
{
	for (int i = 0; i + 1 < argc; i++)
		if (!strcmp(argv[i], opt))
			return strtoull(argv[i + 1], NULL, 0);
	return dflt;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return usage();
	const char *c = argv[1];
	if (!strcmp(c, "info"))
		return cmd_info(argv[2]);
	if (!strcmp(c, "fill") && argc >= 4)
		return cmd_fill(argv[2], strtoull(argv[3], NULL, 0), 0);
	if (!strcmp(c, "check") && argc >= 4)
		return cmd_fill(argv[2], strtoull(argv[3], NULL, 0), 1);
	if (!strcmp(c, "cmp") && argc >= 4)
		return cmd_cmp(argv[2], argv[3]);
	if (!strcmp(c, "save") && argc >= 4)
		return cmd_save(argv[2], argv[3], has(argc, argv, "--p2p"), has(argc, argv, "--precopy"));
	if (!strcmp(c, "load") && argc >= 4)
		return cmd_load(argv[2], argv[3]);
	if (!strcmp(c, "migrate") && argc >= 4)
		return cmd_migrate(argv[2], argv[3], has(argc, argv, "--p2p"), has(argc, argv, "--precopy"),
				   optnum(argc, argv, "--seed", 1));
	if (!strcmp(c, "fsm"))
		return cmd_fsm(argv[2]);
	if (!strcmp(c, "faults") && argc >= 4)
		return cmd_faults(argv[2], argv[3]);
	if (!strcmp(c, "knobs") && argc >= 4)
		return cmd_knobs(argv[2], argv[3]);
	if (!strcmp(c, "ebusy") && argc >= 5)
		return cmd_ebusy(argv[2], argv[3], argv[4]);
	if (!strcmp(c, "copyn") && argc >= 5)
		return cmd_copyn(argv[2], argv[3], atoi(argv[4]));
	if (!strcmp(c, "drain") && argc >= 5)
		return cmd_drain(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(c, "orphan"))
		return cmd_orphan(argv[2]);
	if (!strcmp(c, "hold") && argc >= 4) {
		struct dev d;
		dev_open(&d, argv[2]);
		printf("opened %s\n", argv[2]);
		fflush(stdout);
		sleep(atoi(argv[3]));
		return 0;
	}
	if (!strcmp(c, "regw") && argc >= 6)
		return cmd_reg(argv[2], strtoul(argv[3], NULL, 0), strtoull(argv[4], NULL, 0), 1,
			       strtoul(argv[5], NULL, 0));
	if (!strcmp(c, "regr") && argc >= 5)
		return cmd_reg(argv[2], strtoul(argv[3], NULL, 0), strtoull(argv[4], NULL, 0), 0, 0);
	if (!strcmp(c, "state")) {
		struct dev d;
		dev_open(&d, argv[2]);
		printf("%s\n", sname[get_state(&d)]);
		return 0;
	}
	if (!strcmp(c, "write") && argc >= 4) {
		int e = sysfs_write(argv[2], argv[3]);
		printf("%s\n", ename(e));
		return e ? 1 : 0;
	}
	return usage();
}
