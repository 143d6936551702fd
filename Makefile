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

# Installation (make install [PREFIX=/usr/local] [DESTDIR=...]).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR ?= /etc
STATEDIR   ?= /var/lib/wardgw

.PHONY: all deps run test unit integration check-asan fuzz bench clean install uninstall
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

# BENCH_ONLY=poll|ingest|history|drain|rtu runs one part (default: poll, ingest, history and drain; rtu only when asked).
bench: deps
	@WARDGW_DEPS_EXTRA=collectd-core ./scripts/install-deps.sh
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@B=$(B) ./scripts/bench.sh

# The binary, wardgw(8), the unit and the user; the example config and the
# profiles into $(SYSCONFDIR)/wardgw without overwriting what is there (a
# field office's edits survive an upgrade); the data directory.
install: $(B)/wardgw
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/wardgw/profiles
	install -d -m 0750 $(DESTDIR)$(STATEDIR)
	install -m 0755 $(B)/wardgw $(DESTDIR)$(BINDIR)/wardgw
	install -m 0644 docs/wardgw.8 $(DESTDIR)$(MANDIR)/man8/wardgw.8
	sed -e 's|/usr/local/bin/wardgw|$(BINDIR)/wardgw|g' -e 's|/etc/wardgw/|$(SYSCONFDIR)/wardgw/|g' \
	  -e 's|/var/lib/wardgw|$(STATEDIR)|g' config/systemd/wardgw.service > $(DESTDIR)$(UNITDIR)/wardgw.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/wardgw.service
	install -m 0644 config/systemd/wardgw.sysusers $(DESTDIR)$(SYSUSERSDIR)/wardgw.conf
	install -m 0644 config/example-field.conf $(DESTDIR)$(SYSCONFDIR)/wardgw/gateway.conf.example
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/wardgw/gateway.conf ]; then \
	  echo "  keeping $(DESTDIR)$(SYSCONFDIR)/wardgw/gateway.conf"; \
	else install -m 0644 config/example-field.conf $(DESTDIR)$(SYSCONFDIR)/wardgw/gateway.conf; fi
	@for p in config/profiles/*.conf; do \
	  d=$(DESTDIR)$(SYSCONFDIR)/wardgw/profiles/$$(basename $$p); \
	  if [ -e $$d ]; then echo "  keeping $$d"; else install -m 0644 $$p $$d; fi; \
	done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/wardgw $(DESTDIR)$(MANDIR)/man8/wardgw.8 \
	  $(DESTDIR)$(UNITDIR)/wardgw.service $(DESTDIR)$(SYSUSERSDIR)/wardgw.conf \
	  $(DESTDIR)$(SYSCONFDIR)/wardgw/gateway.conf.example
	@echo "  left $(SYSCONFDIR)/wardgw and $(STATEDIR) in place"

clean:
	rm -rf build build-asan

-include $(CORE_OBJS:.o=.d) $(SIM_OBJS:.o=.d) $(B)/obj/gateway/main.d $(UNIT_SRCS:tests/unit/%.c=$(B)/obj/tests/unit/%.d) \
         $(BENCH_SRCS:bench/%.c=$(B)/obj/bench/%.d)
