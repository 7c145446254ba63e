// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_mig_ref: a reference mdev vendor driver with VFIO migration (v2 uAPI)
 * and sysfs migration metadata (RFC v3 parameters and RFC v4 versions), for
 * the vfio-mig real-kernel test bed.  Builds against Debian's 6.1 and 6.12
 * kernels.  On 6.1 the core knows no PRE_COPY, so the driver emulates it
 * (its own copy of the 8x8 table, its own MIG_DATA_SIZE); from 6.2 on the
 * core's state machine and migration_get_data_size are used instead.
 *
 * See test/vm/README.md for the sysfs layout, the stream format and the
 * fault-injection knobs.
 */
#include <linux/module.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/mutex.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/anon_inodes.h>
#include <linux/uaccess.h>
#include <linux/sysfs.h>
#include <linux/string.h>
#include <linux/crc32.h>
#include <linux/bitmap.h>
#include <linux/sched.h>
#include <linux/version.h>
#include <linux/workqueue.h>
#include <linux/wait.h>
#include <linux/jiffies.h>
#include <linux/vfio.h>
#include <linux/mdev.h>

/* 6.2 moved PRE_COPY and MIG_DATA_SIZE into the core. */
#define VMREF_CORE_PRECOPY (LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0))
/* state numbers; the table itself only walks arcs on 6.1 */
#include "vmref_fsm.h"
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#define vmref_llseek noop_llseek	/* no_llseek is gone; stream_open still gives ESPIPE */
#else
#define vmref_llseek no_llseek
#endif

#define VMREF_NAME "vmref"
#define VMREF_CHUNK (1u << 20)
#define VMREF_NIC_STATE_BYTES 4096	/* the RFC v4 nic type: a 4 KiB device state */
#define VMREF_REGION_SHIFT 40
#define VMREF_REGION_MASK ((1ULL << VMREF_REGION_SHIFT) - 1)

/* Newer uAPI, not in 6.1's headers. */
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#endif
#define VMREF_FEATURE_MIG_DATA_SIZE 9
#define VMREF_MIG_GET_PRECOPY_INFO _IO(VFIO_TYPE, VFIO_BASE + 21)
struct vmref_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};
struct vmref_mig_data_size {
	__aligned_u64 stop_copy_length;
};

/* ---------------------------------------------------------------- faults */

static int fail_arc_from = -1;
static int fail_arc_to = -1;
static int fail_arc_errno = EIO;
static int fail_arc_count = 1;
static int error_arc_from = -1;
static int error_arc_to = -1;
static int error_arc_count = 1;
static long fail_read_after = -1;
static int fail_read_errno = EIO;
static int fail_read_count = 1;
static int reject_load;
static int reject_load_errno = EINVAL;
static int check_on_write;
static long fail_write_after = -1;
static int fail_write_errno = EIO;
static int fail_write_count = 1;
static int stall_read_ms;
static int stall_write_ms;
static int dirty_rate_kbps;
static char fault_dev[40];
static int faults_fired;
static int no_p2p;

module_param(fail_arc_from, int, 0644);
MODULE_PARM_DESC(fail_arc_from, "state number: fail the arc fail_arc_from->fail_arc_to (-1: off)");
module_param(fail_arc_to, int, 0644);
MODULE_PARM_DESC(fail_arc_to, "state number, see fail_arc_from");
module_param(fail_arc_errno, int, 0644);
MODULE_PARM_DESC(fail_arc_errno, "positive errno the failed arc returns (default EIO)");
module_param(fail_arc_count, int, 0644);
MODULE_PARM_DESC(fail_arc_count, "how many times the arc fails before disarming (<0: always)");
module_param(error_arc_from, int, 0644);
MODULE_PARM_DESC(error_arc_from, "state number: the arc error_arc_from->error_arc_to sends the device to ERROR and returns EIO");
module_param(error_arc_to, int, 0644);
MODULE_PARM_DESC(error_arc_to, "state number, see error_arc_from");
module_param(error_arc_count, int, 0644);
MODULE_PARM_DESC(error_arc_count, "how many times (<0: always)");
module_param(fail_read_after, long, 0644);
MODULE_PARM_DESC(fail_read_after, "a data_fd read fails once a session has returned this many bytes (-1: off)");
module_param(fail_read_errno, int, 0644);
MODULE_PARM_DESC(fail_read_errno, "positive errno of the failed read (default EIO)");
module_param(fail_read_count, int, 0644);
MODULE_PARM_DESC(fail_read_count, "how many reads fail before disarming (<0: always)");
module_param(reject_load, int, 0644);
MODULE_PARM_DESC(reject_load, "reject this many loads at RESUMING->STOP even when the data is good (<0: always)");
module_param(reject_load_errno, int, 0644);
MODULE_PARM_DESC(reject_load_errno, "positive errno of a rejected load (default EINVAL)");
module_param(check_on_write, int, 0644);
MODULE_PARM_DESC(check_on_write, "refuse a foreign header in write() with EINVAL (as mtty and hisi_acc do) instead of on RESUMING -> STOP");
module_param(fail_write_after, long, 0644);
MODULE_PARM_DESC(fail_write_after, "a resuming data_fd write fails once the session has received this many bytes (-1: off)");
module_param(fail_write_errno, int, 0644);
MODULE_PARM_DESC(fail_write_errno, "positive errno of the failed write (default EIO)");
module_param(fail_write_count, int, 0644);
MODULE_PARM_DESC(fail_write_count, "how many writes fail before disarming (<0: always)");
module_param(stall_read_ms, int, 0644);
MODULE_PARM_DESC(stall_read_ms, "every saving data_fd read sleeps this long first (interruptible; 0: off)");
module_param(stall_write_ms, int, 0644);
MODULE_PARM_DESC(stall_write_ms, "every resuming data_fd write sleeps this long first (interruptible; 0: off)");
module_param(dirty_rate_kbps, int, 0644);
MODULE_PARM_DESC(dirty_rate_kbps, "KiB/s (1024 bytes) of device memory the device dirties while RUNNING or PRE_COPY, in 4 KiB pages (0: off)");
module_param_string(fault_dev, fault_dev, sizeof(fault_dev), 0644);
MODULE_PARM_DESC(fault_dev, "UUID: faults apply only to this device (empty: to every device)");
module_param(faults_fired, int, 0644);
MODULE_PARM_DESC(faults_fired, "count of injected faults that fired (write 0 to reset)");
module_param(no_p2p, int, 0644);
MODULE_PARM_DESC(no_p2p, "devices created while set do not offer VFIO_MIGRATION_P2P (a multi-device migration must refuse them)");

static DEFINE_SPINLOCK(fault_lock);

static bool vmref_fault_dev_match(struct device *dev)
{
	char want[40];
	size_t n;

	strscpy(want, fault_dev, sizeof(want));
	n = strlen(want);
	while (n && (want[n - 1] == '\n' || want[n - 1] == ' '))
		want[--n] = 0;
	return !n || !strcmp(want, dev_name(dev));
}

/* Consume one shot of a counted fault; true when it fires. */
static bool vmref_fault_take(int *count)
{
	bool fire = false;

	spin_lock(&fault_lock);
	if (*count != 0) {
		if (*count > 0)
			(*count)--;
		faults_fired++;
		fire = true;
	}
	spin_unlock(&fault_lock);
	return fire;
}

/* ------------------------------------------------------------- types */

enum vmref_kind { VMREF_V3 = 1, VMREF_V4 = 2 };

struct vmref_type {
	struct mdev_type type;
	enum vmref_kind kind;
	const char *description;
	unsigned int max_instances;
	atomic_t instances;
	u32 default_mib;	/* memory init_value and size for memory=0 */
	u32 mem_max;		/* allowed "1-<mem_max>" */
	u32 mem_extra;		/* one more plain allowed value, 0: none */
	u32 queues_max;		/* allowed "1-<queues_max>" */
	const char *const *profiles;
	const char *info;	/* migration_info.json or migration_device_models */
};

