# cli.mk - the CLI's helper objects (everything of src/cli but main.c and cmd_*.c) are also linked
# into the unit tests, so tests/unit/test_cli_*.c can exercise them
CLI_LIB_OBJS := $(filter-out $(BUILD)/obj/src/cli/main.o $(BUILD)/obj/src/cli/cmd_%.o,$(CLI_OBJS))
UNIT_OBJS += $(CLI_LIB_OBJS)
