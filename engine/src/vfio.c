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
