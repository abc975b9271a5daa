# preload.mk - build/libember.so (LD_PRELOAD profiler, src/preload) from its own -fPIC,
# -fvisibility=hidden objects: only the interposed functions and ember_preload_* are exported
EXTRA_TARGETS += $(BUILD)/libember.so
PRELOAD_SRCS := $(wildcard src/preload/*.c) src/agent/unwind.c src/agent/symbolize.c \
                src/profile/pbwire.c src/base/buf.c src/base/strtab.c src/base/hmap.c \
                src/base/xalloc.c src/base/err.c
PRELOAD_OBJS := $(PRELOAD_SRCS:%.c=$(BUILD)/obj/preload/%.o)
# libember.so is never built with sanitizers (their runtime must come first in LD_PRELOAD)
PRELOAD_CFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(CFLAGS_ALL)) \
                  -fvisibility=hidden -ftls-model=initial-exec -fno-omit-frame-pointer

$(BUILD)/obj/preload/%.o: %.c
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(PRELOAD_CFLAGS) -c $< -o $@

$(BUILD)/libember.so: $(PRELOAD_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) -shared -o $@ $(PRELOAD_OBJS) -Wl,-z,nodelete -Wl,--no-undefined \
	    $$(pkg-config --libs libcurl libdw libelf 2>/dev/null || echo -lcurl -ldw -lelf) -lunwind -lm -ldl -lpthread
