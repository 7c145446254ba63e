// SPDX-License-Identifier: GPL-2.0-only
/*
 * sockcut: the host side of the pair test bed breaks the connection of a UNIX socket it is
 * not an end of. The two guests' virtio-serial ports are joined by one socket (one QEMU
 * listens on PATH, the other connects); this finds the accepted connection on PATH, takes a
 * copy of its descriptor from the QEMU holding it (pidfd_getfd, Linux >= 5.6, needs ptrace
 * rights over that process: root) and shuts it down both ways. Both QEMUs see the peer gone
 * (each guest's port: host side disconnected); the connecting QEMU (reconnect=1) comes back
 * after about a second.
 *
 *   sockcut PATH     prints "cut PATH: pid P fd F", exit 0; 1 when no connection is found
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* The inode of the connected (state 03) socket bound to path: the listener's accepted one. */
static unsigned long connected_inode(const char *path)
{
	FILE *f = fopen("/proc/net/unix", "r");
	char line[4096];
	unsigned long found = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long ino;
		unsigned st;
		char p[4000] = "";
		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %*s %*s %x %lu %3999s", &st, &ino, p) >= 2 && st == 3 &&
		    !strcmp(p, path))
			found = ino;
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sockcut PATH\n");
		return 2;
	}
	unsigned long ino = connected_inode(argv[1]);
	if (!ino) {
		fprintf(stderr, "sockcut: no connection on %s\n", argv[1]);
		return 1;
	}
	char want[64];
	snprintf(want, sizeof want, "socket:[%lu]", ino);
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	while (proc && (pe = readdir(proc))) {
		int pid = atoi(pe->d_name);
		if (pid <= 0)
			continue;
		char dir[64];
		snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
		DIR *fds = opendir(dir);
		struct dirent *fe;
		while (fds && (fe = readdir(fds))) {
			char lp[400], target[128];
			snprintf(lp, sizeof lp, "%s/%s", dir, fe->d_name);
			ssize_t n = readlink(lp, target, sizeof target - 1);
			if (n < 0)
				continue;
			target[n] = 0;
			if (strcmp(target, want))
				continue;
			int fd = atoi(fe->d_name);
			int pidfd = syscall(SYS_pidfd_open, pid, 0);
			int mine = pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, fd, 0);
			if (mine < 0 || shutdown(mine, SHUT_RDWR) < 0) {
				fprintf(stderr, "sockcut: pid %d fd %d: %s\n", pid, fd, strerror(errno));
				return 3;
			}
			printf("cut %s: pid %d fd %d\n", argv[1], pid, fd);
			return 0;
		}
		if (fds)
			closedir(fds);
	}
	fprintf(stderr, "sockcut: no process holds %s (%s)\n", want, argv[1]);
	return 1;
}