#define REF_GFX_MODEL "vfio-mig.dev/ref-gfx"
#define REF_NIC_MODEL "vfio-mig.dev/ref-nic"
#define REF_NIC_COMPAT_MODEL "vfio-mig.dev/ref-nic-compat"

static const char *const profiles_small[] = { "v1", "v2", NULL };
static const char *const profiles_big[] = { "v1", "v2", "v3", NULL };

#define GFX_INFO(init, allowed, profiles, queues)				\
	"{\"models\":{\"" REF_GFX_MODEL "\":{\"params\":{"			\
	"\"memory\":{\"type\":\"int\",\"init_value\":" init			\
	",\"off_value\":0,\"allowed_values\":" allowed				\
	",\"description\":\"device memory in MiB (0: the type's default size)\"},"	\
	"\"ecc\":{\"type\":\"bool\",\"init_value\":true,\"off_value\":false,"	\
	"\"description\":\"error correction (refused together with profile v1)\"},"	\
	"\"profile\":{\"type\":\"str\",\"init_value\":\"v2\",\"off_value\":\"v1\","	\
	"\"allowed_values\":" profiles						\
	",\"description\":\"state layout profile\"},"				\
	"\"queues\":{\"type\":\"int\",\"init_value\":1,\"allowed_values\":" queues \
	",\"description\":\"number of queues (cannot be switched off)\"}"	\
	"}}}}\n"

/* RFC v4 models of the nic type; each model's first version is its default. */
struct vmref_v4_model {
	const char *model;
	const char *const *versions;
};
static const char *const nic_versions[] = { "v2", "v1", NULL };
static const char *const nic_compat_versions[] = { "v1", NULL };
static const struct vmref_v4_model nic_models[] = {
	{ REF_NIC_MODEL, nic_versions },
	{ REF_NIC_COMPAT_MODEL, nic_compat_versions },
	{ NULL, NULL },
};

static struct vmref_type vmref_types[] = {
	{
		.type.sysfs_name = "gfx-4GB",
		.type.pretty_name = "ref gfx 4GB (RFC v3 parameters)",
		.kind = VMREF_V3,
		.description = "reference gfx device, 4 MiB memory by default, model " REF_GFX_MODEL,
		.max_instances = 4,
		.default_mib = 4,
		.mem_max = 256,
		.queues_max = 4,
		.profiles = profiles_small,
		.info = GFX_INFO("4", "[0,\"1-256\"]", "[\"v1\",\"v2\"]", "[\"1-4\"]"),
	},
	{
		.type.sysfs_name = "gfx-8GB",
		.type.pretty_name = "ref gfx 8GB (RFC v3 parameters)",
		.kind = VMREF_V3,
		.description = "reference gfx device, 8 MiB memory by default, model " REF_GFX_MODEL,
		.max_instances = 2,
		.default_mib = 8,
		.mem_max = 512,
		.mem_extra = 1024,
		.queues_max = 8,
		.profiles = profiles_big,
		.info = GFX_INFO("8", "[0,\"1-512\",1024]", "[\"v1\",\"v2\",\"v3\"]", "[\"1-8\"]"),
	},
	{
		.type.sysfs_name = "nic",
		.type.pretty_name = "ref nic (RFC v4 versions)",
		.kind = VMREF_V4,
		.description = "reference nic device, 4 KiB state, models " REF_NIC_MODEL " and " REF_NIC_COMPAT_MODEL,
		.max_instances = 4,
		.info = REF_NIC_MODEL ":\nv2\nv1\n" REF_NIC_COMPAT_MODEL ":\nv1\n",
	},
};

static struct mdev_type *vmref_mdev_types[] = {
	&vmref_types[0].type,
	&vmref_types[1].type,
	&vmref_types[2].type,
};

static struct vmref_type *to_vmref_type(struct mdev_type *mtype)
{
	return container_of(mtype, struct vmref_type, type);
}

/* ------------------------------------------------------------ device */

struct vmref_params {
	u32 memory;
	bool ecc;
	char profile[8];
	u32 queues;
	char model[48];
	char version[16];
};

struct vmref_migf;

struct vmref_dev {
	struct vfio_device vdev;
	struct mdev_device *mdev;
	struct vmref_type *type;
	struct mutex state_mutex;
	u32 state;
	bool opened;
	struct vmref_params p;
	u8 *mem;
	size_t mem_size;
	unsigned long *dirty;
	unsigned long npages;
	bool tracking;
	struct vmref_migf *saving;
	struct vmref_migf *resuming;
	char last_error[160];
	/* dirty_rate_kbps: a work item dirtying pages while the device is open */
	struct delayed_work dirty_work;
	unsigned long dirty_cursor;	/* next page to dirty */
	u64 dirty_budget;		/* bytes owed to the rate, < one page carried over */
	unsigned long dirty_last;	/* jiffies of the last tick */
};

/* ------------------------------------------------------------ stream */

#define VMREF_REC_HDR 0x52444856u	/* "VHDR" */
#define VMREF_REC_CHUNK 0x4b484356u	/* "VCHK" */
#define VMREF_REC_END 0x444e4556u	/* "VEND" */
#define VMREF_FORMAT 1

struct vmref_rec {
	__le32 magic;
	__le32 crc;		/* crc32_le(~0, payload) ^ ~0 */
	__le64 offset;		/* chunk: byte offset in device memory */
	__le64 len;		/* payload bytes following this record header */
} __packed;

struct vmref_hdr {
	__le32 format;
	__le32 kind;
	char model[48];
	char type[32];
	__le64 mem_size;
	__le32 memory;
	__le32 ecc;
	char profile[8];
	__le32 queues;
	char version[16];
} __packed;

enum { PH_HDR, PH_INITIAL, PH_DIRTY, PH_END, PH_DONE };
enum { RS_REC, RS_PAYLOAD, RS_SINK };

struct vmref_migf {
	struct file *filp;
	struct mutex lock;
	struct vmref_dev *vd;
	bool disabled;
	bool resuming;
	wait_queue_head_t wq;	/* stall faults wait here; woken when the session ends */
	u8 *bounce;		/* VMREF_CHUNK bytes */
	u64 total;		/* bytes read or written so far */
	/* saving */
	bool precopy;		/* the session began in PRE_COPY* */
	bool stop_copy;		/* the device has reached STOP_COPY: drain to END */
	int phase;
	u64 init_off;
	bool cur_initial;	/* the pending record belongs to the initial data */
	struct vmref_rec rec;
	u32 rec_pos;		/* bytes of rec already delivered; sizeof(rec): none pending */
	u32 pay_len, pay_pos;
	/* resuming */
	int rs;
	u32 rec_fill;
	int err;		/* latched error, reported at RESUMING -> STOP */
	char why[120];
	bool got_hdr, got_end;
};

static u32 vmref_crc(const void *p, size_t n)
{
	return crc32_le(~0u, p, n) ^ ~0u;
}

static size_t vmref_mem_bytes(struct vmref_type *t, struct vmref_params *p)
{
	if (t->kind == VMREF_V4)
		return VMREF_NIC_STATE_BYTES;
	return (size_t)(p->memory ? p->memory : t->default_mib) << 20;
}

static void vmref_fill_hdr(struct vmref_dev *vd, struct vmref_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->format = cpu_to_le32(VMREF_FORMAT);
	h->kind = cpu_to_le32(vd->type->kind);
	if (vd->type->kind == VMREF_V3)
		strscpy(h->model, REF_GFX_MODEL, sizeof(h->model));
	else
		strscpy(h->model, vd->p.model, sizeof(h->model));
	strscpy(h->type, vd->type->type.sysfs_name, sizeof(h->type));
	h->mem_size = cpu_to_le64(vd->mem_size);
	h->memory = cpu_to_le32(vd->p.memory);
	h->ecc = cpu_to_le32(vd->p.ecc);
	strscpy(h->profile, vd->p.profile, sizeof(h->profile));
	h->queues = cpu_to_le32(vd->p.queues);
	strscpy(h->version, vd->p.version, sizeof(h->version));
}

