# agent.mk - the host agent: BPF objects and skeletons, libbpf/libdw/libelf link flags (included by the Makefile)
LDLIBS_ALL += $(shell pkg-config --libs libdw libelf 2>/dev/null || echo -ldw -lelf)

# BPF needs clang, bpftool, libbpf and the kernel's BTF (for vmlinux.h). Without them the
# agent is built without BPF (EMBER_NO_BPF) and samples with perf_event_open call chains.
BPF_CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
AGENT_BPF := $(shell command -v $(BPF_CLANG) >/dev/null 2>&1 && test -x $(BPFTOOL) && \
               test -r $(VMLINUX_BTF) && pkg-config --exists libbpf 2>/dev/null && echo 1)
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BPF_CFLAGS := -target bpf -g -O2 -D__TARGET_ARCH_$(BPF_ARCH) -I/usr/include/$(shell uname -m)-linux-gnu \
              -I$(BUILD)/gen -Isrc -Wall -Wno-unused-function

ifeq ($(AGENT_BPF),1)
LDLIBS_ALL += $(shell pkg-config --libs libbpf)
AGENT_SKELS := $(BUILD)/gen/host.skel.h

$(BUILD)/gen/vmlinux.h:
	$(call msg,BTF,$@)
	@mkdir -p $(dir $@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/%.bpf.o: src/agent/bpf/%.bpf.c src/agent/bpf/%.h $(BUILD)/gen/vmlinux.h
	$(call msg,BPF,$<)
	@mkdir -p $(dir $@)
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp && llvm-strip -g $@.tmp 2>/dev/null; mv $@.tmp $@

$(BUILD)/gen/%.skel.h: $(BUILD)/gen/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_skel > $@.tmp && mv $@.tmp $@

# the loader includes the generated skeleton
$(BUILD)/obj/src/agent/host_bpf.o: $(AGENT_SKELS)
else
CFLAGS_ALL += -DEMBER_NO_BPF
endif
