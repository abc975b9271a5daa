# Ember - GNU Make build. `make` builds into build/; see README.md for the rest.
#   make                      build/ember (+ libember.so, python extension when present)
#   make test                 deps, build, every test (unit, integration, e2e, fuzz smoke)
#   make run                  deps, build, start the server at http://127.0.0.1:4040
#   make bench                benchmarks beside their anchors
#   make SANITIZER=address,undefined   sanitizer build into build/san/
#   make DEVELOPER=1          -Werror (on in `make test` and CI)
#   make V=1                  show commands

SHELL := /bin/bash
CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
SANITIZER ?=
ifneq ($(SANITIZER),)
BUILD ?= build/san
else
BUILD ?= build
endif

PKGS := libmicrohttpd zlib libzstd jansson libpcre2-8 libxxhash libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow -Wvla \
        -Wwrite-strings -Wformat=2 -fno-common -Wno-format-nonliteral
OPT ?= -O2
CFLAGS_ALL := -std=gnu11 $(OPT) -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fPIC \
              -pthread -D_GNU_SOURCE $(WARN) -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
ifeq ($(DEVELOPER),1)
CFLAGS_ALL += -Werror
endif
ifneq ($(SANITIZER),)
CFLAGS_ALL += -fsanitize=$(SANITIZER) -fno-sanitize-recover=all
LDFLAGS_SAN := -fsanitize=$(SANITIZER)
endif
LDLIBS_ALL := $(PKG_LIBS) -lpthread -lm -ldl $(LDFLAGS_SAN) $(LDLIBS)

ifeq ($(V),1)
Q :=
msg := @true
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2);
endif

CORE_DIRS := src/base src/profile src/store src/query src/server src/agent
CORE_SRCS := $(foreach d,$(CORE_DIRS),$(wildcard $(d)/*.c))
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/ui_assets.o
CLI_SRCS := $(wildcard src/cli/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o)
UI_FILES := $(sort $(wildcard ui/*.html ui/*.js ui/*.css ui/*.svg ui/*/*.js))

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0)
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
CFLAGS_ALL += -DEMBER_VERSION='"$(VERSION)"' -DEMBER_GIT_REV='"$(GIT_REV)"'

.PHONY: all deps test run bench clean format format-check check-headers fuzz unit
.DEFAULT_GOAL := all
# mk/*.mk add parts (libember.so, the Python extension, the host agent) to EXTRA_TARGETS;
# they are read before the `all` rule so its prerequisites see every part.
-include mk/*.mk
all: $(BUILD)/ember $(BUILD)/unit-tests $(EXTRA_TARGETS)

$(BUILD)/obj/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/gen/ui_assets.c: $(UI_FILES) tools/embed.py
	$(call msg,EMBED,ui/)
	@mkdir -p $(dir $@)
	$(Q)python3 tools/embed.py $@ $(UI_FILES)

$(BUILD)/obj/gen/ui_assets.o: $(BUILD)/gen/ui_assets.c
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(filter-out -Wmissing-prototypes,$(CFLAGS_ALL)) -c $< -o $@

$(BUILD)/libcore.a: $(CORE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/ember: $(CLI_OBJS) $(BUILD)/libcore.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_ALL) -rdynamic -o $@ $(CLI_OBJS) $(BUILD)/libcore.a $(LDLIBS_ALL)

$(BUILD)/unit-tests: $(UNIT_OBJS) $(BUILD)/libcore.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $(UNIT_OBJS) $(BUILD)/libcore.a $(LDLIBS_ALL)

deps:
	@bash tools/deps.sh

unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

test: deps
	@bash tests/run.sh

run: deps
	@$(MAKE) --no-print-directory DEVELOPER=1 all
	@echo "Ember UI: http://127.0.0.1:4040"
	$(BUILD)/ember server --http-addr 127.0.0.1:4040 --data-dir ./ember-data

bench: deps
	@$(MAKE) --no-print-directory all
	@bash bench/run.sh

clean:
	rm -rf build

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' | grep -v '^src/agent/bpf/vmlinux.h')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' | grep -v '^src/agent/bpf/vmlinux.h')

check-headers:
	@set -e; for h in $$(git ls-files 'src/*.h' | grep -v bpf/); do \
	  echo "#include \"$${h#src/}\"" | $(CC) -std=gnu11 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) -fsyntax-only -x c - || { echo "header $$h does not compile alone"; exit 1; }; \
	done; echo "headers ok"

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
