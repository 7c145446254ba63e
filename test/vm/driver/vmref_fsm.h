/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The VFIO migration next-state table of current kernels (8 states, with
 * PRE_COPY and PRE_COPY_P2P), shared by the vfio_mig_ref driver and the
 * userspace table check (test/vm/tools/fsmcheck.c).  Debian's 6.1 core only
 * knows states 0..5, so the driver walks arcs touching states 6/7 itself.
 *
 * Same rule as the kernel: a combination transition may pass through a saving
 * state (PRE_COPY*, STOP_COPY) only while it stays in the saving group it
 * started in; STOP_COPY -> PRE_COPY* is invalid (ERROR -> -EINVAL, and the
 * walk must stop there instead of looping on ERROR).
 */
#ifndef VMREF_FSM_H
#define VMREF_FSM_H

enum {
	VMREF_S_ERROR = 0,
	VMREF_S_STOP = 1,
	VMREF_S_RUNNING = 2,
	VMREF_S_STOP_COPY = 3,
	VMREF_S_RESUMING = 4,
	VMREF_S_RUNNING_P2P = 5,
	VMREF_S_PRE_COPY = 6,
	VMREF_S_PRE_COPY_P2P = 7,
	VMREF_NUM_STATES = 8,
};

#define VMREF_MIG_STOP_COPY (1u << 0)
#define VMREF_MIG_P2P (1u << 1)
#define VMREF_MIG_PRE_COPY (1u << 2)

static const unsigned char vmref_fsm_table[VMREF_NUM_STATES][VMREF_NUM_STATES] = {
	[VMREF_S_STOP] = {
		[VMREF_S_STOP] = VMREF_S_STOP,
		[VMREF_S_RUNNING] = VMREF_S_RUNNING_P2P,
		[VMREF_S_PRE_COPY] = VMREF_S_RUNNING_P2P,
		[VMREF_S_PRE_COPY_P2P] = VMREF_S_RUNNING_P2P,
		[VMREF_S_STOP_COPY] = VMREF_S_STOP_COPY,
		[VMREF_S_RESUMING] = VMREF_S_RESUMING,
		[VMREF_S_RUNNING_P2P] = VMREF_S_RUNNING_P2P,
		[VMREF_S_ERROR] = VMREF_S_ERROR,
	},
	[VMREF_S_RUNNING] = {
		[VMREF_S_STOP] = VMREF_S_RUNNING_P2P,
		[VMREF_S_RUNNING] = VMREF_S_RUNNING,
		[VMREF_S_PRE_COPY] = VMREF_S_PRE_COPY,
		[VMREF_S_PRE_COPY_P2P] = VMREF_S_RUNNING_P2P,
		[VMREF_S_STOP_COPY] = VMREF_S_RUNNING_P2P,
		[VMREF_S_RESUMING] = VMREF_S_RUNNING_P2P,
		[VMREF_S_RUNNING_P2P] = VMREF_S_RUNNING_P2P,
		[VMREF_S_ERROR] = VMREF_S_ERROR,
	},
	[VMREF_S_PRE_COPY] = {
		[VMREF_S_STOP] = VMREF_S_RUNNING,
		[VMREF_S_RUNNING] = VMREF_S_RUNNING,
		[VMREF_S_PRE_COPY] = VMREF_S_PRE_COPY,
		[VMREF_S_PRE_COPY_P2P] = VMREF_S_PRE_COPY_P2P,
		[VMREF_S_STOP_COPY] = VMREF_S_PRE_COPY_P2P,
		[VMREF_S_RESUMING] = VMREF_S_RUNNING,
		[VMREF_S_RUNNING_P2P] = VMREF_S_RUNNING,
		[VMREF_S_ERROR] = VMREF_S_ERROR,
	},
	[VMREF_S_PRE_COPY_P2P] = {
		[VMREF_S_STOP] = VMREF_S_RUNNING_P2P,
		[VMREF_S_RUNNING] = VMREF_S_RUNNING_P2P,
		[VMREF_S_PRE_COPY] = VMREF_S_PRE_COPY,
		[VMREF_S_PRE_COPY_P2P] = VMREF_S_PRE_COPY_P2P,
		[VMREF_S_STOP_COPY] = VMREF_S_STOP_COPY,
		[VMREF_S_RESUMING] = VMREF_S_RUNNING_P2P,
		[VMREF_S_RUNNING_P2P] = VMREF_S_RUNNING_P2P,
		[VMREF_S_ERROR] = VMREF_S_ERROR,
	},
	[VMREF_S_STOP_COPY] = {
		[VMREF_S_STOP] = VMREF_S_STOP,
		[VMREF_S_RUNNING] = VMREF_S_STOP,
		[VMREF_S_PRE_COPY] = VMREF_S_ERROR,
		[VMREF_S_PRE_COPY_P2P] = VMREF_S_ERROR,
		[VMREF_S_STOP_COPY] = VMREF_S_STOP_COPY,
		[VMREF_S_RESUMING] = VMREF_S_STOP,
		[VMREF_S_RUNNING_P2P] = VMREF_S_STOP,
		[VMREF_S_ERROR] = VMREF_S_ERROR,
	},
	[VMREF_S_RESUMING] = {
		[VMREF_S_STOP] = VMREF_S_STOP,
		[VMREF_S_RUNNING] = VMREF_S_STOP,
		[VMREF_S_PRE_COPY] = VMREF_S_STOP,
		[VMREF_S_PRE_COPY_P2P] = VMREF_S_STOP,
		[VMREF_S_STOP_COPY] = VMREF_S_STOP,
		[VMREF_S_RESUMING] = VMREF_S_RESUMING,
		[VMREF_S_RUNNING_P2P] = VMREF_S_STOP,
		[VMREF_S_ERROR] = VMREF_S_ERROR,
	},
	[VMREF_S_RUNNING_P2P] = {
		[VMREF_S_STOP] = VMREF_S_STOP,
		[VMREF_S_RUNNING] = VMREF_S_RUNNING,
		[VMREF_S_PRE_COPY] = VMREF_S_RUNNING,
		[VMREF_S_PRE_COPY_P2P] = VMREF_S_PRE_COPY_P2P,
		[VMREF_S_STOP_COPY] = VMREF_S_STOP,
		[VMREF_S_RESUMING] = VMREF_S_STOP,
		[VMREF_S_RUNNING_P2P] = VMREF_S_RUNNING_P2P,
		[VMREF_S_ERROR] = VMREF_S_ERROR,
	},
	[VMREF_S_ERROR] = {
		[VMREF_S_STOP] = VMREF_S_ERROR,
		[VMREF_S_RUNNING] = VMREF_S_ERROR,
		[VMREF_S_PRE_COPY] = VMREF_S_ERROR,
		[VMREF_S_PRE_COPY_P2P] = VMREF_S_ERROR,
		[VMREF_S_STOP_COPY] = VMREF_S_ERROR,
		[VMREF_S_RESUMING] = VMREF_S_ERROR,
		[VMREF_S_RUNNING_P2P] = VMREF_S_ERROR,
		[VMREF_S_ERROR] = VMREF_S_ERROR,
	},
};