static u64 vmref_stop_copy_estimate(size_t mem_size)
{
	u64 chunks = DIV_ROUND_UP((u64)mem_size, VMREF_CHUNK);

	return 3 * sizeof(struct vmref_rec) + sizeof(struct vmref_hdr) +
	       chunks * sizeof(struct vmref_rec) + mem_size;
}

/* Saving side: produce the next record into migf->rec/bounce; false when none now. */
static bool vmref_next_record(struct vmref_migf *migf)
{
	struct vmref_dev *vd = migf->vd;
	u32 magic = 0, len = 0;
	u64 off = 0;

	for (;;) {
		switch (migf->phase) {
		case PH_HDR:
			vmref_fill_hdr(vd, (struct vmref_hdr *)migf->bounce);
			magic = VMREF_REC_HDR;
			len = sizeof(struct vmref_hdr);
			migf->cur_initial = true;
			migf->phase = PH_INITIAL;
			goto emit;
		case PH_INITIAL:
			if (migf->init_off < vd->mem_size) {
				off = migf->init_off;
				len = min_t(u64, VMREF_CHUNK, vd->mem_size - off);
				memcpy(migf->bounce, vd->mem + off, len);
				migf->init_off += len;
				magic = VMREF_REC_CHUNK;
				migf->cur_initial = true;
				goto emit;
			}
			migf->phase = PH_DIRTY;
			continue;
		case PH_DIRTY: {
			unsigned long first, pg, max_pages = VMREF_CHUNK >> PAGE_SHIFT;

			if (vd->tracking && vd->dirty) {
				first = find_first_bit(vd->dirty, vd->npages);
				if (first < vd->npages) {
					pg = first;
					while (pg < vd->npages && pg - first < max_pages &&
					       test_and_clear_bit(pg, vd->dirty))
						pg++;
					off = (u64)first << PAGE_SHIFT;
					len = (pg - first) << PAGE_SHIFT;
					memcpy(migf->bounce, vd->mem + off, len);
					magic = VMREF_REC_CHUNK;
					migf->cur_initial = false;
					goto emit;
				}
			}
			if (!migf->stop_copy)
				return false;
			migf->phase = PH_END;
			continue;
		}
		case PH_END:
			magic = VMREF_REC_END;
			len = 0;
			off = migf->total;
			migf->cur_initial = false;
			migf->phase = PH_DONE;
			goto emit;
		default:
			return false;
		}
	}
emit:
	migf->rec.magic = cpu_to_le32(magic);
	migf->rec.crc = cpu_to_le32(len ? vmref_crc(migf->bounce, len) : 0);
	migf->rec.offset = cpu_to_le64(off);
	migf->rec.len = cpu_to_le64(len);
	migf->rec_pos = 0;
	migf->pay_len = len;
	migf->pay_pos = 0;
	return true;
}

/*
 * stall_read_ms / stall_write_ms: sleep before a data_fd read or write, holding
 * no lock, so the session can be ended meanwhile.  A signal ends the sleep
 * (-EINTR) and so does the end of the session (-ENODEV: a state change, reset
 * or close of the device): a stalled caller can always be got out.
 */
static int vmref_stall(struct vmref_migf *migf, int ms)
{
	bool match;
	long r;

	if (ms <= 0)
		return 0;
	mutex_lock(&migf->lock);
	if (migf->disabled) {
		mutex_unlock(&migf->lock);
		return -ENODEV;
	}
	match = vmref_fault_dev_match(mdev_dev(migf->vd->mdev));
	mutex_unlock(&migf->lock);
	if (!match)
		return 0;
	spin_lock(&fault_lock);
	faults_fired++;
	spin_unlock(&fault_lock);
	r = wait_event_interruptible_timeout(migf->wq, READ_ONCE(migf->disabled),
					     msecs_to_jiffies(ms));
	if (r < 0)
		return -EINTR;
	return r > 0 ? -ENODEV : 0;
}

static ssize_t vmref_save_read(struct file *filp, char __user *buf, size_t count,
			       loff_t *pos)
{
	struct vmref_migf *migf = filp->private_data;
	struct vmref_dev *vd;
	ssize_t done = 0;
	int ret = 0;

	if (pos)
		return -ESPIPE;
	ret = vmref_stall(migf, READ_ONCE(stall_read_ms));
	if (ret)
		return ret;
	mutex_lock(&migf->lock);
	if (migf->disabled) {
		ret = -ENODEV;
		goto out;
	}
	vd = migf->vd;
	if (fail_read_after >= 0 && vmref_fault_dev_match(mdev_dev(vd->mdev))) {
		long left = fail_read_after - (long)migf->total;

		if (left <= 0) {
			if (vmref_fault_take(&fail_read_count)) {
				ret = -(fail_read_errno > 0 ? fail_read_errno : EIO);
				goto out;
			}
		} else if (count > left) {
			count = left;
		}
	}
	while (count) {
		size_t n;

		if (migf->rec_pos < sizeof(migf->rec)) {
			n = min_t(size_t, count, sizeof(migf->rec) - migf->rec_pos);
			if (copy_to_user(buf + done, (u8 *)&migf->rec + migf->rec_pos, n)) {
				ret = -EFAULT;
				break;
			}
			migf->rec_pos += n;
		} else if (migf->pay_pos < migf->pay_len) {
			n = min_t(size_t, count, migf->pay_len - migf->pay_pos);
			if (copy_to_user(buf + done, migf->bounce + migf->pay_pos, n)) {
				ret = -EFAULT;
				break;
			}
			migf->pay_pos += n;
		} else {
			if (!vmref_next_record(migf))
				break;
			cond_resched();
			continue;
		}
		done += n;
		count -= n;
		migf->total += n;
	}
	if (!done && !ret && !migf->stop_copy && migf->phase != PH_DONE)
		ret = -ENOMSG;	/* PRE_COPY: no data for now */
out:
	mutex_unlock(&migf->lock);
	return done ? done : ret;
}

/* Resuming side: check and apply one complete record. */
static void vmref_load_fail(struct vmref_migf *migf, const char *why)
{
	if (!migf->err) {
		migf->err = -EINVAL;
		strscpy(migf->why, why, sizeof(migf->why));
	}
	migf->rs = RS_SINK;
}

static void vmref_load_record(struct vmref_migf *migf)
{
	struct vmref_dev *vd = migf->vd;
	u32 magic = le32_to_cpu(migf->rec.magic);
	u64 len = le64_to_cpu(migf->rec.len);
	u64 off = le64_to_cpu(migf->rec.offset);

	if (len && vmref_crc(migf->bounce, len) != le32_to_cpu(migf->rec.crc)) {
		vmref_load_fail(migf, "record checksum mismatch (garbled stream)");
		return;
	}
	if (magic == VMREF_REC_HDR) {
		struct vmref_hdr mine, *h = (struct vmref_hdr *)migf->bounce;

		if (migf->got_hdr) {
			vmref_load_fail(migf, "second header");
			return;
		}
		vmref_fill_hdr(vd, &mine);
		if (le32_to_cpu(h->format) != VMREF_FORMAT)
			vmref_load_fail(migf, "unknown stream format");
		else if (h->kind != mine.kind || strncmp(h->model, mine.model, sizeof(h->model)))
			vmref_load_fail(migf, "device model differs");
		else if (h->mem_size != mine.mem_size || h->memory != mine.memory)
			vmref_load_fail(migf, "memory differs");
		else if (h->ecc != mine.ecc)
			vmref_load_fail(migf, "ecc differs");
		else if (strncmp(h->profile, mine.profile, sizeof(h->profile)))
			vmref_load_fail(migf, "profile differs");
		else if (h->queues != mine.queues)
			vmref_load_fail(migf, "queues differs");
		else if (strncmp(h->version, mine.version, sizeof(h->version)))
			vmref_load_fail(migf, "version differs");
		migf->got_hdr = true;
		return;
	}
	if (!migf->got_hdr) {
		vmref_load_fail(migf, "data before the header");
		return;
	}
	if (magic == VMREF_REC_CHUNK) {
		if (off > vd->mem_size || len > vd->mem_size - off) {
			vmref_load_fail(migf, "chunk beyond the device memory");
			return;
		}
		memcpy(vd->mem + off, migf->bounce, len);
		return;
	}
	/* VMREF_REC_END */
	migf->got_end = true;
}

