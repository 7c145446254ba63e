/*
 * The VFIO uAPI subset the engine uses, defined here (linux/vfio.h is NOT included), so
 * the engine builds the same against old (6.1, no PRE_COPY) and new kernel headers.
 * Values from include/uapi/linux/vfio.h; all ioctls are _IO(';', 100 + n).
 */
#ifndef VME_VFIO_H
#define VME_VFIO_H
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

#define VME_VFIO_TYPE (';')
#define VME_VFIO_BASE 100
#define VME_VFIO_API_VERSION 0
#define VME_VFIO_TYPE1v2_IOMMU 3

#define VME_VFIO_GET_API_VERSION _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 0)      /* 0x3B64 */
#define VME_VFIO_CHECK_EXTENSION _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 1)      /* 0x3B65 */
#define VME_VFIO_SET_IOMMU _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 2)            /* 0x3B66 */
#define VME_VFIO_GROUP_GET_STATUS _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 3)     /* 0x3B67 */
#define VME_VFIO_GROUP_SET_CONTAINER _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 4)  /* 0x3B68 */
#define VME_VFIO_GROUP_GET_DEVICE_FD _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 6)  /* 0x3B6A */
#define VME_VFIO_DEVICE_GET_INFO _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 7)      /* 0x3B6B */
#define VME_VFIO_DEVICE_GET_REGION_INFO _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 8) /* 0x3B6C */
#define VME_VFIO_DEVICE_RESET _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 11)        /* 0x3B6F */
#define VME_VFIO_DEVICE_FEATURE _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 17)      /* 0x3B75 */
#define VME_VFIO_MIG_GET_PRECOPY_INFO _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 21) /* 0x3B79, data_fd, 6.2+ */

/* The device cdev and iommufd (6.6+). Debian 12's userspace headers have no linux/iommufd.h
 * and its 6.1 linux/vfio.h no cdev ioctls, so they are defined here too (values from the 6.12
 * uAPI: include/uapi/linux/vfio.h, iommufd.h). */
#define VME_VFIO_DEVICE_BIND_IOMMUFD _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 18)      /* 0x3B76 */
#define VME_VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VME_VFIO_TYPE, VME_VFIO_BASE + 19) /* 0x3B77 */
#define VME_IOMMU_IOAS_ALLOC _IO(';', 0x81)                                       /* 0x3B81 */

struct vme_bind_iommufd {
  uint32_t argsz;
  uint32_t flags;
  int32_t iommufd;
  uint32_t out_devid;
};

struct vme_ioas_alloc {
  uint32_t size;
  uint32_t flags;
  uint32_t out_ioas_id;
};

struct vme_attach_iommufd_pt {
  uint32_t argsz;
  uint32_t flags;
  uint32_t pt_id;
};
_Static_assert(sizeof(struct vme_bind_iommufd) == 16 && sizeof(struct vme_ioas_alloc) == 12 &&
                   sizeof(struct vme_attach_iommufd_pt) == 12,
               "iommufd uAPI sizes");

#define VME_VFIO_GROUP_FLAGS_VIABLE (1u << 0)

#define VME_FEATURE_GET (1u << 16)
#define VME_FEATURE_SET (1u << 17)
#define VME_FEATURE_PROBE (1u << 18)
#define VME_FEATURE_MIGRATION 1u
#define VME_FEATURE_MIG_DEVICE_STATE 2u
#define VME_FEATURE_MIG_DATA_SIZE 9u /* 6.2+ */

#define VME_MIGRATION_STOP_COPY (1ull << 0)
#define VME_MIGRATION_P2P (1ull << 1)
#define VME_MIGRATION_PRE_COPY (1ull << 2) /* 6.2+ */

enum vme_state {
  VME_STATE_ERROR = 0,
  VME_STATE_STOP = 1,
  VME_STATE_RUNNING = 2,
  VME_STATE_STOP_COPY = 3,
  VME_STATE_RESUMING = 4,
  VME_STATE_RUNNING_P2P = 5,
  VME_STATE_PRE_COPY = 6,     /* 6.2+ */
  VME_STATE_PRE_COPY_P2P = 7, /* 6.2+ */
};

struct vme_group_status {
  uint32_t argsz;
  uint32_t flags;
};

struct vme_device_info {
  uint32_t argsz;
  uint32_t flags;
  uint32_t num_regions;
  uint32_t num_irqs;
  uint32_t cap_offset;
  uint32_t pad;
};

struct vme_feature_migration {
  uint32_t argsz;
  uint32_t flags;
  uint64_t mig_flags __attribute__((aligned(8)));
};

struct vme_feature_state {
  uint32_t argsz;
  uint32_t flags;
  uint32_t device_state;
  int32_t data_fd;
};

struct vme_feature_data_size {
  uint32_t argsz;
  uint32_t flags;
  uint64_t stop_copy_length __attribute__((aligned(8)));
};

struct vme_precopy_info {
  uint32_t argsz;
  uint32_t flags;
  uint64_t initial_bytes __attribute__((aligned(8)));
  uint64_t dirty_bytes __attribute__((aligned(8)));
};

_Static_assert(sizeof(struct vme_feature_migration) == 16, "migration feature size");
_Static_assert(sizeof(struct vme_feature_state) == 16, "state feature size");
_Static_assert(sizeof(struct vme_precopy_info) == 24, "precopy info size");

/* VFIO_DEVICE_GET_REGION_INFO and its capability chain (offsets from the struct's start). */
struct vme_region_info {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t cap_offset;
  uint64_t size;
  uint64_t offset;
};
_Static_assert(sizeof(struct vme_region_info) == 32, "region info size");
#define VME_REGION_INFO_FLAG_CAPS (1u << 3)
#define VME_REGION_INFO_CAP_TYPE 2u /* {u16 id, u16 version, u32 next; u32 type, subtype} */
/* The v1 migration region of Linux 5.8 to 5.17 (removed in 5.18 for the v2 protocol). */
#define VME_REGION_TYPE_MIGRATION_DEPRECATED 3u
#define VME_REGION_SUBTYPE_MIGRATION_DEPRECATED 1u

/* Walks the capability chain of a region-info buffer of len bytes (bounds and loops checked)
 * for a TYPE capability: 1 found (type/subtype set), 0 none, -1 malformed chain. */
int vme_region_type(const unsigned char *buf, size_t len, uint32_t *type, uint32_t *subtype);

const char *vme_state_name(uint32_t s);
int vme_state_parse(const char *name); /* -1 if unknown */
#endif
