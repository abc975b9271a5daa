/* proc_info.h - what the host agent labels a process with: service name, executable, container */
#ifndef EMBER_AGENT_PROC_INFO_H
#define EMBER_AGENT_PROC_INFO_H

#include <stddef.h>
#include <sys/types.h>

struct proc_info {
    char service[128];     /* EMBER_SERVICE_NAME, else OTEL_SERVICE_NAME, else exe base name */
    char exe[256];         /* executable path ("" for kernel threads) */
    char comm[32];         /* /proc/PID/comm */
    char container_id[80]; /* from /proc/PID/cgroup, "" when not in a container */
};

/*
 * Reads /proc/root/PID (root "" means "/proc") into info. Returns 0, or
 * -ENOENT when the process is gone (info then holds what could be read).
 */
int proc_info_read(const char *root, pid_t pid, struct proc_info *info);

/*
 * Finds a container id in the text of a /proc/PID/cgroup file: the last
 * path component holding 64 hex digits (docker, containerd, cri-o and
 * podman name their cgroups that way: "docker-<id>.scope", "/docker/<id>",
 * "cri-containerd-<id>.scope", "libpod-<id>"). Writes it to out (size n)
 * and returns 1, or returns 0 and writes "".
 */
int proc_container_id(const char *cgroup, size_t len, char *out, size_t n);

/* 1 if process pid exists and is not a zombie, else 0. */
int proc_alive(pid_t pid);

/* Value of NAME in an environ block (NUL-separated "K=V"), or NULL. Borrowed from env. */
const char *proc_environ_get(const char *env, size_t len, const char *name);

/* Replaces characters other than [A-Za-z0-9._/-] by '_' (label values inside a name{...} query). */
void proc_sanitize(char *s);

#endif