static ssize_t vmref_resume_write(struct file *filp, const char __user *buf,
				  size_t count, loff_t *pos)
{
	struct vmref_migf *migf = filp->private_data;
	size_t done = 0;
	int ret = 0;

	if (pos)
		return -ESPIPE;
	ret = vmref_stall(migf, READ_ONCE(stall_write_ms));
	if (ret)
		return ret;
	mutex_lock(&migf->lock);
	if (migf->disabled) {
		ret = -ENODEV;
		goto out;
	}
	/* check_on_write: the write after the one that completed a foreign header fails */
	if (READ_ONCE(check_on_write) && migf->err) {
		ret = migf->err;
		goto out;
	}
	/* fail_write_after: the write reaching the limit is cut short, the next one fails */
	if (fail_write_after >= 0 && vmref_fault_dev_match(mdev_dev(migf->vd->mdev))) {
		long left = fail_write_after - (long)migf->total;

		if (left <= 0) {
			if (vmref_fault_take(&fail_write_count)) {
				ret = -(fail_write_errno > 0 ? fail_write_errno : EIO);
				goto out;
			}
		} else if (count > left) {
			count = left;
		}
	}
	while (done < count) {
		size_t n;

		if (migf->rs == RS_SINK) {
			if (READ_ONCE(check_on_write) && migf->err)
				break;	/* returns the short count; the next write fails */
			migf->total += count - done;
			done = count;
			break;
		}
		if (migf->rs == RS_REC) {
			n = min_t(size_t, count - done, sizeof(migf->rec) - migf->rec_fill);
			if (copy_from_user((u8 *)&migf->rec + migf->rec_fill, buf + done, n)) {
				ret = -EFAULT;
				break;
			}
			migf->rec_fill += n;
			done += n;
			migf->total += n;
			if (migf->rec_fill == sizeof(migf->rec)) {
				u32 magic = le32_to_cpu(migf->rec.magic);
				u64 len = le64_to_cpu(migf->rec.len);

				migf->rec_fill = 0;
				if (migf->got_end)
					vmref_load_fail(migf, "data after the end record");
				else if (magic == VMREF_REC_HDR && len != sizeof(struct vmref_hdr))
					vmref_load_fail(migf, "bad header length");
				else if (magic == VMREF_REC_END && len)
					vmref_load_fail(migf, "bad end record");
				else if (magic != VMREF_REC_HDR && magic != VMREF_REC_CHUNK &&
					 magic != VMREF_REC_END)
					vmref_load_fail(migf, "bad record magic (garbled stream)");
				else if (len > VMREF_CHUNK)
					vmref_load_fail(migf, "record too long");
				else if (!len)
					vmref_load_record(migf);
				else {
					migf->pay_len = len;
					migf->pay_pos = 0;
					migf->rs = RS_PAYLOAD;
				}
			}
			continue;
		}
		/* RS_PAYLOAD */
		n = min_t(size_t, count - done, migf->pay_len - migf->pay_pos);
		if (copy_from_user(migf->bounce + migf->pay_pos, buf + done, n)) {
			ret = -EFAULT;
			break;
		}
		migf->pay_pos += n;
		done += n;
		migf->total += n;
		if (migf->pay_pos == migf->pay_len) {
			migf->rs = RS_REC;
			vmref_load_record(migf);
			cond_resched();
		}
	}
out:
	mutex_unlock(&migf->lock);
	return done ? done : ret;
}

static long vmref_migf_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct vmref_migf *migf = filp->private_data;
	struct vmref_dev *vd;
	struct vmref_precopy_info info;
	unsigned long minsz = offsetofend(struct vmref_precopy_info, dirty_bytes);
	u64 initial = 0, dirty;
	int ret = 0;

	if (cmd != VMREF_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;

	/*
	 * Only migf->lock: the device may be gone once the session was disabled.
	 * A saving session not yet in STOP_COPY means the device is in PRE_COPY*.
	 */
	mutex_lock(&migf->lock);
	if (migf->disabled || migf->resuming || migf->stop_copy) {
		ret = -EINVAL;
		goto out;
	}
	vd = migf->vd;
	dirty = (u64)bitmap_weight(vd->dirty, vd->npages) << PAGE_SHIFT;
	if (migf->rec_pos < sizeof(migf->rec) || migf->pay_pos < migf->pay_len) {
		u64 pending = sizeof(migf->rec) - migf->rec_pos + migf->pay_len - migf->pay_pos;

		if (migf->cur_initial)
			initial += pending;
		else
			dirty += pending;
	}
	if (migf->phase == PH_HDR)
		initial += sizeof(struct vmref_rec) + sizeof(struct vmref_hdr);
	if (migf->phase <= PH_INITIAL && migf->init_off < vd->mem_size) {
		u64 left = vd->mem_size - migf->init_off;

		initial += left + DIV_ROUND_UP(left, VMREF_CHUNK) * sizeof(struct vmref_rec);
	}
	info.flags = 0;
	info.initial_bytes = initial;
	info.dirty_bytes = dirty;
out:
	mutex_unlock(&migf->lock);
	if (!ret && copy_to_user((void __user *)arg, &info, minsz))
		ret = -EFAULT;
	return ret;
}

static int vmref_migf_release(struct inode *inode, struct file *filp)
{
	struct vmref_migf *migf = filp->private_data;

	mutex_lock(&migf->lock);
	migf->disabled = true;
	mutex_unlock(&migf->lock);
	mutex_destroy(&migf->lock);
	vfree(migf->bounce);
	kfree(migf);
	return 0;
}

static const struct file_operations vmref_save_fops = {
	.owner = THIS_MODULE,
	.read = vmref_save_read,
	.unlocked_ioctl = vmref_migf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = vmref_migf_release,
	.llseek = vmref_llseek,
};

static const struct file_operations vmref_resume_fops = {
	.owner = THIS_MODULE,
	.write = vmref_resume_write,
	.unlocked_ioctl = vmref_migf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = vmref_migf_release,
	.llseek = vmref_llseek,
};

static struct vmref_migf *vmref_migf_new(struct vmref_dev *vd, bool resuming)
{
	struct vmref_migf *migf;

	migf = kzalloc(sizeof(*migf), GFP_KERNEL_ACCOUNT);
	if (!migf)
		return ERR_PTR(-ENOMEM);
	migf->bounce = vmalloc(VMREF_CHUNK);
	if (!migf->bounce) {
		kfree(migf);
		return ERR_PTR(-ENOMEM);
	}
	mutex_init(&migf->lock);
	init_waitqueue_head(&migf->wq);
	migf->vd = vd;
	migf->resuming = resuming;
	migf->rec_pos = sizeof(migf->rec);
	migf->filp = anon_inode_getfile(resuming ? "vmref_resume" : "vmref_save",
					resuming ? &vmref_resume_fops : &vmref_save_fops,
					migf, resuming ? O_WRONLY : O_RDONLY);
	if (IS_ERR(migf->filp)) {
		struct file *f = migf->filp;

		mutex_destroy(&migf->lock);
		vfree(migf->bounce);
		kfree(migf);
		return ERR_CAST(f);
	}
	stream_open(migf->filp->f_inode, migf->filp);
	return migf;
}

static void vmref_migf_disable(struct vmref_migf *migf)
{
	mutex_lock(&migf->lock);
	migf->disabled = true;
	mutex_unlock(&migf->lock);
	wake_up_all(&migf->wq);	/* before fput: that may free migf */
	fput(migf->filp);
}

/* Called with state_mutex held: end every data session. */
static void vmref_disable_fds(struct vmref_dev *vd)
{
	if (vd->saving) {
		vmref_migf_disable(vd->saving);
		vd->saving = NULL;
	}
	if (vd->resuming) {
		vmref_migf_disable(vd->resuming);
		vd->resuming = NULL;
	}
	WRITE_ONCE(vd->tracking, false);
}

