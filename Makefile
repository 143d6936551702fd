# wardgw — ward gateway for street lighting and public Wi-Fi.
# `make` builds build/wardgw and build/wardgw-sim; `make run` and `make test`
# first install what is missing (scripts/install-deps.sh).

CC      ?= gcc
PKGS    := libevent libevent_pthreads libconfig jansson sqlite3 libmodbus openssl
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS  := $(OPT) -std=c11 -D_GNU_SOURCE $(WARN) \
           -Igateway -Idrivers $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpaho-mqtt3as -lpthread -lm
B       ?= build

CORE_SRCS := $(wildcard gateway/*.c) $(wildcard drivers/*.c)
CORE_SRCS := $(filter-out gateway/main.c,$(CORE_SRCS))
CORE_OBJS := $(CORE_SRCS:%.c=$(B)/obj/%.o)
SIM_SRCS  := $(wildcard tests/sim/*.c)
SIM_OBJS  := $(SIM_SRCS:%.c=$(B)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(B)/bench-%)

.PHONY: all deps run test unit integration check-asan fuzz bench clean
.SECONDARY:
all: $(B)/wardgw $(if $(SIM_SRCS),$(B)/wardgw-sim)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libwardgw.a: $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/wardgw: $(B)/obj/gateway/main.o $(B)/libwardgw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(B)/wardgw-sim: $(SIM_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Benchmark programs (bench/*.c), linked against the core library.
$(B)/bench-%: $(B)/obj/bench/%.o $(B)/libwardgw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/libwardgw.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS) -lcmocka

deps:
	@./scripts/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@./scripts/run.sh

unit: $(UNIT_BINS)
	@./tests/run-unit.sh $(UNIT_BINS)

integration: all
	@B=$(B) ./tests/run-integration.sh

test: deps
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory integration

# The same tests with AddressSanitizer and UndefinedBehaviorSanitizer, in a
# separate build tree so the normal build is not disturbed.
check-asan: deps
	@$(MAKE) --no-print-directory B=build-asan \
	  OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" all unit integration

# libFuzzer targets, one per parser, built with clang.
fuzz:
	@WARDGW_DEPS_EXTRA=clang ./scripts/install-deps.sh
	@mkdir -p $(B)/fuzz
	@set -e; for f in $(FUZZ_SRCS); do \
	  n=$$(basename $$f .c); echo "  FUZZ $$n"; \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
	    -Igateway -Idrivers $$(pkg-config --cflags $(PKGS)) \
	    -o $(B)/fuzz/$$n $$f $(CORE_SRCS) $(LDLIBS); \
	done

# BENCH_ONLY=poll|ingest|drain|rtu runs one part (default: poll, ingest and drain; rtu only when asked).
bench: deps
	@WARDGW_DEPS_EXTRA=collectd-core ./scripts/install-deps.sh
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@B=$(B) ./scripts/bench.sh

clean:
	rm -rf build build-asan

-include $(CORE_OBJS:.o=.d) $(SIM_OBJS:.o=.d) $(B)/obj/gateway/main.d $(UNIT_SRCS:tests/unit/%.c=$(B)/obj/tests/unit/%.d) \
         $(BENCH_SRCS:bench/%.c=$(B)/obj/bench/%.d)