static const unsigned int vmref_state_flags[VMREF_NUM_STATES] = {
	[VMREF_S_STOP] = VMREF_MIG_STOP_COPY,
	[VMREF_S_RUNNING] = VMREF_MIG_STOP_COPY,
	[VMREF_S_STOP_COPY] = VMREF_MIG_STOP_COPY,
	[VMREF_S_RESUMING] = VMREF_MIG_STOP_COPY,
	[VMREF_S_RUNNING_P2P] = VMREF_MIG_STOP_COPY | VMREF_MIG_P2P,
	[VMREF_S_PRE_COPY] = VMREF_MIG_STOP_COPY | VMREF_MIG_PRE_COPY,
	[VMREF_S_PRE_COPY_P2P] = VMREF_MIG_STOP_COPY | VMREF_MIG_P2P | VMREF_MIG_PRE_COPY,
	[VMREF_S_ERROR] = ~0u,
};

/* 0 and the next arc in *next, or -1 (EINVAL). */
static inline int vmref_fsm_next(unsigned int flags, unsigned int cur,
				 unsigned int target, unsigned int *next)
{
	unsigned int n;

	if (cur >= VMREF_NUM_STATES || target >= VMREF_NUM_STATES)
		return -1;
	if ((vmref_state_flags[cur] & flags) != vmref_state_flags[cur] ||
	    (vmref_state_flags[target] & flags) != vmref_state_flags[target])
		return -1;
	n = vmref_fsm_table[cur][target];
	while (n != VMREF_S_ERROR &&
	       (vmref_state_flags[n] & flags) != vmref_state_flags[n])
		n = vmref_fsm_table[n][target];
	if (n == VMREF_S_ERROR)
		return -1;
	*next = n;
	return 0;
}

#endif