/* ------------------------------------------------------- state machine */

static const char *const vmref_state_names[] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
	"PRE_COPY", "PRE_COPY_P2P",
};

static struct file *vmref_new_saving(struct vmref_dev *vd, bool precopy)
{
	struct vmref_migf *migf = vmref_migf_new(vd, false);

	if (IS_ERR(migf))
		return ERR_CAST(migf);
	migf->precopy = precopy;
	migf->stop_copy = !precopy;
	if (precopy) {
		bitmap_zero(vd->dirty, vd->npages);
		WRITE_ONCE(vd->tracking, true);
	}
	get_file(migf->filp);
	vd->saving = migf;
	return migf->filp;
}

static struct file *vmref_arc(struct vmref_dev *vd, u32 next)
{
	u32 cur = vd->state;
	struct device *dev = mdev_dev(vd->mdev);

	if ((int)cur == fail_arc_from && (int)next == fail_arc_to &&
	    vmref_fault_dev_match(dev) && vmref_fault_take(&fail_arc_count)) {
		dev_info(dev, "fault: arc %s->%s fails with errno %d\n",
			 vmref_state_names[cur], vmref_state_names[next], fail_arc_errno);
		return ERR_PTR(-(fail_arc_errno > 0 ? fail_arc_errno : EIO));
	}
	if ((int)cur == error_arc_from && (int)next == error_arc_to &&
	    vmref_fault_dev_match(dev) && vmref_fault_take(&error_arc_count)) {
		dev_info(dev, "fault: arc %s->%s sends the device to ERROR\n",
			 vmref_state_names[cur], vmref_state_names[next]);
		vmref_disable_fds(vd);
		vd->state = VMREF_S_ERROR;
		return ERR_PTR(-EIO);
	}

	if ((cur == VMREF_S_RUNNING && next == VMREF_S_RUNNING_P2P) ||
	    (cur == VMREF_S_RUNNING_P2P && next == VMREF_S_RUNNING) ||
	    (cur == VMREF_S_RUNNING_P2P && next == VMREF_S_STOP) ||
	    (cur == VMREF_S_STOP && next == VMREF_S_RUNNING_P2P) ||
	    (cur == VMREF_S_PRE_COPY && next == VMREF_S_PRE_COPY_P2P) ||
	    (cur == VMREF_S_PRE_COPY_P2P && next == VMREF_S_PRE_COPY)) {
		vd->state = next;
		return NULL;
	}
	if (cur == VMREF_S_STOP && next == VMREF_S_STOP_COPY) {
		struct file *f = vmref_new_saving(vd, false);

		if (!IS_ERR(f))
			vd->state = next;
		return f;
	}
	if ((cur == VMREF_S_RUNNING && next == VMREF_S_PRE_COPY) ||
	    (cur == VMREF_S_RUNNING_P2P && next == VMREF_S_PRE_COPY_P2P)) {
		struct file *f = vmref_new_saving(vd, true);

		if (!IS_ERR(f))
			vd->state = next;
		return f;
	}
	if (cur == VMREF_S_PRE_COPY_P2P && next == VMREF_S_STOP_COPY) {
		mutex_lock(&vd->saving->lock);
		vd->saving->stop_copy = true;
		mutex_unlock(&vd->saving->lock);
		vd->state = next;
		return NULL;
	}
	if ((cur == VMREF_S_STOP_COPY && next == VMREF_S_STOP) ||
	    (cur == VMREF_S_PRE_COPY && next == VMREF_S_RUNNING) ||
	    (cur == VMREF_S_PRE_COPY_P2P && next == VMREF_S_RUNNING_P2P)) {
		vmref_disable_fds(vd);
		vd->state = next;
		return NULL;
	}
	if (cur == VMREF_S_STOP && next == VMREF_S_RESUMING) {
		struct vmref_migf *migf = vmref_migf_new(vd, true);

		if (IS_ERR(migf))
			return ERR_CAST(migf);
		get_file(migf->filp);
		vd->resuming = migf;
		vd->state = next;
		return migf->filp;
	}
	if (cur == VMREF_S_RESUMING && next == VMREF_S_STOP) {
		struct vmref_migf *migf = vd->resuming;
		int err = 0;

		mutex_lock(&migf->lock);
		if (migf->err) {
			err = migf->err;
			snprintf(vd->last_error, sizeof(vd->last_error), "load rejected: %s",
				 migf->why);
		} else if (!migf->got_hdr || !migf->got_end || migf->rs != RS_REC ||
			   migf->rec_fill) {
			err = -EINVAL;
			snprintf(vd->last_error, sizeof(vd->last_error),
				 "load rejected: short stream (%llu bytes, %s)",
				 (unsigned long long)migf->total,
				 migf->got_hdr ? "no end record" : "no header");
		} else if (reject_load && vmref_fault_dev_match(dev) &&
			   vmref_fault_take(&reject_load)) {
			err = -(reject_load_errno > 0 ? reject_load_errno : EINVAL);
			snprintf(vd->last_error, sizeof(vd->last_error),
				 "load rejected: injected fault (reject_load)");
		}
		mutex_unlock(&migf->lock);
		if (err) {
			dev_info(dev, "%s\n", vd->last_error);
			return ERR_PTR(err);
		}
		vmref_disable_fds(vd);
		vd->state = next;
		return NULL;
	}
	return ERR_PTR(-EINVAL);
}

static struct file *vmref_set_state(struct vfio_device *vdev,
				    enum vfio_device_mig_state new_state)
{
	struct vmref_dev *vd = container_of(vdev, struct vmref_dev, vdev);
	struct file *res = NULL;
	u32 target = new_state;

	mutex_lock(&vd->state_mutex);
	while (vd->state != target) {
		enum vfio_device_mig_state next6;
		u32 next;
		int ret;

#if VMREF_CORE_PRECOPY
		/* The core's own 8-state table (WARNs when in ERROR). */
		ret = vfio_mig_get_next_state(vdev, vd->state, target, &next6);
		next = next6;
#else
		if (vd->state <= VMREF_S_RUNNING_P2P && target <= VMREF_S_RUNNING_P2P) {
			/* States 0..5: the 6.1 core's own table (WARNs when in ERROR). */
			ret = vfio_mig_get_next_state(vdev, vd->state, target, &next6);
			next = next6;
		} else {
			ret = vmref_fsm_next(vdev->migration_flags, vd->state, target, &next)
				? -EINVAL : 0;
		}
#endif
		if (ret) {
			res = ERR_PTR(ret);
			break;
		}
		res = vmref_arc(vd, next);
		if (IS_ERR(res))
			break;
		if (res && next != target) {
			/* A data fd opened in the middle of a path: not expected. */
			fput(res);
			res = ERR_PTR(-EINVAL);
			break;
		}
	}
	mutex_unlock(&vd->state_mutex);
	return res;
}

static int vmref_get_state(struct vfio_device *vdev,
			   enum vfio_device_mig_state *curr_state)
{
	struct vmref_dev *vd = container_of(vdev, struct vmref_dev, vdev);

	mutex_lock(&vd->state_mutex);
	*curr_state = vd->state;
	mutex_unlock(&vd->state_mutex);
	return 0;
}

#if VMREF_CORE_PRECOPY
/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, dispatched by the core. */
static int vmref_get_data_size(struct vfio_device *vdev, unsigned long *len)
{
	struct vmref_dev *vd = container_of(vdev, struct vmref_dev, vdev);

	mutex_lock(&vd->state_mutex);
	*len = vmref_stop_copy_estimate(vd->mem_size);
	mutex_unlock(&vd->state_mutex);
	return 0;
}
#endif

static const struct vfio_migration_ops vmref_mig_ops = {
	.migration_set_state = vmref_set_state,
	.migration_get_state = vmref_get_state,
#if VMREF_CORE_PRECOPY
	.migration_get_data_size = vmref_get_data_size,
#endif
};

