# agent.mk - link flags of src/agent (symbolization with libdw/libelf), included by the Makefile
LDLIBS_ALL += $(shell pkg-config --libs libdw libelf 2>/dev/null || echo -ldw -lelf)
