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
LOCALEDIR  ?= $(PREFIX)/share/locale
CFLAGS     += -DWARDGW_LOCALEDIR='"$(LOCALEDIR)"'
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR ?= /etc
STATEDIR   ?= /var/lib/wardgw

# Translations (GNU gettext): po/LANG.po -> $(B)/locale/LANG/LC_MESSAGES/wardgw.mo,
# which the binary finds beside itself (build tree) or under $(LOCALEDIR).
PO_FILES  := $(wildcard po/*.po)
MO_FILES  := $(PO_FILES:po/%.po=$(B)/locale/%/LC_MESSAGES/wardgw.mo)
XGETTEXT  := xgettext --language=C --from-code=UTF-8 --keyword=_ --keyword=N_ --keyword=ngettext:1,2 \
             --add-comments=TRANSLATORS --package-name=wardgw --msgid-bugs-address=none --no-location

.PHONY: all deps run test unit integration check-asan fuzz bench province clean install uninstall pot po-check mo deb
.SECONDARY:
all: $(B)/wardgw $(if $(SIM_SRCS),$(B)/wardgw-sim) $(MO_FILES)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/locale/%/LC_MESSAGES/wardgw.mo: po/%.po
	@mkdir -p $(dir $@)
	msgfmt --check -o $@ $<

mo: $(MO_FILES)

# po/wardgw.pot from the sources, merged into each catalogue (then translate).
pot:
	$(XGETTEXT) -o po/wardgw.pot $(sort $(wildcard gateway/*.c drivers/*.c))
	@for p in $(PO_FILES); do msgmerge -q --update --backup=none --no-location $$p po/wardgw.pot; done

# Every catalogue complete for the current sources: no untranslated or fuzzy
# message, and none missing from the template.
po-check:
	@$(XGETTEXT) -o $(B)/wardgw.pot $(sort $(wildcard gateway/*.c drivers/*.c))
	@set -e; for p in $(PO_FILES); do \
	  msgmerge -q --no-location -o $(B)/merged.po $$p $(B)/wardgw.pot; \
	  s=$$(LC_ALL=C msgfmt --check --statistics -o /dev/null $(B)/merged.po 2>&1); echo "  $$p: $$s"; \
	  case "$$s" in *untranslated*|*fuzzy*) echo "$$p is incomplete: make pot, then translate" >&2; exit 1;; esac; \
	done

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

# Inputs that once failed a fuzz target (tests/fuzz/regressions/<target>/)
# are replayed with the ordinary compiler by tests/fuzz/replay.c, as unit
# tests: under check-asan a UBSan or ASan report fails them.
REGR_TARGETS := $(notdir $(wildcard tests/fuzz/regressions/fuzz_*))
REGR_BINS := $(REGR_TARGETS:%=$(B)/tests/replay-%)

$(B)/tests/replay-%: $(B)/obj/tests/fuzz/%.o $(B)/obj/tests/fuzz/replay.o $(B)/libwardgw.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

unit: $(UNIT_BINS) $(REGR_BINS)
	@./tests/run-unit.sh $(UNIT_BINS)
	@set -e; for t in $(REGR_TARGETS); do \
	  LSAN_OPTIONS=suppressions=$$PWD/tests/fuzz/lsan.supp UBSAN_OPTIONS=halt_on_error=1 \
	    $(B)/tests/replay-$$t tests/fuzz/regressions/$$t/*; done

# JOBS tests at a time (default: twice the number of CPUs); see the README.
integration: all
	@B=$(B) JOBS=$(JOBS) ./tests/run-integration.sh

test: deps
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory integration

# The same tests with AddressSanitizer and UndefinedBehaviorSanitizer, in a
# separate build tree so the normal build is not disturbed.
check-asan: deps
	@$(MAKE) --no-print-directory B=build-asan \
	  OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" all unit integration

# A province on one machine (docs/province.md): the 3-node nats-server
# cluster, N wardgw on simulated wards and a durable provincial reader;
# ^C stops everything and prints what arrived per gateway.
# PROVINCE_ARGS="--gateways 10 --devices 10 --poll-ms 5000" make province
province: all
	@B=$(B) ./scripts/province.sh run $(PROVINCE_ARGS)

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

# BENCH_ONLY=poll|ingest|history|drain|rtu|province runs one part (default: poll, ingest, history and drain;
# rtu and province only when asked).
bench: deps
	@WARDGW_DEPS_EXTRA=collectd-core ./scripts/install-deps.sh
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@B=$(B) ./scripts/bench.sh

# The binary, wardgw(8), the unit and the user; the example config and the
# profiles into $(SYSCONFDIR)/wardgw without overwriting what is there (a
# field office's edits survive an upgrade); the data directory.
install: $(B)/wardgw $(MO_FILES)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/wardgw/profiles
	install -d -m 0750 $(DESTDIR)$(STATEDIR)
	install -m 0755 $(B)/wardgw $(DESTDIR)$(BINDIR)/wardgw
	install -m 0644 docs/wardgw.8 $(DESTDIR)$(MANDIR)/man8/wardgw.8
	@for m in $(MO_FILES); do l=$$(basename $$(dirname $$(dirname $$m))); \
	  install -D -m 0644 $$m $(DESTDIR)$(LOCALEDIR)/$$l/LC_MESSAGES/wardgw.mo; done
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

# The Debian package, with the standard tooling (debian/, dpkg-buildpackage),
# built from a copy of this tree in $(B)/deb; then lintian (errors fail).
VERSION := $(shell sed -n 's/^\#define WARDGW_VERSION "\(.*\)"/\1/p' gateway/version.h)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
deb:
	@WARDGW_DEPS_EXTRA="debhelper lintian fakeroot" ./scripts/install-deps.sh
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
	  { echo "debian/changelog is at $$v, gateway/version.h at $(VERSION): add a changelog entry" >&2; exit 1; }
	rm -rf $(B)/deb && mkdir -p $(B)/deb/wardgw-$(VERSION)
	tar --exclude='./build*' --exclude=./run --exclude=./.git -cf - . | tar -x -C $(B)/deb/wardgw-$(VERSION)
	cd $(B)/deb/wardgw-$(VERSION) && DEB_BUILD_OPTIONS="parallel=$$(nproc) $${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b > ../build.log 2>&1 || { tail -30 ../build.log; exit 1; }
	cp $(B)/deb/wardgw_$(VERSION)_$(DEB_ARCH).deb $(B)/
	lintian --fail-on error --suppress-tags initial-upload-closes-no-bugs $(B)/wardgw_$(VERSION)_$(DEB_ARCH).deb
	@echo "  DEB $(B)/wardgw_$(VERSION)_$(DEB_ARCH).deb"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/wardgw $(DESTDIR)$(MANDIR)/man8/wardgw.8 \
	  $(DESTDIR)$(UNITDIR)/wardgw.service $(DESTDIR)$(SYSUSERSDIR)/wardgw.conf \
	  $(DESTDIR)$(SYSCONFDIR)/wardgw/gateway.conf.example
	@echo "  left $(SYSCONFDIR)/wardgw and $(STATEDIR) in place"

clean:
	rm -rf build build-asan

-include $(CORE_OBJS:.o=.d) $(SIM_OBJS:.o=.d) $(B)/obj/gateway/main.d $(UNIT_SRCS:tests/unit/%.c=$(B)/obj/tests/unit/%.d) \
         $(BENCH_SRCS:bench/%.c=$(B)/obj/bench/%.d)