#if !VMREF_CORE_PRECOPY
/* 6.1's core passes MIG_DATA_SIZE (unknown to it) to the driver. */
static int vmref_device_feature(struct vfio_device *vdev, u32 flags,
				void __user *arg, size_t argsz)
{
	struct vmref_dev *vd = container_of(vdev, struct vmref_dev, vdev);
	struct vmref_mig_data_size size = {};
	int ret;

	if ((flags & VFIO_DEVICE_FEATURE_MASK) != VMREF_FEATURE_MIG_DATA_SIZE)
		return -ENOTTY;
	ret = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_GET, sizeof(size));
	if (ret != 1)
		return ret;
	mutex_lock(&vd->state_mutex);
	size.stop_copy_length = vmref_stop_copy_estimate(vd->mem_size);
	mutex_unlock(&vd->state_mutex);
	if (copy_to_user(arg, &size, sizeof(size)))
		return -EFAULT;
	return 0;
}
#endif

/* dirty_rate_kbps: dirty whole pages (a counter in each page's first word). */
#define VMREF_DIRTY_TICK_MS 20
#define VMREF_IDLE_TICK_MS 200

static void vmref_dirty_work(struct work_struct *work)
{
	struct vmref_dev *vd = container_of(to_delayed_work(work), struct vmref_dev, dirty_work);
	unsigned long now = jiffies;
	int rate = READ_ONCE(dirty_rate_kbps);

	mutex_lock(&vd->state_mutex);
	if (rate > 0 && vd->mem && vd->npages &&
	    (vd->state == VMREF_S_RUNNING || vd->state == VMREF_S_PRE_COPY) &&
	    vmref_fault_dev_match(mdev_dev(vd->mdev))) {
		vd->dirty_budget += (u64)rate * 1024 * jiffies_to_msecs(now - vd->dirty_last) / 1000;
		/* at most the whole memory per tick */
		vd->dirty_budget = min_t(u64, vd->dirty_budget, (u64)vd->npages << PAGE_SHIFT);
		while (vd->dirty_budget >= PAGE_SIZE) {
			u64 *w = (u64 *)(vd->mem + ((u64)vd->dirty_cursor << PAGE_SHIFT));

			WRITE_ONCE(*w, *w + 1);
			/* after the change: a reader that cleared the bit sends the page again */
			if (vd->tracking)
				set_bit(vd->dirty_cursor, vd->dirty);
			vd->dirty_cursor = (vd->dirty_cursor + 1) % vd->npages;
			vd->dirty_budget -= PAGE_SIZE;
		}
	} else {
		vd->dirty_budget = 0;
	}
	vd->dirty_last = now;
	mutex_unlock(&vd->state_mutex);
	schedule_delayed_work(&vd->dirty_work,
			      msecs_to_jiffies(rate > 0 ? VMREF_DIRTY_TICK_MS : VMREF_IDLE_TICK_MS));
}

/* ------------------------------------------------------ vfio device ops */

static int vmref_init_dev(struct vfio_device *vdev)
{
	struct vmref_dev *vd = container_of(vdev, struct vmref_dev, vdev);
	struct mdev_device *mdev = to_mdev_device(vdev->dev);
	struct vmref_type *t = to_vmref_type(mdev->type);
	int n = atomic_inc_return(&t->instances);

	if (n > t->max_instances) {
		atomic_dec(&t->instances);
		return -ENOSPC;
	}
	mutex_init(&vd->state_mutex);
	INIT_DELAYED_WORK(&vd->dirty_work, vmref_dirty_work);
	vd->mdev = mdev;
	vd->type = t;
	vd->state = VMREF_S_RUNNING;
	vd->p.memory = t->default_mib;
	vd->p.ecc = true;
	strscpy(vd->p.profile, "v2", sizeof(vd->p.profile));
	vd->p.queues = 1;
	if (t->kind == VMREF_V4) {
		vd->p.memory = 0;
		strscpy(vd->p.model, nic_models[0].model, sizeof(vd->p.model));
		strscpy(vd->p.version, nic_models[0].versions[0], sizeof(vd->p.version));
	}
	vd->mem_size = vmref_mem_bytes(t, &vd->p);
	vdev->migration_flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
				VFIO_MIGRATION_PRE_COPY;
	if (READ_ONCE(no_p2p))
		vdev->migration_flags &= ~VFIO_MIGRATION_P2P;
	vdev->mig_ops = &vmref_mig_ops;
	return 0;
}

static void vmref_free_mem(struct vmref_dev *vd)
{
	vfree(vd->mem);
	vd->mem = NULL;
	bitmap_free(vd->dirty);
	vd->dirty = NULL;
	vd->npages = 0;
}

static void vmref_release_dev(struct vfio_device *vdev)
{
	struct vmref_dev *vd = container_of(vdev, struct vmref_dev, vdev);

	vmref_free_mem(vd);
	atomic_dec(&vd->type->instances);
	mutex_destroy(&vd->state_mutex);
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
	vfio_free_device(vdev);	/* from 6.2 the core frees after .release */
#endif
}

static int vmref_open_device(struct vfio_device *vdev)
{
	struct vmref_dev *vd = container_of(vdev, struct vmref_dev, vdev);
	size_t want;
	int ret = 0;

	mutex_lock(&vd->state_mutex);
	want = vmref_mem_bytes(vd->type, &vd->p);
	if (!vd->mem || vd->mem_size != want) {
		vmref_free_mem(vd);
		vd->mem_size = want;
		vd->mem = vzalloc(want);
		vd->npages = want >> PAGE_SHIFT;
		vd->dirty = bitmap_zalloc(vd->npages, GFP_KERNEL);
		if (!vd->mem || !vd->dirty) {
			vmref_free_mem(vd);
			ret = -ENOMEM;
			goto out;
		}
	}
	vd->state = VMREF_S_RUNNING;
	vd->opened = true;
	vd->dirty_last = jiffies;
	vd->dirty_budget = 0;
	schedule_delayed_work(&vd->dirty_work, msecs_to_jiffies(VMREF_DIRTY_TICK_MS));
out:
	mutex_unlock(&vd->state_mutex);
	return ret;
}

static void vmref_close_device(struct vfio_device *vdev)
{
	struct vmref_dev *vd = container_of(vdev, struct vmref_dev, vdev);

	/* before state_mutex: the work takes it (and re-arms itself; _sync copes) */
	cancel_delayed_work_sync(&vd->dirty_work);
	mutex_lock(&vd->state_mutex);
	vmref_disable_fds(vd);
	vd->state = VMREF_S_RUNNING;
	vd->opened = false;
	mutex_unlock(&vd->state_mutex);
}

static ssize_t vmref_rw(struct vmref_dev *vd, char __user *ubuf, size_t count,
			loff_t *ppos, bool write)
{
	u64 pos = *ppos & VMREF_REGION_MASK;
	unsigned int index = *ppos >> VMREF_REGION_SHIFT;
	size_t done = 0;

	if (index != VFIO_PCI_BAR0_REGION_INDEX)
		return -EINVAL;
	if (!vd->mem || pos >= vd->mem_size)
		return write ? -ENOSPC : 0;
	count = min_t(u64, count, vd->mem_size - pos);
	while (done < count) {
		size_t n = min_t(size_t, count - done, VMREF_CHUNK);
		unsigned long left;

		if (write)
			left = copy_from_user(vd->mem + pos + done, ubuf + done, n);
		else
			left = copy_to_user(ubuf + done, vd->mem + pos + done, n);
		if (write && READ_ONCE(vd->tracking) && n - left) {
			unsigned long first = (pos + done) >> PAGE_SHIFT;
			unsigned long last = (pos + done + n - left - 1) >> PAGE_SHIFT;

			for (; first <= last; first++)
				set_bit(first, vd->dirty);
		}
		done += n - left;
		if (left)
			break;
		cond_resched();
	}
	if (!done)
		return -EFAULT;
	*ppos += done;
	return done;
}

static ssize_t vmref_read(struct vfio_device *vdev, char __user *buf,
			  size_t count, loff_t *ppos)
{
	return vmref_rw(container_of(vdev, struct vmref_dev, vdev), buf, count, ppos, false);
}

