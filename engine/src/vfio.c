#include "vfio.h"

#include <string.h>

static const char *const names[] = {"ERROR",    "STOP",        "RUNNING",  "STOP_COPY",
                                    "RESUMING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P"};

const char *vme_state_name(uint32_t s) { return s < 8 ? names[s] : "UNKNOWN"; }

int vme_state_parse(const char *name) {
  for (int i = 0; i < 8; i++)
    if (strcmp(names[i], name) == 0) return i;
  return -1;
}

static uint32_t rd32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

int vme_region_type(const unsigned char *buf, size_t len, uint32_t *type, uint32_t *subtype) {
  if (len < sizeof(struct vme_region_info)) return -1;
  if (!(rd32(buf + 4) & VME_REGION_INFO_FLAG_CAPS)) return 0;
  uint32_t off = rd32(buf + 12);
  /* Each hop must move forward inside the buffer: no loops, no reads past the end. */
  uint32_t last = 0;
  while (off) {
    if (off < sizeof(struct vme_region_info) || off <= last || (size_t)off + 8 > len) return -1;
    uint16_t id;
    memcpy(&id, buf + off, 2);
    if (id == VME_REGION_INFO_CAP_TYPE) {
      if ((size_t)off + 16 > len) return -1;
      *type = rd32(buf + off + 8);
      *subtype = rd32(buf + off + 12);
      return 1;
    }
    last = off;
    off = rd32(buf + off + 4);
  }
  return 0;
}
