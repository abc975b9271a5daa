# python.mk - the CPython extension: $(BUILD)/python/ember/ (package + _ember<EXT_SUFFIX>), one .so
# per Python minor version found (Debian's /usr/bin/python3 and the python3 on PATH).
# Not built in sanitizer builds (an ASan .so cannot load into a plain interpreter).
ifeq ($(SANITIZER),)
PY_DIR := $(BUILD)/python
PY_C_SRCS := $(wildcard src/python/*.c)
PY_PKG_SRCS := $(wildcard src/python/ember/*.py)
PY_PKG_OUT := $(PY_PKG_SRCS:src/python/ember/%=$(PY_DIR)/ember/%)
# "EXT_SUFFIX|include dir|interpreter", first interpreter wins for a suffix
PY_INFO := $(shell for p in /usr/bin/python3 $$(command -v python3 2>/dev/null); do \
  [ -x "$$p" ] && "$$p" -c "import sysconfig as s,sys;i=s.get_paths()['include'];print(s.get_config_var('EXT_SUFFIX')+'|'+i+'|'+sys.executable)" 2>/dev/null; \
  done | awk -F'|' '!seen[$$1]++')
PY_CFLAGS := -std=gnu11 $(OPT) -g -fPIC -pthread -D_GNU_SOURCE -fvisibility=hidden $(WARN) \
             -Isrc/python $(shell pkg-config --cflags libcurl 2>/dev/null) $(CFLAGS)
ifeq ($(DEVELOPER),1)
PY_CFLAGS += -Werror
endif
PY_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl) -lm -lpthread

# py_ext SUFFIX INCLUDE: objects and the .so for one interpreter ABI
define py_ext
PY_EXT_$(1) := $(PY_DIR)/ember/_ember$(1)
PY_OBJS_$(1) := $(PY_C_SRCS:src/python/%.c=$(BUILD)/obj/python/$(1)/%.o)
$(BUILD)/obj/python/$(1)/%.o: src/python/%.c src/python/pyagent.h
	$$(call msg,CC,$$<)
	@mkdir -p $$(dir $$@)
	$(Q)$(CC) $(PY_CFLAGS) -I$(2) -MMD -MP -c $$< -o $$@
$(PY_DIR)/ember/_ember$(1): $$(PY_OBJS_$(1))
	$$(call msg,LD,$$@)
	@mkdir -p $$(dir $$@)
	$(Q)$(CC) -shared -pthread -o $$@ $$^ $(PY_LIBS)
PY_TARGETS += $(PY_DIR)/ember/_ember$(1)
endef
$(foreach e,$(PY_INFO),$(eval $(call py_ext,$(word 1,$(subst |, ,$(e))),$(word 2,$(subst |, ,$(e))))))

$(PY_DIR)/ember/%.py: src/python/ember/%.py
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

PY_TARGETS += $(PY_PKG_OUT)
EXTRA_TARGETS += $(PY_TARGETS)
all: $(PY_TARGETS)
.PHONY: python
python: $(PY_TARGETS)
endif