static ssize_t vmref_write(struct vfio_device *vdev, const char __user *buf,
			   size_t count, loff_t *ppos)
{
	return vmref_rw(container_of(vdev, struct vmref_dev, vdev), (char __user *)buf,
			count, ppos, true);
}

static long vmref_ioctl(struct vfio_device *vdev, unsigned int cmd, unsigned long arg)
{
	struct vmref_dev *vd = container_of(vdev, struct vmref_dev, vdev);
	unsigned long minsz;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info info;

		minsz = offsetofend(struct vfio_device_info, num_irqs);
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		info.num_regions = VFIO_PCI_NUM_REGIONS;
		info.num_irqs = VFIO_PCI_NUM_IRQS;
		return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info info;

		minsz = offsetofend(struct vfio_region_info, offset);
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		if (info.index >= VFIO_PCI_NUM_REGIONS)
			return -EINVAL;
		info.offset = (u64)info.index << VMREF_REGION_SHIFT;
		info.cap_offset = 0;
		if (info.index == VFIO_PCI_BAR0_REGION_INDEX) {
			mutex_lock(&vd->state_mutex);
			info.size = vd->mem_size;
			mutex_unlock(&vd->state_mutex);
			info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		} else {
			info.size = 0;
			info.flags = 0;
		}
		return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info info;

		minsz = offsetofend(struct vfio_irq_info, count);
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
			return -EINVAL;
		info.flags = 0;
		info.count = 0;
		return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
	}
	case VFIO_DEVICE_RESET:
		mutex_lock(&vd->state_mutex);
		vmref_disable_fds(vd);
		vd->state = VMREF_S_RUNNING;
		mutex_unlock(&vd->state_mutex);
		return 0;
	}
	return -ENOTTY;
}

static const struct vfio_device_ops vmref_dev_ops = {
	.name = "vfio-mig-ref",
	.init = vmref_init_dev,
	.release = vmref_release_dev,
	.open_device = vmref_open_device,
	.close_device = vmref_close_device,
	.read = vmref_read,
	.write = vmref_write,
	.ioctl = vmref_ioctl,
#if !VMREF_CORE_PRECOPY
	.device_feature = vmref_device_feature,
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0) && IS_ENABLED(CONFIG_IOMMUFD)
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
#endif
};

/* --------------------------------------------------- device sysfs attrs */

static struct vmref_dev *dev_to_vd(struct device *dev)
{
	return dev_get_drvdata(dev);
}

static bool vmref_in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

/* Copy a sysfs write without the trailing newline; -EINVAL if too long or empty. */
static int vmref_arg(const char *buf, size_t count, char *out, size_t outsz)
{
	size_t n = count;

	if (n && buf[n - 1] == '\n')
		n--;
	if (!n || n >= outsz || memchr(buf, 0, n))
		return -EINVAL;
	memcpy(out, buf, n);
	out[n] = 0;
	return 0;
}

static int vmref_parse_bool(const char *s, bool *v)
{
	if (!strcmp(s, "true")) {
		*v = true;
		return 0;
	}
	if (!strcmp(s, "false")) {
		*v = false;
		return 0;
	}
	return kstrtobool(s, v);
}

static bool vmref_memory_allowed(struct vmref_type *t, u32 v)
{
	return v == 0 || (v >= 1 && v <= t->mem_max) || (t->mem_extra && v == t->mem_extra);
}

/* Lock and check the device is not open; returns with state_mutex held on 0. */
static int vmref_param_lock(struct vmref_dev *vd)
{
	mutex_lock(&vd->state_mutex);
	if (vd->opened) {
		mutex_unlock(&vd->state_mutex);
		return -EBUSY;
	}
	return 0;
}

static ssize_t memory_show(struct device *dev, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_vd(dev)->p.memory);
}

static ssize_t memory_store(struct device *dev, struct device_attribute *a,
			    const char *buf, size_t count)
{
	struct vmref_dev *vd = dev_to_vd(dev);
	char s[24];
	u32 v;
	int ret = vmref_arg(buf, count, s, sizeof(s));

	if (ret || kstrtou32(s, 10, &v) || !vmref_memory_allowed(vd->type, v))
		return -EINVAL;
	ret = vmref_param_lock(vd);
	if (ret)
		return ret;
	vd->p.memory = v;
	if (vmref_mem_bytes(vd->type, &vd->p) != vd->mem_size) {
		/* New size: the memory is reallocated (zeroed) at the next open. */
		vmref_free_mem(vd);
		vd->mem_size = vmref_mem_bytes(vd->type, &vd->p);
	}
	mutex_unlock(&vd->state_mutex);
	return count;
}
static DEVICE_ATTR_RW(memory);

static ssize_t ecc_show(struct device *dev, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%d\n", dev_to_vd(dev)->p.ecc);
}

static ssize_t ecc_store(struct device *dev, struct device_attribute *a,
			 const char *buf, size_t count)
{
	struct vmref_dev *vd = dev_to_vd(dev);
	char s[8];
	bool v;
	int ret = vmref_arg(buf, count, s, sizeof(s));

	if (ret || vmref_parse_bool(s, &v))
		return -EINVAL;
	ret = vmref_param_lock(vd);
	if (ret)
		return ret;
	if (v && !strcmp(vd->p.profile, "v1"))
		ret = -EINVAL;	/* refused combination: ecc=1 with profile=v1 */
	else
		vd->p.ecc = v;
	mutex_unlock(&vd->state_mutex);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(ecc);

static ssize_t profile_show(struct device *dev, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_to_vd(dev)->p.profile);
}

static ssize_t profile_store(struct device *dev, struct device_attribute *a,
			     const char *buf, size_t count)
{
	struct vmref_dev *vd = dev_to_vd(dev);
	char s[8];
	int ret = vmref_arg(buf, count, s, sizeof(s));

	if (ret || !vmref_in_list(vd->type->profiles, s))
		return -EINVAL;
	ret = vmref_param_lock(vd);
	if (ret)
		return ret;
	if (vd->p.ecc && !strcmp(s, "v1"))
		ret = -EINVAL;	/* refused combination: ecc=1 with profile=v1 */
	else
		strscpy(vd->p.profile, s, sizeof(vd->p.profile));
	mutex_unlock(&vd->state_mutex);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(profile);

static ssize_t queues_show(struct device *dev, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_vd(dev)->p.queues);
}

static ssize_t queues_store(struct device *dev, struct device_attribute *a,
			    const char *buf, size_t count)
{
	struct vmref_dev *vd = dev_to_vd(dev);
	char s[24];
	u32 v;
	int ret = vmref_arg(buf, count, s, sizeof(s));

	if (ret || kstrtou32(s, 10, &v) || v < 1 || v > vd->type->queues_max)
		return -EINVAL;
	ret = vmref_param_lock(vd);
	if (ret)
		return ret;
	vd->p.queues = v;
	mutex_unlock(&vd->state_mutex);
	return count;
}
static DEVICE_ATTR_RW(queues);

static const struct vmref_v4_model *vmref_find_model(const char *name)
{
	const struct vmref_v4_model *m;

	for (m = nic_models; m->model; m++)
		if (!strcmp(m->model, name))
			return m;
	return NULL;
}

static ssize_t device_model_show(struct device *dev, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_to_vd(dev)->p.model);
}

static ssize_t device_model_store(struct device *dev, struct device_attribute *a,
				  const char *buf, size_t count)
{
	struct vmref_dev *vd = dev_to_vd(dev);
	const struct vmref_v4_model *m;
	char s[48];
	int ret = vmref_arg(buf, count, s, sizeof(s));

	if (ret || !(m = vmref_find_model(s)))
		return -EINVAL;
	ret = vmref_param_lock(vd);
	if (ret)
		return ret;
	strscpy(vd->p.model, m->model, sizeof(vd->p.model));
	strscpy(vd->p.version, m->versions[0], sizeof(vd->p.version));
	mutex_unlock(&vd->state_mutex);
	return count;
}
static DEVICE_ATTR_RW(device_model);

