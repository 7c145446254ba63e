// SPDX-License-Identifier: GPL-2.0-only
/* Prints the arc paths of the driver's next-state table in the format of
 * shared/reference/fsm-paths.txt ("latest" sections) so the two can be diffed. */
#include <stdio.h>
#include "../driver/vmref_fsm.h"

static const char *names[] = {"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING",
			      "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P"};

int main(void)
{
	static const unsigned int sets[] = {1, 3, 5, 7};
	static const char *setnames[] = {"STOP_COPY", "STOP_COPY|P2P", "STOP_COPY|PRE_COPY",
					 "STOP_COPY|P2P|PRE_COPY"};
	for (unsigned s = 0; s < 4; s++) {
		unsigned flags = sets[s];
		printf("== latest migration_flags=0x%x (%s)\n", flags, setnames[s]);
		for (unsigned from = 1; from < VMREF_NUM_STATES; from++) {
			if ((vmref_state_flags[from] & flags) != vmref_state_flags[from])
				continue;
			for (unsigned to = 1; to < VMREF_NUM_STATES; to++) {
				if (to == from || (vmref_state_flags[to] & flags) != vmref_state_flags[to])
					continue;
				unsigned cur = from, next;
				printf("   %s", names[from]);
				int guard = 0;
				while (cur != to && guard++ < 16) {
					if (vmref_fsm_next(flags, cur, to, &next)) {
						printf(" -> -EINVAL");
						break;
					}
					printf(" -> %s", names[next]);
					cur = next;
				}
				printf("\n");
			}
		}
	}
	return 0;
}