static ssize_t version_show(struct device *dev, struct device_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_to_vd(dev)->p.version);
}

static ssize_t version_store(struct device *dev, struct device_attribute *a,
			     const char *buf, size_t count)
{
	struct vmref_dev *vd = dev_to_vd(dev);
	const struct vmref_v4_model *m;
	char s[16];
	int ret = vmref_arg(buf, count, s, sizeof(s));

	if (ret)
		return -EINVAL;
	ret = vmref_param_lock(vd);
	if (ret)
		return ret;
	m = vmref_find_model(vd->p.model);
	if (!m || !vmref_in_list(m->versions, s))
		ret = -EINVAL;
	else
		strscpy(vd->p.version, s, sizeof(vd->p.version));
	mutex_unlock(&vd->state_mutex);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(version);

static struct attribute *vmref_mig_attrs[] = {
	&dev_attr_memory.attr,
	&dev_attr_ecc.attr,
	&dev_attr_profile.attr,
	&dev_attr_queues.attr,
	&dev_attr_device_model.attr,
	&dev_attr_version.attr,
	NULL,
};

static umode_t vmref_mig_visible(struct kobject *kobj, struct attribute *attr, int n)
{
	struct device *dev = kobj_to_dev(kobj);
	struct vmref_type *t = to_vmref_type(to_mdev_device(dev)->type);
	bool v4_attr = attr == &dev_attr_device_model.attr || attr == &dev_attr_version.attr;

	if ((t->kind == VMREF_V4) != v4_attr)
		return 0;
	return attr->mode;
}

static const struct attribute_group vmref_mig_group = {
	.name = "migration",
	.attrs = vmref_mig_attrs,
	.is_visible = vmref_mig_visible,
};

static ssize_t vmref_status_show(struct device *dev, struct device_attribute *a, char *buf)
{
	struct vmref_dev *vd = dev_to_vd(dev);
	ssize_t n;

	mutex_lock(&vd->state_mutex);
	n = sysfs_emit(buf, "state=%s open=%d mem_bytes=%zu allocated=%d tracking=%d last_error=%s\n",
		       vmref_state_names[vd->state], vd->opened, vd->mem_size, !!vd->mem,
		       vd->tracking, vd->last_error[0] ? vd->last_error : "none");
	mutex_unlock(&vd->state_mutex);
	return n;
}
static DEVICE_ATTR_RO(vmref_status);

static struct attribute *vmref_dev_attrs[] = {
	&dev_attr_vmref_status.attr,
	NULL,
};

static const struct attribute_group vmref_dev_group = {
	.attrs = vmref_dev_attrs,
};

static const struct attribute_group *vmref_dev_groups[] = {
	&vmref_mig_group,
	&vmref_dev_group,
	NULL,
};

/* ------------------------------------------------- per-type sysfs attrs */

/*
 * 6.1's mdev core has no hook for vendor type attributes; the type kobject's
 * sysfs_ops cast every attribute to this layout (drivers/vfio/mdev/mdev_sysfs.c),
 * so a file added to type->kobj with the same layout works.
 */
struct vmref_type_attribute {
	struct attribute attr;
	ssize_t (*show)(struct mdev_type *mtype, struct vmref_type_attribute *attr, char *buf);
	ssize_t (*store)(struct mdev_type *mtype, struct vmref_type_attribute *attr,
			 const char *buf, size_t count);
};

static ssize_t vmref_info_show(struct mdev_type *mtype, struct vmref_type_attribute *attr,
			       char *buf)
{
	return sysfs_emit(buf, "%s", to_vmref_type(mtype)->info);
}

static struct vmref_type_attribute vmref_attr_info_json = {
	.attr = { .name = "migration_info.json", .mode = 0444 },
	.show = vmref_info_show,
};

static struct vmref_type_attribute vmref_attr_device_models = {
	.attr = { .name = "migration_device_models", .mode = 0444 },
	.show = vmref_info_show,
};

static struct attribute *vmref_type_attr(struct vmref_type *t)
{
	return t->kind == VMREF_V3 ? &vmref_attr_info_json.attr : &vmref_attr_device_models.attr;
}

/* ------------------------------------------------------- mdev driver */

static int vmref_probe(struct mdev_device *mdev)
{
	struct vmref_dev *vd;
	int ret;

	vd = vfio_alloc_device(vmref_dev, vdev, &mdev->dev, &vmref_dev_ops);
	if (IS_ERR(vd))
		return PTR_ERR(vd);
	dev_set_drvdata(&mdev->dev, vd);
	ret = vfio_register_emulated_iommu_dev(&vd->vdev);
	if (ret) {
		dev_set_drvdata(&mdev->dev, NULL);
		vfio_put_device(&vd->vdev);
		return ret;
	}
	return 0;
}

static void vmref_remove(struct mdev_device *mdev)
{
	struct vmref_dev *vd = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&vd->vdev);
	vfio_put_device(&vd->vdev);
}

static unsigned int vmref_get_available(struct mdev_type *mtype)
{
	struct vmref_type *t = to_vmref_type(mtype);
	int used = atomic_read(&t->instances);

	return used >= t->max_instances ? 0 : t->max_instances - used;
}

static ssize_t vmref_show_description(struct mdev_type *mtype, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_vmref_type(mtype)->description);
}

static struct mdev_driver vmref_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.driver = {
		.name = VMREF_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = vmref_dev_groups,
	},
	.probe = vmref_probe,
	.remove = vmref_remove,
	.get_available = vmref_get_available,
	.show_description = vmref_show_description,
};

static struct class *vmref_class;
static struct device vmref_parent_dev;
static struct mdev_parent vmref_parent;

static void vmref_parent_release(struct device *dev)
{
}

static int __init vmref_init(void)
{
	int ret, i;

	ret = mdev_register_driver(&vmref_driver);
	if (ret)
		return ret;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	vmref_class = class_create(VMREF_NAME);
#else
	vmref_class = class_create(THIS_MODULE, VMREF_NAME);
#endif
	if (IS_ERR(vmref_class)) {
		ret = PTR_ERR(vmref_class);
		goto err_driver;
	}
	vmref_parent_dev.class = vmref_class;
	vmref_parent_dev.release = vmref_parent_release;
	dev_set_name(&vmref_parent_dev, "%s", VMREF_NAME);
	ret = device_register(&vmref_parent_dev);
	if (ret) {
		put_device(&vmref_parent_dev);
		goto err_class;
	}
	ret = mdev_register_parent(&vmref_parent, &vmref_parent_dev, &vmref_driver,
				   vmref_mdev_types, ARRAY_SIZE(vmref_mdev_types));
	if (ret)
		goto err_device;
	for (i = 0; i < ARRAY_SIZE(vmref_types); i++) {
		ret = sysfs_create_file(&vmref_types[i].type.kobj, vmref_type_attr(&vmref_types[i]));
		if (ret) {
			while (--i >= 0)
				sysfs_remove_file(&vmref_types[i].type.kobj,
						  vmref_type_attr(&vmref_types[i]));
			goto err_parent;
		}
	}
	pr_info("vfio_mig_ref: parent %s with %zu types\n", VMREF_NAME, ARRAY_SIZE(vmref_types));
	return 0;

err_parent:
	mdev_unregister_parent(&vmref_parent);
err_device:
	device_unregister(&vmref_parent_dev);
err_class:
	class_destroy(vmref_class);
err_driver:
	mdev_unregister_driver(&vmref_driver);
	return ret;
}

static void __exit vmref_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(vmref_types); i++)
		sysfs_remove_file(&vmref_types[i].type.kobj, vmref_type_attr(&vmref_types[i]));
	mdev_unregister_parent(&vmref_parent);
	device_unregister(&vmref_parent_dev);
	class_destroy(vmref_class);
	mdev_unregister_driver(&vmref_driver);
}

module_init(vmref_init);
module_exit(vmref_exit);

MODULE_LICENSE("GPL v2");
MODULE_DESCRIPTION("vfio-mig reference mdev driver with VFIO migration and migration parameters");
MODULE_AUTHOR("vfio-mig");
